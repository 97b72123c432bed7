"""The schedule, the registry sensor and the new-footage sensor, evaluated against a real (temporary) instance."""

import json
import os
import time
from datetime import datetime, timezone

import dagster as dg
import pytest

from noscope_core.common.errors import QueryError
from pipelines.partitions import CAMERAS, plan_sync
from pipelines.resources import CameraRegistry
from pipelines.schedules import DEFAULT_RETRAIN_CRON, retrain_cameras, retrain_cron, schedule_description
from pipelines.sensors import camera_registry_sensor, new_footage_sensor


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as inst:  # in memory: sensors and schedules only read and add partitions
        yield inst


@pytest.fixture
def stored_instance(tmp_path):
    """Schedule contexts need an instance they can re-open by reference, so not an in-memory one."""
    with dg.instance_for_test(temp_dir=str(tmp_path)) as inst:
        yield inst


@pytest.fixture
def registry(tmp_path, synthetic_video, camera_entry, write_registry):
    footage = tmp_path / "footage"
    footage.mkdir()
    entries = [camera_entry("cam-a", synthetic_video, footage), camera_entry("cam-b", synthetic_video)]
    return write_registry(tmp_path / "cameras.yaml", entries)


def _sensor(sensor, instance, registry, cursor=None):
    """Evaluate ``sensor`` in a context that is closed afterwards: an unclosed evaluation context leaves the
    instance it opened registered as Dagster's current one, which breaks later materializations in this process."""
    resources = {"cameras": CameraRegistry(path=str(registry))}
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as ctx:
        return sensor(ctx)


def _schedule(instance, registry, when: datetime):
    resources = {"cameras": CameraRegistry(path=str(registry))}
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=when, resources=resources) as ctx:
        result = retrain_cameras(ctx)
        return result if isinstance(result, dg.SkipReason) else list(result)


def test_plan_sync_adds_new_ids_and_deletes_removed_ones():
    plan = plan_sync(["a", "b", "c"], ["b", "old"])
    assert (plan.add, plan.delete) == (("a", "c"), ("old",))
    assert not plan_sync(["a"], ["a"]).changed


def test_registry_sensor_syncs_partitions_with_the_registry(instance, registry):
    instance.add_dynamic_partitions(CAMERAS, ["gone"])
    result = _sensor(camera_registry_sensor, instance, registry)
    kinds = {type(r).__name__: r.partition_keys for r in result.dynamic_partitions_requests}
    assert kinds == {"AddDynamicPartitionsRequest": ["cam-a", "cam-b"], "DeleteDynamicPartitionsRequest": ["gone"]}


def test_registry_sensor_skips_when_partitions_already_match(instance, registry):
    instance.add_dynamic_partitions(CAMERAS, ["cam-a", "cam-b"])
    result = _sensor(camera_registry_sensor, instance, registry)
    assert isinstance(result, dg.SkipReason)


def test_unsafe_camera_id_is_rejected_with_a_clear_message(
    instance, tmp_path, synthetic_video, camera_entry, write_registry
):
    reg = write_registry(tmp_path / "bad.yaml", [camera_entry("../escape", synthetic_video)])
    with pytest.raises(QueryError, match="invalid camera id '../escape'"):
        _sensor(camera_registry_sensor, instance, reg)


def test_schedule_requests_one_run_per_camera_partition(stored_instance, registry):
    instance = stored_instance
    instance.add_dynamic_partitions(CAMERAS, ["cam-a", "cam-b"])
    requests = _schedule(instance, registry, datetime(2026, 3, 1, 2, 0, tzinfo=timezone.utc))
    assert sorted(r.partition_key for r in requests) == ["cam-a", "cam-b"]
    assert all("2026-03-01" in r.run_key for r in requests)
    assert len({r.run_key for r in requests}) == 2


def test_schedule_leaves_out_cameras_without_a_partition_yet(stored_instance, registry):
    instance = stored_instance
    instance.add_dynamic_partitions(CAMERAS, ["cam-b"])
    requests = _schedule(instance, registry, datetime(2026, 3, 1, 2, 0, tzinfo=timezone.utc))
    assert [r.partition_key for r in requests] == ["cam-b"]


def test_retrain_cron_defaults_to_nightly_and_follows_the_environment(monkeypatch):
    monkeypatch.delenv("NOSCOPE_RETRAIN_CRON", raising=False)
    assert retrain_cron() == DEFAULT_RETRAIN_CRON == "0 2 * * *"
    monkeypatch.setenv("NOSCOPE_RETRAIN_CRON", "30 4 * * 1")
    assert retrain_cron() == "30 4 * * 1"


def _evaluate(instance, registry, cursor):
    result = _sensor(new_footage_sensor, instance, registry, cursor)
    return result.run_requests or [], result.cursor


