"""A training run left RUNNING by a killed step attempt is closed KILLED by the next attempt, and only such runs."""

from __future__ import annotations

import os
import shutil
import sys
from types import SimpleNamespace

import pytest

from pipelines.abandoned_runs import ABANDONED_TAG, abandoned_runs, close_abandoned
from pipelines.tracking import MlflowTracker

# materializes runs on a Dagster instance and kills their attempts
pytestmark = pytest.mark.slow

QUERY = {"object_class": "person", "roi": [0.0, 0.5, 0.5, 1.0], "min_score": 0.5, "smooth_frames": 1}
STATUS = {"r-failed": "FAILURE", "r-done": "SUCCESS", "r-live": "STARTED"}


def test_runs_of_this_dagster_run_or_of_an_ended_one_are_abandoned_and_nothing_else():
    open_runs = [
        ("m1", "r-now"),  # an earlier attempt of this step in this run (re-queued after its worker died)
        ("m2", "r-failed"),  # the failed parent of this retry
        ("m3", "r-done"),
        ("m4", "r-live"),  # another run still in progress: cannot be shown dead
        ("m5", "r-elsewhere"),  # unknown to this instance
        ("m6", None),  # not opened by the pipeline
    ]
    assert abandoned_runs(open_runs, "r-now", STATUS.get) == ["m1", "m2", "m3"]


@pytest.fixture
def tracker(tmp_path, mlflow_template_db, monkeypatch) -> MlflowTracker:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    shutil.copy(mlflow_template_db, tmp_path / "mlflow.db")
    yield MlflowTracker(root=str(tmp_path))
    if "mlflow" in sys.modules:
        sys.modules["mlflow"].set_tracking_uri(None)
    os.environ.pop("MLFLOW_TRACKING_URI", None)


def test_close_abandoned_kills_the_dead_attempts_run_and_its_open_children_only(tracker):
    instance = SimpleNamespace(get_run_by_id=lambda rid: SimpleNamespace(status=SimpleNamespace(value=STATUS[rid])))
    dead = tracker.start_training("cam", QUERY, {"dagster_run_id": "r-failed"})
    child = tracker.create_child(dead, "variant", "c1")
    live = tracker.start_training("cam", QUERY, {"dagster_run_id": "r-live"})
    other_camera = tracker.start_training("cam2", QUERY, {"dagster_run_id": "r-failed"})

    assert close_abandoned(tracker, "cam", "r-now", instance) == [dead]
    client = tracker.client()
    run = client.get_run(dead)
    assert run.info.status == "KILLED" and run.data.tags[ABANDONED_TAG] == "dagster run r-now"
    assert client.get_run(child).info.status == "KILLED"
    assert client.get_run(live).info.status == "RUNNING"
    assert client.get_run(other_camera).info.status == "RUNNING"
    assert close_abandoned(tracker, "cam", "r-now", instance) == []
