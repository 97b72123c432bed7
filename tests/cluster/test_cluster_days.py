"""A synthetic camera's two simulated days on the real stack (``pipelines.cluster.days``): trained through the run
queue, each day's ``answer_day`` run launched by the cluster daemon's own ``footage_days_sensor`` once its file is
dropped, every step on a Celery worker, each day's ``day.json`` readable with its speed-up, the nights run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

# the stack, a training and two days with their nights: ~5 min here, more than the default 10-min cap allows
# when the first cluster test also starts the stack on a busy machine
pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(1200)]

CAM = "days-it"
DAYS = ("2026-01-01", "2026-01-02")
SCENE = {"width": 160, "height": 120, "fps": 10.0, "mean_gap_s": 4.0, "mean_stay_s": 3.0}


def _video(path: Path, frames: int, seed: int) -> Path:
    from noscope_core.footage.synthetic.scene import SyntheticScene
    from noscope_core.footage.synthetic.write import write_synthetic_video

    return write_synthetic_video(path, frames, SyntheticScene(**SCENE, seed=seed))


@pytest.fixture(scope="module")
def days(stack, tmp_path_factory):
    from pipelines.cluster.days import DayFile, DaysCamera, report, run_days

    root = tmp_path_factory.mktemp("cluster-days")
    entry = {
        "id": CAM,
        "video": str(_video(root / "videos" / "train.avi", 400, seed=0)),
        "object": "person",
        "reference": "synthetic",
        "max_fnr": 0.05,
        "max_fpr": 0.05,
        "split": [0.5, 0.25, 0.25],
        "max_epochs": 2,
        "models": ["c1-f16-d32"],
        "confidence": 0.9,
        "footage_dir": str(root / "footage"),
    }
    files = tuple(DayFile(d, _video(root / "videos" / f"day{i}.avi", 120, seed=7 + i)) for i, d in enumerate(DAYS))
    targets = argparse.Namespace(max_fnr=0.05, max_fpr=0.05)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in stack.client_env().items():
            mp.setenv(k, v)
        result = run_days(stack, DaysCamera(entry, files), targets, root / "out", timeout_s=600)
        report(result, root / "out")
    return {"result": result, "out": root / "out"}


def test_each_day_was_answered_by_the_daemons_sensor_and_the_nights_ran(days, cluster_env):
    import dagster as dg

    result = days["result"]
    assert result.ok, [(r.job, r.partition, r.status) for r in result.runs]
    by_job: dict[str, list] = {}
    for r in result.runs:
        by_job.setdefault(r.job, []).append(r)
    assert [r.partition for r in by_job["answer_day"]] == [f"{CAM}|{d}" for d in DAYS]
    assert [r.partition for r in by_job["nightly_camera"]] == [f"{CAM}|{d}" for d in DAYS]
    with dg.DagsterInstance.get() as instance:
        for r in by_job["answer_day"]:
            run = instance.get_run_by_id(r.run_id)
            assert run.tags.get("dagster/sensor_name") == "footage_days_sensor", run.tags
        nights = {str(k) for k in instance.get_materialized_partitions(dg.AssetKey("night_labels"))}
    assert {f"{CAM}|{d}" for d in DAYS} <= nights


def test_every_step_ran_on_a_celery_worker(days):
    for r in days["result"].runs:
        assert r.worker_steps, f"{r.job} {r.partition}: no step placed on a worker"
        assert {w.split("@")[0] for _, w in r.worker_steps} <= {"w1", "w2"}, r.worker_steps


def test_each_days_record_is_readable_with_its_speedup(days):
    rows = days["result"].rows
    assert [r["day"] for r in rows] == list(DAYS)
    for row in rows:
        rec = json.loads(Path(row["record"]).read_text())  # the day.json its materialization names
        assert rec["day"] == row["day"] and rec["frames"] == row["frames"] == 120
        assert row["speedup"] > 0 and isinstance(row["certified"], bool)
        assert row["labels_in_store"] > 0
    assert json.loads((days["out"] / "days.json").read_text())[-1]["day"] == DAYS[-1]
    assert (days["out"] / "days.md").read_text().count("\n") == len(DAYS) + 2
