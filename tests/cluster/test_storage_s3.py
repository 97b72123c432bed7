"""The storage layer against the real SeaweedFS S3 server of the stack (the same tests as file:// in spirit)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.storage import open_root

pytestmark = pytest.mark.cluster


def _folder(root: Path) -> Path:
    folder = root / "cam1" / "decoded_frames"
    (folder / "store").mkdir(parents=True)
    np.save(folder / "store" / "frames.npy", np.arange(3000, dtype=np.uint16).reshape(30, 100))
    return folder


def test_publish_and_fetch_through_s3_into_another_cache(cluster_env, tmp_path):
    url = f"s3://{cluster_env.bucket}/storage-test-{tmp_path.name}"
    folder = _folder(tmp_path / "producer")
    remote = open_root(url, tmp_path / "producer-cache")
    assert remote.fetch("cam1", "decoded_frames") is None
    man = remote.publish("cam1", "decoded_frames", folder, {"store": str(folder / "store")})
    out = open_root(url, tmp_path / "worker-cache").fetch("cam1", "decoded_frames")
    frames = np.load(Path(out["store"]) / "frames.npy", mmap_mode="r")
    assert Path(out["store"]).parent.name == man.digest and int(frames[29, 99]) == 2999


def test_a_publish_killed_before_its_manifest_leaves_the_previous_version_on_s3(cluster_env, tmp_path, monkeypatch):
    url = f"s3://{cluster_env.bucket}/storage-test-{tmp_path.name}"
    folder = _folder(tmp_path / "producer")
    remote = open_root(url, tmp_path / "cache")
    remote.publish("cam1", "decoded_frames", folder, {"v": 1})
    np.save(folder / "store" / "frames.npy", np.zeros((30, 100), np.uint16))

    def die(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(remote, "_put_bytes", die)
    with pytest.raises(KeyboardInterrupt):
        remote.publish("cam1", "decoded_frames", folder, {"v": 2})
    monkeypatch.undo()
    assert remote.fetch("cam1", "decoded_frames")["v"] == 1
    assert not [k for k in remote.fs.find(url) if k.endswith(".part")]


def test_gc_on_s3_deletes_only_the_superseded_blob_and_the_current_version_still_fetches(cluster_env, tmp_path):
    from pipelines.storage.collect import collect

    url = f"s3://{cluster_env.bucket}/storage-test-{tmp_path.name}"
    folder = _folder(tmp_path / "producer")
    remote = open_root(url, tmp_path / "cache")
    remote.publish("cam1", "decoded_frames", folder, {"store": str(folder / "store")})
    np.save(folder / "store" / "frames.npy", np.zeros((30, 100), np.uint16))
    remote.publish("cam1", "decoded_frames", folder, {"store": str(folder / "store")})
    assert len(collect(remote).garbage) == 0  # the superseded blob is seconds old: kept by the age rule
    dry = collect(remote, min_age_s=0)
    assert len(dry.garbage) == 1 and not dry.deleted and len(remote.fs.find(f"{url}/blobs")) == 2
    assert collect(remote, dry_run=False, min_age_s=0).deleted
    remote.fs.invalidate_cache()
    assert len(remote.fs.find(f"{url}/blobs")) == 1
    out = open_root(url, tmp_path / "fresh-cache").fetch("cam1", "decoded_frames")
    assert int(np.load(Path(out["store"]) / "frames.npy")[29, 99]) == 0
