"""The whole asset graph materializes for a small synthetic camera, with its checks, metadata and artifacts."""

import json
import time
from pathlib import Path

import dagster as dg
import pytest

from noscope_core.reference.synthetic_truth import truth_path
from pipelines.assets import ASSETS
from pipelines.checks import CHECKS
from pipelines.partitions import CAMERAS

CAM = "synth"
ASSET_NAMES = [a.key.path[-1] for a in ASSETS]


def _materialize(instance, resources, camera, selection=None):
    return dg.materialize(
        [*ASSETS, *CHECKS],
        instance=instance,
        partition_key=camera,
        resources=resources,
        selection=selection,
        raise_on_error=False,
    )


def _metadata(result, asset: str) -> dict:
    [mat] = [m for m in result.asset_materializations_for_node(asset)]
    return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}


def test_the_decision_heads_both_asset_pages_and_tags_the_run(trained):
    result = trained["result"]
    for asset in ("optimized_cascade", "query_results"):
        [mat] = result.asset_materializations_for_node(asset)
        first = list(mat.metadata)[:2]
        assert first == ["decision", "fell_back"], (asset, list(mat.metadata)[:5])
        assert mat.metadata["decision"].value.startswith(("Chose ", "Fell back to the reference"))
    tags = trained["instance"].get_run_by_id(result.run_id).tags
    assert tags["noscope/decision"] == _metadata(result, "query_results")["decision"]
    assert "test segment:" in tags["noscope/decision"]


def _checks(result) -> dict:
    return {ev.check_name: ev for ev in result.get_asset_check_evaluations()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, synthetic_video, footage_video, camera_entry, write_registry, make_resources):
    """One full materialization of the synthetic camera (shared by the tests below: training is the slow part)."""
    root = tmp_path_factory.mktemp("pipeline")
    footage = root / "footage"
    footage.mkdir()
    (footage / "later.avi").write_bytes(footage_video.read_bytes())
    # the synthetic reference reads its ground truth from the sidecar beside the video
    truth_path(footage / "later.avi").write_bytes(truth_path(footage_video).read_bytes())
    registry = write_registry(
        root / "cameras.yaml",
        [
            camera_entry(CAM, synthetic_video, footage),
            camera_entry("empty-roi", synthetic_video, roi=[0.0, 0.0, 0.02, 0.02], confidence=0.95),
        ],
    )
    with pytest.MonkeyPatch.context() as mp, dg.instance_for_test(temp_dir=str(root)) as instance:
        mp.setenv("NOSCOPE_HOME", str(root / "noscope_home"))
        instance.add_dynamic_partitions(CAMERAS, [CAM, "empty-roi"])
        # MLflow on, in a temporary SQLite store: the wiring of run ids across steps is what is pinned here
        resources = make_resources(registry, root / "artifacts", mlflow_root=root / "mlflow")
        t0 = time.perf_counter()
        result = _materialize(instance, resources, CAM)
        seconds = time.perf_counter() - t0
        print(f"\nfull synthetic materialization: {seconds:.1f} s")
        yield {"result": result, "instance": instance, "resources": resources, "root": root, "seconds": seconds}


def test_full_graph_materializes_for_a_synthetic_camera(trained):
    result = trained["result"]
    assert result.success
    assert {k.path[-1] for k in _materialized_keys(result)} == set(ASSET_NAMES)


def _materialized_keys(result):
    return {ev.asset_key for ev in result.get_asset_materialization_events()}


def test_checks_run_with_the_graph_and_report_targets(trained):
    checks = _checks(trained["result"])
    assert set(checks) == {"labels_not_degenerate", "cascade_meets_targets", "test_error_within_targets"}
    assert checks["labels_not_degenerate"].passed
    cascade_check = checks["cascade_meets_targets"]
    assert cascade_check.passed or cascade_check.severity == dg.AssetCheckSeverity.WARN
    assert {"threshold_fnr_pct", "threshold_fpr_pct", "targets"} <= set(cascade_check.metadata)
    test_check = checks["test_error_within_targets"]
    assert {"test_fnr_pct", "test_fpr_pct", "targets"} <= set(test_check.metadata)
    assert test_check.passed or test_check.severity == dg.AssetCheckSeverity.WARN


