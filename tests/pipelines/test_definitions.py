"""The code location loads, has the intended graph, loads fast, and the instance config is what we ship."""

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

REPO = Path(__file__).resolve().parents[2]
ASSETS = {
    "decoded_frames",
    "reference_labels",
    "specialized_models",
    "difference_detectors",
    "optimized_cascade",
    "query_results",
}


def test_definitions_are_loadable():
    from pipelines.definitions import defs

    dg.Definitions.validate_loadable(defs)


def test_asset_graph_has_the_noscope_lineage():
    from pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == ASSETS | {"day_answers", "night_labels", "night_challenger"}

    def parents(name: str) -> set[str]:
        return {k.to_user_string() for k in graph.get(dg.AssetKey(name)).parent_keys}

    assert parents("decoded_frames") == set()
    assert parents("reference_labels") == {"decoded_frames"}
    assert parents("specialized_models") == {"decoded_frames", "reference_labels"}
    assert parents("difference_detectors") == {"decoded_frames", "reference_labels"}
    assert parents("optimized_cascade") == {
        "decoded_frames",
        "reference_labels",
        "specialized_models",
        "difference_detectors",
    }
    assert parents("query_results") == {"decoded_frames", "reference_labels", "optimized_cascade"}
    assert parents("day_answers") == {"optimized_cascade"}
    assert parents("night_labels") == {"optimized_cascade", "day_answers"}
    assert parents("night_challenger") == {"optimized_cascade", "decoded_frames", "reference_labels", "night_labels"}


def test_every_asset_is_partitioned_by_camera_in_the_noscope_group():
    from pipelines.definitions import defs
    from pipelines.partitions import camera_days_partitions, cameras_partitions

    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if key.to_user_string() in ("day_answers", "night_labels", "night_challenger"):  # a camera's footage by the day
            assert (node.partitions_def, node.group_name) == (camera_days_partitions, "noscope_days"), key
            continue
        assert node.partitions_def == cameras_partitions, key
        assert node.group_name == "noscope", key


def test_checks_jobs_schedule_and_sensors_are_registered():
    from pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert checks == {
        ("reference_labels", "labels_not_degenerate"),
        ("optimized_cascade", "cascade_meets_targets"),
        ("query_results", "test_error_within_targets"),
    }
    assert defs.resolve_job_def("train_camera").partitions_def is not None
    assert defs.resolve_job_def("query_camera") is not None
    assert defs.resolve_schedule_def("retrain_cameras").cron_schedule == "0 2 * * *"
    assert defs.resolve_schedule_def("nightly_days").cron_schedule == "30 2 * * *"
    assert {s.name for s in defs.sensors} == {"camera_registry_sensor", "new_footage_sensor", "footage_days_sensor"}


def test_loading_the_code_location_imports_no_heavy_library():
    """The webserver and daemon reload the code location often: torch, cv2 and mlflow load inside steps only."""
    code = (
        "import time, sys; import dagster; t = time.perf_counter(); import pipelines.definitions; "
        "print(time.perf_counter() - t); "
        "print(','.join(m for m in ('torch', 'cv2', 'mlflow', 'sklearn', 'pytorch_lightning') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    seconds, heavy = out.stdout.splitlines()[-2:]
    assert heavy == ""
    assert float(seconds) < 3.0  # generous: about 0.5 s on top of Dagster itself


def test_shipped_instance_config_keeps_state_under_dagster_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster_home" / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.chdir(tmp_path)  # relative paths in dagster.yaml would land here; there must be none
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("cameras", ["a"])
        queue = instance.get_concurrency_config().run_queue_config
        assert queue.max_concurrent_runs == 2
        assert queue.tag_concurrency_limits[0]["key"] == "dagster/partition"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert (home / "history" / "runs.db").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]


@pytest.mark.parametrize("path", ["workspace.yaml", "cameras.yaml", "dagster_home/dagster.yaml"])
def test_config_files_are_valid_yaml(path):
    import yaml

    assert yaml.safe_load((REPO / path).read_text())


def test_default_camera_is_vtest_with_the_documented_query():
    from noscope_core.spec.registry import load_cameras

    cam = load_cameras(REPO / "cameras.yaml")["vtest"]
    assert cam.video.name == "vtest.avi"
    assert cam.query.object_class == "person"
    assert cam.query.roi.as_tuple() == (0.0, 0.5, 0.5, 1.0)
    assert (cam.reference, cam.targets.max_fnr, cam.targets.max_fpr, cam.split.fractions) == (
        "ssd-mobilenet-v3",
        0.01,
        0.01,
        (0.5, 0.25, 0.25),
    )
    assert cam.footage_dir is not None


def test_the_project_instance_has_telemetry_and_the_first_visit_dialog_off(tmp_path, monkeypatch):
    import shutil

    from tests.ui_browser import REPO

    shutil.copy(REPO / "dagster_home" / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert (instance.nux_enabled, instance.telemetry_enabled) == (False, False)
