"""With an artifact root URL set, every asset is published there and each step reads its inputs from the root."""

from pathlib import Path

import dagster as dg
import pytest

from pipelines.assets import ASSETS
from pipelines.partitions import CAMERAS
from pipelines.resources import ArtifactStore, ManifestIOManager
from pipelines.storage import open_root

CAM = "synth"


@pytest.mark.slow  # materializes the whole graph a second time
def test_graph_runs_through_a_file_url_root_and_reads_inputs_from_its_cache(
    tmp_path, monkeypatch, synthetic_video, camera_entry, write_registry, make_resources
):
    monkeypatch.setenv("NOSCOPE_HOME", str(tmp_path / "noscope_home"))
    registry = write_registry(tmp_path / "cameras.yaml", [camera_entry(CAM, synthetic_video, max_epochs=1)])
    url = (tmp_path / "bucket" / "prefix").as_uri()
    resources = make_resources(registry, tmp_path / "artifacts")
    store = ArtifactStore(root=str(tmp_path / "artifacts"), root_url=url)
    resources.update(artifacts=store, io_manager=ManifestIOManager(store=store))
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        instance.add_dynamic_partitions(CAMERAS, [CAM])
        result = dg.materialize(ASSETS, instance=instance, partition_key=CAM, resources=resources)
    assert result.success
    remote = open_root(url, tmp_path / "elsewhere")
    for asset in (a.key.path[-1] for a in ASSETS):
        [mat] = result.asset_materializations_for_node(asset)
        man = remote.manifest(CAM, asset)
        assert man is not None and mat.metadata["artifact_digest"].value == man.digest
    # the steps after decoding opened the frame store from the cache, not from the producer's folder
    cache = tmp_path / "artifacts" / ".cache"
    frames = remote.manifest(CAM, "decoded_frames")
    assert (cache / frames.digest / "store" / "meta.json").is_file()
    out = remote.fetch(CAM, "optimized_cascade")
    assert Path(out["cascade_json"]).is_file() and str(tmp_path / "elsewhere") in out["cascade_json"]
