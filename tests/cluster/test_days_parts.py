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
