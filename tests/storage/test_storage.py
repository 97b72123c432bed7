"""The storage layer against a ``file://`` root: publish is all-or-nothing, fetch rebuilds paths on another machine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from noscope_core.common.errors import ArtifactError
from pipelines.storage import open_root
from pipelines.storage.root import RootURL, s3_options


def _artifact(local: Path, camera: str = "cam1", asset: str = "decoded_frames") -> Path:
    folder = local / camera / asset
    (folder / "store").mkdir(parents=True)
    np.save(folder / "store" / "frames.npy", np.arange(1000, dtype=np.uint8).reshape(10, 100))
    (folder / "store" / "meta.json").write_text('{"n": 10}')
    (folder / ".store.123.tmp").mkdir()  # an atomic writer's leftover: not part of the artifact
    (folder / "manifest.json").write_text("{}")  # the IO manager's local copy: not part of the artifact
    return folder


def test_publish_then_fetch_on_another_machine_rebuilds_paths_into_its_cache(tmp_path):
    folder = _artifact(tmp_path / "producer")
    url = (tmp_path / "root").as_uri()
    man = open_root(url, tmp_path / "producer-cache").publish(
        "cam1", "decoded_frames", folder, {"store": str(folder / "store"), "video": "/videos/a.avi", "n": 10}
    )
    assert sorted(f.path for f in man.files) == ["store/frames.npy", "store/meta.json"]
    assert man.payload["store"] == "artifact://decoded_frames/store"

    other = open_root(url, tmp_path / "worker-cache")
    out = other.fetch("cam1", "decoded_frames")
    store = Path(out["store"])
    assert store.parent == tmp_path / "worker-cache" / man.digest
    assert out["video"] == "/videos/a.avi" and out["n"] == 10
    frames = np.load(store / "frames.npy", mmap_mode="r")  # memory-mapped from the local cache
    assert isinstance(frames, np.memmap) and int(frames[9, 99]) == 999 % 256


def test_an_artifact_without_manifest_is_absent_and_a_killed_publish_keeps_the_old_version(tmp_path, monkeypatch):
    folder = _artifact(tmp_path / "producer")
    remote = open_root((tmp_path / "root").as_uri(), tmp_path / "cache")
    assert remote.fetch("cam1", "decoded_frames") is None
    remote.publish("cam1", "decoded_frames", folder, {"v": 1})
    np.save(folder / "store" / "frames.npy", np.zeros((10, 100), np.uint8))

    def die(*_a, **_k):
        raise KeyboardInterrupt  # the writer dies after the blobs, before the manifest

    monkeypatch.setattr(remote, "_put_bytes", die)
    with pytest.raises(KeyboardInterrupt):
        remote.publish("cam1", "decoded_frames", folder, {"v": 2})
    monkeypatch.undo()
    assert remote.fetch("cam1", "decoded_frames")["v"] == 1
    assert not list((tmp_path / "root").rglob("*.part"))


def test_unchanged_files_are_not_uploaded_again_and_cache_is_content_addressed(tmp_path):
    folder = _artifact(tmp_path / "producer")
    root = tmp_path / "root"
    remote = open_root(root.as_uri(), tmp_path / "cache")
    a = remote.publish("cam1", "decoded_frames", folder, {})
    blobs = {p: p.stat().st_mtime_ns for p in (root / "blobs").rglob("*") if p.is_file()}
    b = remote.publish("cam1", "decoded_frames", folder, {"again": True})
    assert a.digest == b.digest
    assert {p: p.stat().st_mtime_ns for p in (root / "blobs").rglob("*") if p.is_file()} == blobs
    assert remote.materialize(a) == remote.materialize(b)


def test_a_path_into_another_asset_resolves_to_that_assets_published_version(tmp_path):
    local = tmp_path / "producer"
    models = local / "cam1" / "specialized_models" / "models"
    models.mkdir(parents=True)
    (models / "m.pt").write_bytes(b"weights")
    cascade = local / "cam1" / "optimized_cascade"
    cascade.mkdir(parents=True)
    (cascade / "cascade.json").write_text("{}")
    remote = open_root((tmp_path / "root").as_uri(), tmp_path / "cache")
    remote.publish(
        "cam1", "optimized_cascade", cascade, {"models_dir": str(models), "json": str(cascade / "cascade.json")}
    )
    with pytest.raises(ArtifactError, match="specialized_models"):
        remote.fetch("cam1", "optimized_cascade")
    remote.publish("cam1", "specialized_models", models.parent, {})
    out = remote.fetch("cam1", "optimized_cascade")
    assert (Path(out["models_dir"]) / "m.pt").read_bytes() == b"weights"
    assert json.loads(Path(out["json"]).read_text()) == {}


def test_a_corrupt_blob_is_refused_and_leaves_no_cache_folder(tmp_path):
    folder = _artifact(tmp_path / "producer")
    root = tmp_path / "root"
    remote = open_root(root.as_uri(), tmp_path / "cache")
    man = remote.publish("cam1", "decoded_frames", folder, {})
    Path(remote.blob_key(man.files[0].sha256)).write_bytes(b"rot")
    with pytest.raises(ArtifactError, match="corrupt"):
        remote.materialize(man)
    assert not any((tmp_path / "cache").iterdir())


@pytest.mark.parametrize("url", ["relative/folder", "ftp://host/x", "file://rel", "s3://"])
def test_bad_root_urls_are_refused_with_a_hint(url):
    with pytest.raises(ArtifactError):
        RootURL.parse(url)


def test_s3_options_take_the_endpoint_from_the_environment():
    opts = s3_options({"MLFLOW_S3_ENDPOINT_URL": "http://127.0.0.1:1", "NOSCOPE_S3_ENDPOINT_URL": "http://127.0.0.1:2"})
    assert opts["client_kwargs"]["endpoint_url"] == "http://127.0.0.1:2"
    assert opts["config_kwargs"]["s3"]["addressing_style"] == "path"
    assert "client_kwargs" not in s3_options({})
