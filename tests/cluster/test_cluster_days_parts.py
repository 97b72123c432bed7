"""The cluster days runner's pieces that need no stack: the day's file as a recorder drops it, the partition tags
a queued run carries, the camera added to the cluster's registry beside the others, the demo's defaults."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import yaml

from pipelines.cluster import runs
from pipelines.cluster.config import ClusterConfig
from pipelines.cluster.days import DayFile, add_camera, drop, parse_args


def test_drop_renames_a_complete_file_dated_that_evening_with_its_truth_and_never_twice(tmp_path):
    src = tmp_path / "rec.avi"
    src.write_bytes(b"video")
    (tmp_path / "rec.avi.truth.npz").write_bytes(b"truth")
    footage = tmp_path / "footage"
    target = drop(DayFile("2026-01-02", src), footage, "cam")
    assert target == footage / "cam_2026-01-02.avi" and target.read_bytes() == b"video"
    assert (footage / "cam_2026-01-02.avi.truth.npz").read_bytes() == b"truth"
    assert target.stat().st_mtime == datetime(2026, 1, 2, 22, tzinfo=UTC).timestamp()
    assert sorted(p.name for p in footage.iterdir()) == ["cam_2026-01-02.avi", "cam_2026-01-02.avi.truth.npz"]
    os.utime(target, (1.0, 1.0))
    drop(DayFile("2026-01-02", src), footage, "cam")  # already there: left as it is, so no second sensor run
    assert target.stat().st_mtime == 1.0


def test_partition_tags_of_a_camera_and_of_a_camera_day():
    assert runs.partition_tags("cam") == {"dagster/partition": "cam"}
    assert runs.partition_tags("cam", "2026-01-01") == {
        "dagster/partition": "cam|2026-01-01",
        "dagster/partition/camera": "cam",
        "dagster/partition/day": "2026-01-01",
    }


def test_the_camera_joins_the_clusters_registry_and_the_others_stay(tmp_path):
    cfg = ClusterConfig(state=tmp_path)
    (tmp_path / "cameras.yaml").write_text(yaml.safe_dump({"cameras": [{"id": "synth-1", "video": "a.avi"}]}))
    add_camera(cfg, {"id": "vtest-days", "video": "b.mp4"})
    add_camera(cfg, {"id": "vtest-days", "video": "c.mp4"})  # again: replaced, not doubled
    cams = yaml.safe_load((tmp_path / "cameras.yaml").read_text())["cameras"]
    assert [(c["id"], c["video"]) for c in cams] == [("synth-1", "a.avi"), ("vtest-days", "c.mp4")]


def test_the_cluster_days_are_short_by_default_and_the_days_demos_are_not():
    from pipelines.days_demo import parse_args as demo_args

    a = parse_args([])
    assert (a.days, a.day_seconds, a.train_seconds, a.out) == (2, 120.0, 1200.0, None)
    d = demo_args([])
    assert (d.days, d.day_seconds, d.train_seconds, d.out.name) == (5, 600.0, 1200.0, "days-demo")


def test_a_day_record_the_runner_cannot_read_comes_from_its_materializations_metadata(tmp_path):
    from types import SimpleNamespace

    import dagster as dg

    from pipelines.cluster.days import day_record

    meta = {
        "status": dg.MetadataValue.text("1 answered"),
        "frames": dg.MetadataValue.int(120),
        "certified": dg.MetadataValue.bool(True),
        "certified_speedup": dg.MetadataValue.float(2.5),
        "fnr_bound_pct": dg.MetadataValue.float(1.5),
        "fpr_bound_pct": dg.MetadataValue.null(),
        "champion_version": dg.MetadataValue.int(1),
        "day_json": dg.MetadataValue.path(str(tmp_path / "another-machine" / "day.json")),
    }
    record = SimpleNamespace(asset_materialization=SimpleNamespace(metadata=meta))
    instance = SimpleNamespace(fetch_materializations=lambda _filter, limit: SimpleNamespace(records=[record]))
    rec, source = day_record(instance, "cam", "2026-01-01")
    assert source == "instance metadata"
    assert rec == {
        "status": "1 answered", "frames": 120, "speedup": 2.5, "certified": True, "fnr_bound": 0.015,
        "fpr_bound": None, "champion_version": 1,
    }  # fmt: skip
    (tmp_path / "another-machine").mkdir()
    (tmp_path / "another-machine" / "day.json").write_text('{"day": "2026-01-01", "frames": 120}')
    assert day_record(instance, "cam", "2026-01-01") == ({"day": "2026-01-01", "frames": 120}, meta["day_json"].value)