def test_each_materialization_carries_its_key_figures(trained):
    result = trained["result"]
    frames = _metadata(result, "decoded_frames")
    assert frames["n_frames"] == 400 and frames["n_corrupt"] == 0 and frames["decode_frames_per_s"] > 0
    labels = _metadata(result, "reference_labels")
    assert 0 < labels["positive_rate_train_pct"] < 100 and labels["reference_fps"] > 0
    models = _metadata(result, "specialized_models")
    assert models["n_variants"] >= 1 and "| variant |" in models["variants"]
    assert "frames/s" in models["variants"] and "train s" in models["variants"]
    dds = _metadata(result, "difference_detectors")
    assert dds["n_detectors"] >= 1
    cascade = _metadata(result, "optimized_cascade")
    assert cascade["cascade"] and cascade["speedup_x"] > 0 and cascade["speedup"].endswith("×")
    assert round(cascade["threshold_fnr_pct"], 2) == cascade["threshold_fnr_pct"]
    assert sum(bool(r.data["chosen"]) for r in cascade["frontier"].records) == 1
    assert cascade["frontier_plot"].startswith("![speed-up vs error frontier](data:image/png;base64,")
    query = _metadata(result, "query_results")
    assert {"test_fnr_pct", "test_fpr_pct", "speedup_x", "n_intervals", "intervals"} <= set(query)
    # one measurement of the reference per run, with how it was taken, on every page of the run
    assert labels["reference_fps"] == cascade["reference_fps"] == query["reference_fps"]
    assert labels["reference_timing"] == cascade["reference_timing"] == query["reference_timing"]
    assert len(query["intervals"].records) == query["n_intervals"] >= 1
    assert query["timeline"].startswith("![positive intervals over the examined frames](data:image/png;base64,")
    assert query["footage_files"] == 1


def test_artifacts_live_under_the_root_by_camera_and_asset(trained):
    cam_dir = trained["root"] / "artifacts" / CAM
    for name in ASSET_NAMES:
        assert (cam_dir / name / "manifest.json").is_file(), name
    assert (cam_dir / "decoded_frames" / "store" / "meta.json").is_file()
    assert (cam_dir / "reference_labels" / "labels.npz").is_file()
    assert (cam_dir / "specialized_models" / "models" / "index.json").is_file()
    assert (cam_dir / "difference_detectors" / "detectors" / "index.json").is_file()
    assert (cam_dir / "optimized_cascade" / "cascade.json").is_file()
    assert (cam_dir / "optimized_cascade" / "frontier.png").read_bytes()[:4] == b"\x89PNG"
    test = json.loads((cam_dir / "query_results" / "test.json").read_text())
    assert test["frames_test"] == 100 and test["fnr"] is not None


def test_manifests_hand_on_paths_and_figures_not_data(trained):
    cam_dir = trained["root"] / "artifacts" / CAM
    for name in ASSET_NAMES:
        manifest = cam_dir / name / "manifest.json"
        assert manifest.stat().st_size < 64_000, name  # never frames, arrays or models
    cascade = json.loads((cam_dir / "optimized_cascade" / "manifest.json").read_text())
    assert Path(cascade["cascade_json"]).is_file() and Path(cascade["models_dir"]).is_dir()


def test_query_results_answers_the_test_segment_and_new_footage(trained):
    query = json.loads((trained["root"] / "artifacts" / CAM / "query_results" / "manifest.json").read_text())
    a, b = query["test"]["test_segment"]
    assert (a, b) == (300, 400)
    assert all(a <= s < e <= b for s, e in query["test"]["intervals"])
    assert query["test"]["intervals"]  # a person comes and goes in the test segment
    [footage] = query["footage"]
    assert footage["file"].endswith("later.avi") and footage["frames"] == 120 and not footage["cached"]
    assert all(0 <= s < e <= 120 for s, e in footage["intervals"])


