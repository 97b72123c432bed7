"""The nightly challenger through Dagster and MLflow: trained on the label store's earlier days and judged on the
day's footage beside the champion; when it is not cheaper enough the champion stays and the challenger's registered
version says why, with the numbers; when it wins, the champion alias and record move and the next day is answered
by it.

Whether a challenger *learns* enough to win is the engine's business (tests/test_challenger.py pins the rule);
here the winning verdict is forced, to pin what a win changes."""

import dataclasses
import json
import os
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest

from pipelines.assets import ASSETS
from pipelines.assets.challenger import CHALLENGER_ASSETS, night_challenger
from pipelines.assets.days import DAY_ASSETS, day_answers, night_labels
from pipelines.partitions import CAMERAS, camera_day_key

#: trains a camera with MLflow on and answers four days: minutes on a loaded machine (the fixture passed the
#: 10-minute per-test limit at load average ~10 on 2 cores before any assertion ran)
pytestmark = pytest.mark.slow

CAM = "drift-cam"
DAY_FRAMES = 300
#: brighter than anything the initial footage showed, from the first frame of the day
DRIFT = {"drift_frame": 0, "drift_gain": 2.0}


@pytest.fixture(scope="module")
def camera(tmp_path_factory, synthetic_video, camera_entry, write_registry, make_resources, mlflow_template_db):
    """A trained camera (MLflow on) whose footage holds drifted days; the first one answered and labelled."""
    from noscope_core.footage.synthetic.scene import SyntheticScene
    from noscope_core.footage.synthetic.write import write_synthetic_video

    root = tmp_path_factory.mktemp("challenger")
    mp = pytest.MonkeyPatch()
    for name in ("dagster_home", "noscope_home", "artifacts", "mlflow"):
        (root / name).mkdir()
    shutil.copy(mlflow_template_db, root / "mlflow" / "mlflow.db")
    mp.setenv("DAGSTER_HOME", str(root / "dagster_home"))
    mp.setenv("NOSCOPE_HOME", str(root / "noscope_home"))
    mp.setenv("NOSCOPE_NIGHT_BUDGET", "200")
    footage = root / "footage"
    footage.mkdir()
    scene = {"width": 160, "height": 120, "fps": 10.0, "mean_gap_s": 4.0, "mean_stay_s": 3.0}
    for day, seed in (("2026-01-02", 21), ("2026-01-03", 22), ("2026-01-04", 23), ("2026-01-05", 24)):
        path = write_synthetic_video(
            footage / f"cam_{day}.avi", DAY_FRAMES, SyntheticScene(**scene, seed=seed, **DRIFT)
        )
        os.utime(path, (time.time() - 3600, time.time() - 3600))  # settled: the recorder finished an hour ago
    entry = camera_entry(CAM, synthetic_video, footage, confidence=0.8, max_fnr=0.1, max_fpr=0.1,
                         footage_frames=DAY_FRAMES, max_epochs=3)  # fmt: skip
    registry = write_registry(root / "cameras.yaml", [entry])
    resources = make_resources(registry, root / "artifacts", root / "mlflow")
    with dg.instance_for_test(temp_dir=str(root / "dagster_home")) as instance:
        instance.add_dynamic_partitions(CAMERAS, [CAM])
        dg.materialize(ASSETS, instance=instance, resources=resources, partition_key=CAM,
                       selection=["decoded_frames", "reference_labels", "specialized_models", "difference_detectors",
                                  "optimized_cascade"])  # fmt: skip
        cam = {"root": root, "instance": instance, "resources": resources, "footage": footage}
        _run(cam, "2026-01-02", [day_answers])
        _run(cam, "2026-01-02", [night_labels])
        yield cam
    mp.undo()


def _run(cam, day, selection):
    return dg.materialize(
        [*ASSETS, *DAY_ASSETS, *CHALLENGER_ASSETS], instance=cam["instance"], resources=cam["resources"],
        partition_key=str(camera_day_key(CAM, day)), selection=selection,
    )  # fmt: skip


def _duel(result) -> dict:
    meta = result.asset_materializations_for_node("night_challenger")[0].metadata
    return json.loads(Path(meta["duel_json"].path).read_text())


def _version(cam, version: int):
    return cam["resources"]["mlflow"].client().get_model_version(f"noscope-cascade-{CAM}", str(version))


def test_a_challenger_that_is_not_cheaper_enough_leaves_the_champion_and_says_why(camera, monkeypatch):
    monkeypatch.setenv("NOSCOPE_CHALLENGER_MIN_GAIN", "0.99")  # a challenger must cost a hundredth to win
    _run(camera, "2026-01-03", [day_answers])
    duel = _duel(_run(camera, "2026-01-03", [night_challenger]))
    assert not duel["verdict"]["moved"] and "champion kept" in duel["verdict"]["reason"]
    assert duel["window"]["days"] == ["2026-01-02"] and duel["window"]["stored_frames"] > 0
    version = _version(camera, duel["challenger_version"])
    assert version.tags["nightly_duel"] == "lost" and "Champion" in version.description
    assert f"{duel['verdict']['challenger_ms_per_frame']:.2f}" in version.description  # the numbers are there
    assert not (camera["root"] / "artifacts" / CAM / "champion" / "current.json").exists()


