"""A camera's footage by the day: the sensor requests camera x day runs, each day is answered, certified and its
labels kept, faults get their status, and the nightly schedule adds uniform labels and draws the history."""

import json
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from pipelines.assets import ASSETS
from pipelines.assets.days import DAY_ASSETS, day_answers, night_labels, summarize_day
from pipelines.definitions import defs
from pipelines.footage_days import footage_day, scan
from pipelines.partitions import CAMERAS, camera_day_key, split_camera_day
from pipelines.schedules import nightly_days
from pipelines.sensors import footage_days_sensor

CAM = "days-cam"


def _age(path, seconds=3600):
    t = time.time() - seconds
    os.utime(path, (t, t))


@pytest.fixture(scope="module")
def days(tmp_path_factory, synthetic_video, footage_video, camera_entry, write_registry, make_resources, bind_truth):
    """A trained camera whose footage_dir holds: a good day, a truncated file, a file still being written."""
    root = tmp_path_factory.mktemp("days")
    mp = pytest.MonkeyPatch()
    for name in ("dagster_home", "noscope_home", "artifacts"):
        (root / name).mkdir()
    mp.setenv("DAGSTER_HOME", str(root / "dagster_home"))
    mp.setenv("NOSCOPE_HOME", str(root / "noscope_home"))
    footage = root / "footage"
    footage.mkdir()
    registry = write_registry(root / "cameras.yaml", [camera_entry(CAM, synthetic_video, footage, confidence=0.9)])
    resources = make_resources(registry, root / "artifacts")
    with dg.instance_for_test(temp_dir=str(root / "dagster_home")) as instance:
        instance.add_dynamic_partitions(CAMERAS, [CAM])
        dg.materialize(ASSETS, instance=instance, resources=resources, partition_key=CAM,
                       selection=["decoded_frames", "reference_labels", "specialized_models", "difference_detectors",
                                  "optimized_cascade"])  # fmt: skip
        good = footage / "cam_2026-01-02.avi"
        shutil.copy(footage_video, good)
        data = footage_video.read_bytes()
        bad = footage / "cam_2026-01-03.avi"
        bad.write_bytes(data[: len(data) // 2])
        (footage / ".cam_2026-01-03.avi.part").write_bytes(data[:100])
        for p in (good, bad):  # the synthetic reference reads each video's ground truth beside it
            bind_truth(footage_video, p)
            _age(p)
        writing = footage / "cam_2026-01-04.avi"
        writing.write_bytes(data[:1000])
        yield {"root": root, "instance": instance, "resources": resources, "footage": footage}
    mp.undo()


def _tick_sensor(days, cursor=None):
    with dg.build_sensor_context(
        instance=days["instance"], cursor=cursor, resources=days["resources"], definitions=defs
    ) as ctx:
        return footage_days_sensor(ctx)


def _answer(days, day):
    return dg.materialize(
        [*ASSETS, *DAY_ASSETS],
        instance=days["instance"],
        resources=days["resources"],
        partition_key=str(camera_day_key(CAM, day)),
        selection=[day_answers],
    )


def test_the_sensor_requests_one_day_per_settled_file_and_waits_for_one_being_written(days):
    result = _tick_sensor(days)
    keys = sorted(r.partition_key for r in result.run_requests)
    assert keys == [f"{CAM}|2026-01-02", f"{CAM}|2026-01-03"]
    for r in result.run_requests:  # the preview's "{}" dialog tells them apart: camera, day, file
        day = r.partition_key.split("|")[1]
        assert (r.tags["noscope/camera"], r.tags["noscope/day"]) == (CAM, day) and day in r.run_key
        assert r.tags["noscope/purpose"] == f"answer camera {CAM}, {day}: {r.tags['noscope/footage']}"
    again = _tick_sensor(days, result.cursor)
    assert not again.run_requests and "still being written" in again.skip_reason.skip_message
    _age(days["footage"] / "cam_2026-01-04.avi")  # the recorder finished
    later = _tick_sensor(days, again.cursor)
    assert [r.partition_key for r in later.run_requests] == [f"{CAM}|2026-01-04"]


def test_a_day_is_answered_certified_with_its_labels_kept(days):
    result = _answer(days, "2026-01-02")
    meta = result.asset_materializations_for_node("day_answers")[0].metadata
    rec = json.loads(Path(meta["day_json"].path).read_text())
    assert rec["status"] == "1 answered"
    assert rec["frames"] == 120 and rec["frames_skipped"] == 0
    assert rec["fnr_bound"] is not None and rec["speedup"] > 0
    assert meta["labels_in_store"].value > 0 and rec["labels_in_store"] == meta["labels_in_store"].value
    again = _answer(days, "2026-01-02")  # a re-run reuses the finished answer and adds no label twice
    rec2 = json.loads(
        Path(again.asset_materializations_for_node("day_answers")[0].metadata["day_json"].path).read_text()
    )
    assert rec2["files_detail"][0]["cached"] and rec2["labels_in_store"] == rec["labels_in_store"]


def test_faults_get_a_status_and_a_day_without_footage_says_so(days):
    bad = json.loads(Path(_answer(days, "2026-01-03").asset_materializations_for_node("day_answers")[0]
                          .metadata["day_json"].path).read_text())  # fmt: skip
    status = bad["files_detail"][0]["status"]
    assert status in ("partial", "unreadable", "failed"), bad
    if status == "partial":
        assert bad["frames_skipped"] > 0 and "skipped" in bad["files_detail"][0]["detail"]
    empty = _answer(days, "2026-01-06").asset_materializations_for_node("day_answers")[0].metadata
    assert empty["status"].value.startswith("no footage") and empty["frames"].value == 0


def test_the_nightly_schedule_adds_uniform_labels_and_draws_the_history(days):
    from noscope_core.reference.label_store import LabelStore

    _answer(days, "2026-01-02")
    store = LabelStore(days["root"] / "artifacts" / CAM / "label_store")
    day = [f for f in store.frames() if f.day == "2026-01-02"]
    drawn_before = sum(f.unbiased for f in day)
    with dg.build_schedule_context(
        instance=days["instance"],
        scheduled_execution_time=datetime(2026, 1, 3, 2, 30, tzinfo=UTC),
        resources=days["resources"],
    ) as ctx:
        requests = nightly_days(ctx)
    assert [r.partition_key for r in requests] == [f"{CAM}|2026-01-02"]
    result = dg.materialize(
        [*ASSETS, *DAY_ASSETS], instance=days["instance"], resources=days["resources"],
        partition_key=requests[0].partition_key, selection=[night_labels],
    )  # fmt: skip
    meta = result.asset_materializations_for_node("night_labels")[0].metadata
    # the budget (200) covers the day's 120 frames: afterwards every one of them is a uniform draw
    drawn_after = sum(f.unbiased for f in store.frames() if f.day == "2026-01-02" or f.key in {g.key for g in day})
    assert meta["labels_added"].value == 120 - drawn_before and drawn_after >= 120
    assert os.path.getsize(meta["history_png"].path) > 10_000
    root = days["root"] / "artifacts" / CAM / "label_store"
    assert len(list(root.glob("compact-*.json"))) == 1 and not list(root.glob("chunk-*.json"))


def test_footage_days_come_from_the_name_else_the_file_time(tmp_path):
    a = tmp_path / "x_2026-02-30_2026-03-01T10.mp4"  # an impossible date is skipped, the next one taken
    b = tmp_path / "noday.mp4"
    a.write_bytes(b"1")
    b.write_bytes(b"1")
    os.utime(b, (1767312000, 1767312000))  # 2026-01-02 00:00 UTC
    assert footage_day(a) == "2026-03-01" and footage_day(b) == "2026-01-02"
    (tmp_path / ".hidden_2026-01-01.mp4").write_bytes(b"1")
    got = scan(tmp_path.iterdir(), now=time.time() + 10, settle_s=5)
    assert [f.path.name for f in got] == ["noday.mp4", a.name] and all(f.settled for f in got)


def test_a_day_key_splits_back_into_camera_and_day():
    assert split_camera_day(str(camera_day_key("cam-1", "2026-01-05"))) == ("cam-1", "2026-01-05")


def test_the_day_summary_weights_speed_by_time_and_keeps_the_weakest_bound():
    files = [
        {"status": "answered", "frames": 100, "speedup": 10.0, "certified": True, "fnr_bound": 0.01, "fpr_bound": 0.02},
        {"status": "answered", "frames": 100, "speedup": 2.0, "certified": False, "fnr_bound": 0.03, "fpr_bound": 0.0},
        {"status": "writing"},
    ]
    s = summarize_day(files)
    assert s["frames"] == 200 and s["speedup"] == pytest.approx(200 / (10 + 50))
    assert (s["certified"], s["fnr_bound"], s["fpr_bound"], s["files_answered"]) == (False, 0.03, 0.02, 2)


_CHILD = """
import json, sys, time
from pathlib import Path
import noscope_core.flows.apply_flow as apply_flow
from noscope_core.flows.apply_flow import TrainedCascade
from pipelines.assets.days import answer_file
from pipelines.assets.common import footage_files
from pipelines.footage_days import scan
from pipelines.label_stores import open_store
from pipelines.resources import ArtifactStore, CameraRegistry, ReferenceDetectorResource

registry, trained_root, root, day, slow = sys.argv[1:6]
if slow == "1":  # the second file's answer hangs: the parent kills the run in the middle of it
    real, calls = apply_flow.apply_to_video, []
    def hanging(*a, **k):
        calls.append(1)
        if len(calls) > 1:
            time.sleep(120)
        return real(*a, **k)
    apply_flow.apply_to_video = hanging
cam = CameraRegistry(path=registry).get("days-cam")
man = json.loads((Path(trained_root) / "days-cam" / "optimized_cascade" / "manifest.json").read_text())
trained = TrainedCascade.load(man["cascade_json"], man.get("models_dir"), man.get("dd_dir"))
artifacts = ArtifactStore(root=root)
store = open_store(artifacts, "days-cam")
for f in [f for f in scan(footage_files(cam)) if f.day == day]:
    a = answer_file(trained, cam, f, Path(root) / "files", ReferenceDetectorResource(), store, print)
    print("DONE", f.path.name, a.get("cached"), flush=True)
"""


def _child(days, root, slow):
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
    args = [str(days["root"] / "cameras.yaml"), str(days["root"] / "artifacts"), str(root), "2026-01-07", slow]
    return subprocess.Popen([sys.executable, "-c", _CHILD, *args], env=env, cwd=repo, stdout=subprocess.PIPE, text=True)


@pytest.mark.slow  # starts a day's answer in a child process, kills it and answers again
def test_a_day_killed_mid_answer_loses_nothing_answered_or_labelled(days, tmp_path, bind_truth):
    import signal

    from noscope_core.reference.label_store import LabelStore

    data = (days["footage"] / "cam_2026-01-02.avi").read_bytes()
    for name, blob in (("a_2026-01-07.avi", data), ("b_2026-01-07.avi", data[: len(data) * 2 // 3])):
        p = days["footage"] / name
        p.write_bytes(blob)
        bind_truth(days["footage"] / "cam_2026-01-02.avi", p)
        _age(p)
    clean = _child(days, tmp_path / "clean", "0")
    clean.communicate(timeout=300)
    killed = _child(days, tmp_path / "killed", "1")
    first = killed.stdout.readline()
    while first and not first.startswith("DONE"):  # the answer's own log lines come first
        first = killed.stdout.readline()
    assert first.startswith("DONE a_2026-01-07.avi"), first
    time.sleep(1.0)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    after_kill = LabelStore(tmp_path / "killed" / "days-cam" / "label_store").frames()
    assert after_kill, "the first file's labels survive the kill"
    rerun = _child(days, tmp_path / "killed", "0")
    out, _ = rerun.communicate(timeout=300)
    assert "DONE a_2026-01-07.avi True" in out and "DONE b_2026-01-07.avi False" in out  # a reused, b answered
    got = LabelStore(tmp_path / "killed" / "days-cam" / "label_store").frames()
    want = LabelStore(tmp_path / "clean" / "days-cam" / "label_store").frames()
    assert len({f.key for f in got}) == len(got)
    assert sorted((f.key, f.reason) for f in got) == sorted((f.key, f.reason) for f in want)
    for p in days["footage"].glob("*_2026-01-07.avi*"):
        p.unlink()


def test_a_days_figures_are_rounded_as_people_read_them(tmp_path):
    from pipelines.assets.days import day_metadata

    rec = {"status": "1 answered", "frames": 6000, "frames_skipped": 0, "certified": True, "labels_in_store": 10,
           "speedup": 1.78231857454704, "fnr_bound": 0.0337, "fpr_bound": 0.0194, "files_detail": []}  # fmt: skip
    meta = day_metadata(rec, tmp_path / "day.json", None)
    assert meta["certified_speedup"].value == 1.8 and meta["fnr_bound_pct"].value == 3.37
