"""Garbage collection of the artifact root (``file://``): only blobs no manifest names, old enough, and only when asked."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from noscope_core.common.errors import ArtifactError
from pipelines.storage import open_root
from pipelines.storage.collect import StoredObject, collect, split_garbage


def _publish(remote, folder: Path, value: int) -> None:
    (folder / "store").mkdir(parents=True, exist_ok=True)
    np.save(folder / "store" / "frames.npy", np.full((10, 100), value, np.uint8))
    (folder / "store" / "meta.json").write_text('{"n": 10}')  # the same in every version: one shared blob
    remote.publish("cam1", "decoded_frames", folder, {"store": str(folder / "store")})


def _age(root: Path, seconds: float) -> None:
    """Make every blob under ``root`` look ``seconds`` old."""
    for p in (root / "blobs").rglob("*"):
        if p.is_file():
            t = p.stat().st_mtime - seconds
            os.utime(p, (t, t))


def test_split_garbage_keeps_named_and_young_objects():
    objs = [StoredObject("r/blobs/aa/aa1", 5, 10.0), StoredObject("r/blobs/bb/bb1", 7, 9999.0),
            StoredObject("r/blobs/cc/cc1", 3, 9999.0), StoredObject("r/blobs/dd/dd1.1.x.part", 1, 9999.0)]  # fmt: skip
    garbage, young = split_garbage(objs, {"cc1"}, min_age_s=100)
    assert [o.name for o in garbage] == ["bb1", "dd1.1.x.part"]
    assert [o.name for o in young] == ["aa1"]


def test_collect_is_a_dry_run_by_default_then_deletes_only_the_superseded_blob(tmp_path):
    root = tmp_path / "root"
    remote = open_root(root.as_uri(), tmp_path / "cache")
    folder = tmp_path / "producer" / "cam1" / "decoded_frames"
    _publish(remote, folder, 1)
    _publish(remote, folder, 2)  # frames.npy changes: version 1's blob is no longer named
    (root / "blobs" / "zz").mkdir()
    (root / "blobs" / "zz" / "zz00.123.abc.part").write_bytes(b"half")  # a writer killed mid-copy
    _age(root, 7200)
    blobs_before = sorted(p.name for p in (root / "blobs").rglob("*") if p.is_file())
    assert len(blobs_before) == 4

    report = collect(remote)
    assert not report.deleted and report.manifests == 1 and report.kept == 2
    assert len(report.garbage) == 2 and "would delete" in report.describe()
    assert sorted(p.name for p in (root / "blobs").rglob("*") if p.is_file()) == blobs_before

    report = collect(remote, dry_run=False)
    assert report.deleted and len(report.garbage) == 2
    left = sorted(p.name for p in (root / "blobs").rglob("*") if p.is_file())
    assert len(left) == 2 and not any(n.endswith(".part") for n in left)
    out = open_root(root.as_uri(), tmp_path / "fresh-cache").fetch("cam1", "decoded_frames")
    assert int(np.load(Path(out["store"]) / "frames.npy")[0, 0]) == 2  # the current version is whole


def test_collect_keeps_recent_unnamed_blobs_a_publish_in_progress_may_need(tmp_path):
    root = tmp_path / "root"
    remote = open_root(root.as_uri(), tmp_path / "cache")
    folder = tmp_path / "producer" / "cam1" / "decoded_frames"
    _publish(remote, folder, 1)
    _publish(remote, folder, 2)  # superseded a moment ago: younger than the minimum age
    report = collect(remote, dry_run=False)
    assert not report.garbage and len(report.young) == 1


def test_collect_refuses_when_a_manifest_cannot_be_read(tmp_path):
    root = tmp_path / "root"
    remote = open_root(root.as_uri(), tmp_path / "cache")
    _publish(remote, tmp_path / "producer" / "cam1" / "decoded_frames", 1)
    (root / "cam2" / "labels").mkdir(parents=True)
    (root / "cam2" / "labels" / "manifest.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="cannot be read"):
        collect(remote, dry_run=False, min_age_s=0)