def test_training_is_tracked_in_one_mlflow_run_that_the_query_also_reports_to(trained):
    from mlflow.tracking import MlflowClient

    result = trained["result"]
    run_id = result.output_for_node("specialized_models")["mlflow_run_id"]
    assert run_id and result.output_for_node("optimized_cascade")["mlflow_run_id"] == run_id
    assert f"/runs/{run_id}?workflowType=machine_learning" in _metadata(result, "optimized_cascade")["mlflow_run"]
    registered = result.output_for_node("optimized_cascade")["registered"]
    assert registered["model_name"] == f"noscope-cascade-{CAM}" and registered["version"] >= 1
    client = MlflowClient(trained["resources"]["mlflow"].uri())
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert "test_fnr_pct" in run.data.metrics
    assert run.data.tags["mlflow.note.content"].startswith("**" + run.data.tags["decision"])
    assert "test segment (measured" in run.data.tags["mlflow.note.content"]
    assert "query/timeline.png" in {a.path for a in client.list_artifacts(run_id, "query")}
    version = client.get_model_version(registered["model_name"], str(registered["version"]))
    assert "test_fnr" in version.tags and "champion" in version.description
    # the champion decision was taken after the test query, and cites its error
    champion = result.output_for_node("query_results")["champion"]
    assert champion["version"] == registered["version"] and registered["reason"].startswith("taken after the query")
    assert version.tags["champion_moved"] in ("true", "false") and "test segment" in champion["reason"]
    assert version.tags["champion_decision"] == champion["reason"]
    assert f"v{champion['version']}" in _metadata(result, "query_results")["champion"]


def test_query_job_reruns_on_the_trained_cascade_and_reuses_footage_answers(trained):
    result = _materialize(trained["instance"], trained["resources"], CAM, selection=["query_results"])
    assert result.success
    assert _materialized_keys(result) == {dg.AssetKey("query_results")}
    [footage] = result.output_for_node("query_results")["footage"]
    assert footage["cached"]


def test_degenerate_labels_fall_back_to_the_reference_without_failing_the_run(trained):
    result = _materialize(trained["instance"], trained["resources"], "empty-roi")
    assert result.success
    checks = _checks(result)
    labels_check = checks["labels_not_degenerate"]
    assert not labels_check.passed and labels_check.severity == dg.AssetCheckSeverity.ERROR
    assert "region of interest" in labels_check.description
    cascade_check = checks["cascade_meets_targets"]
    assert cascade_check.passed  # the reference on every frame keeps the targets exactly; the reason says why
    assert "reference runs on every frame" in cascade_check.description
    assert "absent from every frame" in cascade_check.metadata["fallback_reason"].text
    test_check = checks["test_error_within_targets"]  # the exact answer is certified trivially, at 0.95
    assert test_check.passed and test_check.severity == dg.AssetCheckSeverity.ERROR
    assert test_check.metadata["test_fnr_bound_pct"].value == 0.0 and "exact" in test_check.description
    assert result.output_for_node("specialized_models")["skipped"]
    cascade = result.output_for_node("optimized_cascade")
    assert cascade["fell_back"] and "absent from every frame" in cascade["reason"]
    assert result.output_for_node("query_results")["test"]["reference_call_fraction"] == pytest.approx(1.0)


def test_query_before_training_fails_with_a_clear_message(
    tmp_path, synthetic_video, camera_entry, write_registry, make_resources
):
    registry = write_registry(tmp_path / "cameras.yaml", [camera_entry("fresh", synthetic_video)])
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        instance.add_dynamic_partitions(CAMERAS, ["fresh"])
        result = _materialize(instance, make_resources(registry, tmp_path / "artifacts"), "fresh", ["query_results"])
    assert not result.success
    [failure] = result.get_step_failure_events()
    messages, err = [], failure.step_failure_data.error
    while err is not None:  # Dagster wraps the step's own error as the cause of a load-input error
        messages.append(err.message)
        err = err.cause
    assert any("has not been materialized for camera 'fresh'" in m for m in messages)


def test_artifact_paths_refuse_ids_that_escape_the_root(tmp_path):
    from noscope_core.common.errors import QueryError
    from pipelines.resources import ArtifactStore

    store = ArtifactStore(root=str(tmp_path))
    assert store.path("cam-1", "decoded_frames") == tmp_path.resolve() / "cam-1" / "decoded_frames"
    for bad in ("..", "../x", "a/b", ""):
        with pytest.raises(QueryError):
            store.path(bad, "decoded_frames")
