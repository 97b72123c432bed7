"""The ``noscope`` command: fetch | query | apply | make-camera | labels | demo | compare | days | ui | mlflow-ui.

Expected failures (bad video, unknown class, ...) print one line and exit non-zero, without a traceback.
Each subcommand lives in its own module exposing ``register(subparsers) -> None``, which adds its parser and
``set_defaults(func=run)``; adding a subcommand is adding its module to ``SUBCOMMANDS``.
"""

from __future__ import annotations

import argparse
import os
import sys

# Before torch / cv2 load: OpenMP threads that spin-wait starve cv2.dnn in the same process.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from noscope_cli import apply, compare, days, demo, fetch, labels, make_camera, query, servers
from noscope_core.common.errors import NoScopeError

#: one module per subcommand (servers registers two: ui and mlflow-ui), in the order ``--help`` lists them
SUBCOMMANDS = (fetch, query, apply, make_camera, labels, demo, compare, days, servers)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="noscope", description="Cheap cascades for neural-network video queries (NoScope)."
    )
    subparsers = parser.add_subparsers(dest="command")
    for module in SUBCOMMANDS:
        module.register(subparsers)
    return parser


if __name__ == "__main__":
    sys.exit(main())
