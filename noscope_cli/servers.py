"""``noscope ui`` and ``noscope mlflow-ui``: the Dagster and MLflow web UIs, on 127.0.0.1 unless told otherwise."""

from __future__ import annotations


def register(subparsers) -> None:
    u = subparsers.add_parser("ui", help="start the Dagster UI on 127.0.0.1")
    u.add_argument("--host", default="127.0.0.1")
    u.add_argument("--port", type=int, default=3000)
    u.set_defaults(func=run_ui)

    m = subparsers.add_parser("mlflow-ui", help="start the MLflow UI on 127.0.0.1")
    m.add_argument("--host", default="127.0.0.1")
    m.add_argument("--port", type=int, default=5000)
    m.set_defaults(func=run_mlflow_ui)


def run_ui(args) -> int:
    from pipelines.servers import serve_dagster

    return serve_dagster(host=args.host, port=args.port)


def run_mlflow_ui(args) -> int:
    from pipelines.servers import serve_mlflow

    return serve_mlflow(host=args.host, port=args.port)
