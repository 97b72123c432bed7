"""The MLflow client as this project uses it: one client per store (its schema created under a file lock),
the global tracking URI set only around the calls that need it, and value limits MLflow imposes."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from noscope_core.common.atomic import json_default
from noscope_core.common.locks import file_lock

_TAG_MAX = 5000  # MLflow caps tag values at 8000 characters; long texts go to artifacts


_CLIENTS: dict[str, Any] = {}


def client_for(uri: str):
    """One client per URI per process: creating a SQLite store checks its schema, which takes a while.

    The first use of a new SQLite store creates its schema; two processes doing that at once (two cameras
    materializing side by side) collide in MLflow's migrations ("Online migration expected to match one row"),
    so that first use runs under a file lock beside the database.
    """
    if uri not in _CLIENTS:
        from mlflow import MlflowClient

        with _store_init_lock(uri):
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            client.search_experiments(max_results=1)  # creates or migrates the schema while the lock is held
            client.search_registered_models(max_results=1)
        _CLIENTS[uri] = client
    return _CLIENTS[uri]


@contextlib.contextmanager
def _store_init_lock(uri: str) -> Iterator[None]:
    db = sqlite_path(uri)
    if db is None:  # not a SQLite file: no folder to put a lock in
        yield
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(db.parent / f".{db.name}.init.lock"):
        yield


@contextlib.contextmanager
def use_tracking_uri(uri: str) -> Iterator[None]:
    """``mlflow.models.Model.log`` resolves the global tracking URI: set it for the call only, then restore."""
    import mlflow

    old_env = os.environ.get("MLFLOW_TRACKING_URI")
    old = mlflow.get_tracking_uri() if old_env or _tracking_uri_set() else None
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(old)  # type: ignore[arg-type]
        if old_env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old_env


@contextlib.contextmanager
def quiet_model_logging() -> Iterator[None]:
    """No progress bars and no "cannot infer a signature" warning (the model takes several input forms)."""
    import logging

    log = logging.getLogger("mlflow.pyfunc")
    level, bar = log.level, os.environ.get("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
    log.setLevel(logging.ERROR)
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    try:
        yield
    finally:
        log.setLevel(level)
        if bar is None:
            os.environ.pop("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", None)
        else:
            os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = bar


def _tracking_uri_set() -> bool:
    from mlflow.tracking._tracking_service import utils

    return getattr(utils, "_tracking_uri", None) is not None


def sqlite_path(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    rest = uri[len("sqlite:///") :].split("?", 1)[0]
    return Path(rest) if rest and rest != ":memory:" else None


def is_finite(v: Any) -> bool:
    import math

    try:
        return v is not None and not isinstance(v, bool | str) and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def param_value(v: Any) -> str:
    text = v if isinstance(v, str) else json.dumps(v, default=json_fallback)
    return text[:6000]  # MLflow's param value limit


def tag_values(tags: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v)[:_TAG_MAX] for k, v in tags.items()}


def quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def now_ms() -> int:
    return int(time.time() * 1000)


def log_batch(client, run_id: str, metrics=(), params=(), tags=()) -> None:
    metrics, params, tags = list(metrics), list(params), list(tags)
    for i in range(0, max(len(metrics), 1), 1000):  # MLflow takes at most 1000 metrics per batch
        chunk = metrics[i : i + 1000]
        if chunk or (i == 0 and (params or tags)):
            client.log_batch(run_id, metrics=chunk, params=params if i == 0 else (), tags=tags if i == 0 else ())


def finish_run(client, run_id: str) -> None:
    if client.get_run(run_id).info.status == "RUNNING":
        client.set_terminated(run_id, "FINISHED")


def json_fallback(obj: Any) -> Any:
    # tags and logged configs never fail on an odd value: fall back to its text
    try:
        return json_default(obj)
    except TypeError:
        return str(obj)
