"""``noscope demo``: the main Dagster job end to end."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="run the main Dagster job end to end on the default camera")
    p.add_argument("--camera", default=None, help="camera id from the registry (default: every camera)")
    p.set_defaults(func=run)


def run(args) -> int:
    from pipelines.demo import run_demo

    return run_demo(camera=args.camera)
