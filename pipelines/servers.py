"""``noscope ui`` and ``noscope mlflow-ui``: the Dagster and MLflow web UIs, bound to 127.0.0.1 by default."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pipelines.resources import REPO_ROOT


def dagster_home() -> Path:
    """DAGSTER_HOME (the Makefile exports ``<repo>/dagster_home``), made absolute and set for child processes."""
    home = Path(os.environ.get("DAGSTER_HOME") or REPO_ROOT / "dagster_home").expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def serve_dagster(host: str = "127.0.0.1", port: int = 3000) -> int:
    """``dagster dev``: the webserver plus the daemon, which runs the schedule, the sensors and the run queue."""
    home = dagster_home()
    cmd = [sys.executable, "-m", "dagster", "dev", "-h", host, "-p", str(port), "-w", str(REPO_ROOT / "workspace.yaml")]
    print(f"Dagster UI on http://{host}:{port}  (DAGSTER_HOME={home}; Ctrl-C stops it)", flush=True)
    return _become(cmd, dict(os.environ))


def serve_mlflow(host: str = "127.0.0.1", port: int = 5000) -> int:
    """``mlflow server`` over the pipeline's tracking store, one worker, no job execution."""
    from pipelines.tracking import MlflowTracker

    tracker = MlflowTracker()
    uri = tracker.uri()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    cmd = [
        sys.executable, "-m", "mlflow", "server",
        "--host", host, "--port", str(port), "--workers", "1",
        "--backend-store-uri", uri,
    ]  # fmt: skip
    if artifacts := tracker.artifact_location():  # artifacts of experiments made in the UI go beside the store too
        cmd += ["--artifacts-destination", artifacts]
    print(f"MLflow UI on http://{host}:{port}  (tracking store {uri}; Ctrl-C stops it)", flush=True)
    print(f"Training runs (classic view): {_experiment_link(tracker, host, port)}", flush=True)
    return _become(cmd, env)


def _experiment_link(tracker, host: str, port: int) -> str:
    """The ``noscope`` experiment in MLflow's classic view: MLflow 3.17 opens a new browser on its GenAI view."""
    from pipelines.mlflow_client import sqlite_path
    from pipelines.mlflow_text import experiment_url

    db = sqlite_path(tracker.uri(create_dirs=False))
    if db is not None and not db.is_file():  # nothing trained yet: no experiment to link, none made here
        return "none yet (make demo trains the cameras); press 'Model training' at the top left of the UI"
    try:
        return experiment_url(f"http://{host}:{port}", tracker.experiment_id())
    except Exception as err:  # noqa: BLE001 - the server starts anyway; the link is a convenience
        return f"(unavailable: {err}); press 'Model training' at the top left of the UI"


def _become(cmd: list[str], env: dict[str, str]) -> int:
    """Replace this process with the server (in the repo root), so Ctrl-C and SIGTERM reach the server itself
    and no server is left orphaned behind a killed wrapper. Does not return."""
    os.chdir(REPO_ROOT)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(cmd[0], cmd, env)
    return 127  # unreachable: execve raises OSError instead of returning
