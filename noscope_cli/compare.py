"""``noscope compare``: the registered cascades across cameras and versions (MLflow)."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("compare", help="table of the registered cascades across cameras and versions (MLflow)")
    p.add_argument("--tracking-uri", default=None)
    p.set_defaults(func=run)


def run(args) -> int:
    from pipelines.compare import print_comparison

    return print_comparison(tracking_uri=args.tracking_uri)