def _drop(path, data: bytes, age_s: float = 60.0):
    path.write_bytes(data)
    t = time.time() - age_s  # older than the settle time: fully copied
    os.utime(path, (t, t))


def test_footage_sensor_requests_one_query_run_per_new_file_exactly_once(instance, registry, tmp_path, footage_video):
    instance.add_dynamic_partitions(CAMERAS, ["cam-a", "cam-b"])
    instance.report_runless_asset_event(dg.AssetMaterialization("optimized_cascade", partition="cam-a"))
    footage = tmp_path / "footage"
    _drop(footage / "monday.avi", footage_video.read_bytes())
    (footage / "notes.txt").write_text("not a video")
    _drop(footage / ".partial.avi", b"still copying")  # hidden: a copy in progress

    runs, cursor = _evaluate(instance, registry, None)
    assert [(r.partition_key, r.tags["noscope/footage"]) for r in runs] == [("cam-a", "monday.avi")]
    assert runs[0].job_name in (None, "query_camera")
    assert runs[0].tags["noscope/camera"] == "cam-a" and "monday.avi" in runs[0].run_key
    assert runs[0].tags["noscope/purpose"] == "answer camera cam-a's footage monday.avi"
    first_key = runs[0].run_key

    runs, cursor = _evaluate(instance, registry, cursor)
    assert runs == []  # already seen

    _drop(footage / "tuesday.avi", footage_video.read_bytes())
    runs, cursor2 = _evaluate(instance, registry, cursor)
    assert [r.tags["noscope/footage"] for r in runs] == ["tuesday.avi"]
    assert set(json.loads(cursor2)["cam-a"]) == {"monday.avi", "tuesday.avi"}

    _drop(footage / "monday.avi", footage_video.read_bytes(), age_s=30.0)  # replaced: new mtime
    runs, _ = _evaluate(instance, registry, cursor2)
    assert [r.tags["noscope/footage"] for r in runs] == ["monday.avi"]
    assert runs[0].run_key != first_key  # a new run key, so Dagster does not drop it as a duplicate


def test_footage_sensor_waits_for_a_trained_cascade_and_for_files_to_settle(
    instance, registry, tmp_path, footage_video
):
    instance.add_dynamic_partitions(CAMERAS, ["cam-a"])
    footage = tmp_path / "footage"
    _drop(footage / "early.avi", footage_video.read_bytes())
    runs, cursor = _evaluate(instance, registry, None)
    assert runs == []  # no cascade yet: its training run will query the footage itself

    instance.report_runless_asset_event(dg.AssetMaterialization("optimized_cascade", partition="cam-a"))
    (footage / "copying.avi").write_bytes(footage_video.read_bytes())  # modified just now
    runs, cursor = _evaluate(instance, registry, cursor)
    assert [r.tags["noscope/footage"] for r in runs] == ["early.avi"]


def test_schedule_run_requests_name_their_camera(stored_instance, registry):
    stored_instance.add_dynamic_partitions(CAMERAS, ["cam-a", "cam-b"])
    requests = _schedule(stored_instance, registry, datetime(2026, 3, 1, 2, 0, tzinfo=timezone.utc))
    for r in requests:
        cam = r.partition_key
        assert r.run_key == f"retrain-{cam}-2026-03-01T02:00"
        assert r.tags["dagster/partition"] == r.tags["noscope/camera"] == cam
        assert r.tags["noscope/purpose"] == f"re-train camera {cam} (2026-03-01T02:00 tick)"
        assert r.tags["noscope/trigger"] == "schedule"


def test_schedule_description_lists_the_cameras_it_covers():
    text = schedule_description(["cam-a", "cam-b"], "0 2 * * *")
    assert "Covers the registry's cameras: cam-a, cam-b." in text and "0 2 * * *" in text
    assert "none yet" in schedule_description([], "0 2 * * *")
    assert "every camera in the registry" in schedule_description(None, "0 2 * * *")


def test_the_loaded_schedule_describes_the_repository_registry():
    from pipelines.resources import CameraRegistry

    ids = list(CameraRegistry().cameras())
    assert retrain_cameras.description == schedule_description(ids, retrain_cron())


def test_every_nightly_request_names_its_camera_and_day():
    """The tick preview lists requests by job only; their run key and tags tell cameras and days apart."""
    from pipelines.schedules import night_request

    when = datetime(2026, 3, 2, 2, 30, tzinfo=timezone.utc)
    a, b = night_request("cam-a", when), night_request("cam-b", when)
    assert a.run_key == "night-cam-a-2026-03-01" and a.run_key != b.run_key
    assert (a.tags["noscope/camera"], a.tags["noscope/day"]) == ("cam-a", "2026-03-01")
    assert a.tags["noscope/purpose"] == "night after 2026-03-01 for camera cam-a"