def test_a_won_duel_moves_the_alias_and_the_record_and_the_next_day_is_answered_by_the_winner(camera, monkeypatch):
    import noscope_core.flows.challenger as engine

    real = engine.judge

    def won(champion, challenger, min_gain):  # the rule's numbers, with the outcome forced
        v = real(champion, challenger, min_gain)
        return dataclasses.replace(v, moved=True, reason=f"challenger wins (forced by the test): {v.reason}")

    monkeypatch.setattr(engine, "judge", won)
    _run(camera, "2026-01-03", [night_labels])
    _run(camera, "2026-01-04", [day_answers])
    duel = _duel(_run(camera, "2026-01-04", [night_challenger]))
    assert duel["verdict"]["moved"] and duel["window"]["days"] == ["2026-01-02", "2026-01-03"]
    version = _version(camera, duel["challenger_version"])
    assert version.tags["nightly_duel"] == "won" and "won" in version.description
    client = camera["resources"]["mlflow"].client()
    assert client.get_model_version_by_alias(f"noscope-cascade-{CAM}", "champion").version == version.version
    meta = _run(camera, "2026-01-05", [day_answers]).asset_materializations_for_node("day_answers")[0].metadata
    rec = json.loads(Path(meta["day_json"].path).read_text())
    assert rec["champion_source"] == "challenger of 2026-01-04"
    assert rec["champion_version"] == int(version.version)
    again = _duel(_run(camera, "2026-01-04", [night_challenger]))  # a re-run reads the judged night
    assert again["challenger_version"] == duel["challenger_version"]


_NIGHT = """
import json, sys, time
import dagster as dg
import noscope_core.flows.challenger as engine
from pipelines.assets import ASSETS
from pipelines.assets.challenger import CHALLENGER_ASSETS, night_challenger
from pipelines.assets.days import DAY_ASSETS
from pipelines.partitions import CAMERAS, camera_day_key
from tests.pipelines.conftest import make_resources

registry, artifacts, mlflow_root, camera, day, hang = sys.argv[1:7]
if hang == "1":  # killed once the challenger is trained, before the duel has judged it
    real = engine.train_challenger
    def trained_then_hang(*a, **k):
        out = real(*a, **k)
        print("TRAINED", flush=True)
        time.sleep(300)
        return out
    engine.train_challenger = trained_then_hang  # the asset imports it when it runs
with dg.instance_for_test() as instance:
    instance.add_dynamic_partitions(CAMERAS, [camera])
    res = dg.materialize([*ASSETS, *DAY_ASSETS, *CHALLENGER_ASSETS], instance=instance,
                         resources=make_resources(registry, artifacts, mlflow_root),
                         partition_key=str(camera_day_key(camera, day)), selection=[night_challenger])
    meta = res.asset_materializations_for_node("night_challenger")[0].metadata
    print("DONE", meta["duel_json"].path, flush=True)
"""


def test_a_night_killed_mid_training_loses_nothing_and_its_rerun_judges_once(camera):
    """SIGKILL after the challenger was trained and before the duel judged it, then a re-run: the day's answer and
    the label store are untouched (every label kept once), the re-run judges the night and records it once, and a
    third run reads that record instead of training again."""
    import signal
    import subprocess
    import sys

    from noscope_core.reference.label_store import LabelStore

    day = "2026-01-05"
    _run(camera, day, [day_answers])  # answered already when the won duel's test ran: read back
    root = camera["root"]
    day_json = root / "artifacts" / CAM / "days" / day / "day.json"
    store = root / "artifacts" / CAM / "label_store"
    before_day, before_store = day_json.read_bytes(), sorted((f.key, f.reason) for f in LabelStore(store).frames())
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
    args = [str(root / "cameras.yaml"), str(root / "artifacts"), str(root / "mlflow"), CAM, day]

    def night(hang: str):
        return subprocess.Popen([sys.executable, "-c", _NIGHT, *args, hang], env=env, cwd=repo,
                                stdout=subprocess.PIPE, text=True)  # fmt: skip

    killed = night("1")
    line = killed.stdout.readline()
    while line and not line.startswith("TRAINED"):
        line = killed.stdout.readline()
    assert line.startswith("TRAINED"), "the child never finished training"
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    duel_json = root / "artifacts" / CAM / "challengers" / day / "duel.json"
    assert not duel_json.exists(), "killed before the duel: nothing judged yet"
    out, _ = night("0").communicate(timeout=600)
    assert "DONE" in out and duel_json.is_file(), out[-2000:]
    record = json.loads(duel_json.read_text())
    assert record["day"] == day and "reason" in record["verdict"]
    assert day_json.read_bytes() == before_day
    after = sorted((f.key, f.reason) for f in LabelStore(store).frames())
    assert after == before_store and len({k for k, _ in after}) == len(after)
    assert not [p for p in duel_json.parent.rglob("*") if p.name.endswith((".tmp", ".part"))]
    again, _ = night("0").communicate(timeout=600)  # a judged night is read back, not trained again
    assert json.loads(duel_json.read_text()) == record, again[-2000:]
