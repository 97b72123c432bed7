"""``optimized_cascade``: the cheapest cascade that meets the camera's FNR/FPR targets on the threshold segment."""

from pathlib import Path

import dagster as dg

from pipelines import metadata
from pipelines.assets.common import ASSET_KW, end_failed, load_labels, mlflow_link, open_store, tracking
from pipelines.resources import ArtifactStore, CameraRegistry, ReferenceDetectorResource
from pipelines.tracking import MlflowTracker


def _fallback_reason(reference_labels: dict, specialized_models: dict, difference_detectors: dict) -> str | None:
    """Why no cascade cheaper than the reference can be built, or None when the pieces are there."""
    return (
        reference_labels.get("degenerate") or specialized_models.get("skipped") or difference_detectors.get("skipped")
    )


@dg.asset(**ASSET_KW, kinds={"python"})
def optimized_cascade(
    context: dg.AssetExecutionContext,
    decoded_frames: dict,
    reference_labels: dict,
    specialized_models: dict,
    difference_detectors: dict,
    cameras: CameraRegistry,
    artifacts: ArtifactStore,
    reference: ReferenceDetectorResource,
    mlflow: MlflowTracker,
) -> dg.Output[dict]:
    """Score every cheap stage on the threshold segment, search cascades, keep the frontier and the choice.

    Degenerate labels make this the reference on every frame (``reference_only_artifact``), with the reason.
    Logs the difference detectors, the cascade and its frontier to the training run, registers the cascade
    and closes the run. Whether ``champion`` moves is decided by ``query_results``, once the test error is known.
    """
    from noscope_core.flows import stages
    from noscope_core.models.difference_artifact import load_difference
    from noscope_core.models.model_artifact import load_models
    from noscope_core.present import frontier as report
    from noscope_core.present.decision import decision_line

    cam = cameras.get(context.partition_key)
    run_id = specialized_models.get("mlflow_run_id") if tracking(mlflow) else None
    try:
        store, labels = open_store(decoded_frames), load_labels(reference_labels)
        cascade_json = artifacts.path(cam.camera_id, "optimized_cascade", "cascade.json")
        models_dir, dd_dir = specialized_models.get("models_dir"), difference_detectors.get("dd_dir")
        reason = _fallback_reason(reference_labels, specialized_models, difference_detectors)
        if reason:
            context.log.warning(f"falling back to the reference on every frame: {reason}")
            art = stages.reference_only(cam, store, labels, reason, out_path=cascade_json)
            models_dir = dd_dir = None
            dds = []
        else:
            models = load_models(models_dir, labels.query)
            dds = load_difference(dd_dir, labels.query)
            art = stages.optimize(
                cam, store, labels, models, dds, out_path=cascade_json, models_dir=models_dir, dd_dir=dd_dir
            )
        info = art.to_dict()  # the JSON the MLflow run keeps, and what the report's tables read
        timing = labels.timing()  # the run's one measurement of the reference (reference_labels took it)
        reference_fps = timing.fps
        png = report.frontier_plot(
            info["frontier"],
            artifacts.path(cam.camera_id, "optimized_cascade", "frontier.png"),
            reference_fps=reference_fps,
            chosen=info["best"],
            max_fnr=art.targets.max_fnr,
            max_fpr=art.targets.max_fpr,
        )
        decision = decision_line(info)
        context.log.info(
            f"{decision}; {art.n_evaluated} configurations scored, {len(info['frontier'])} on the frontier"
        )
        metadata.tag_run(context, decision)
        registration = None
        if run_id:
            if dds:
                mlflow.log_difference(run_id, dds, dict(art.costs.dd_ms))
            mlflow.log_cascade(run_id, art, png, reference_timing=timing.how)
            registration = mlflow.register_cascade(
                run_id,
                cam.camera_id,
                cascade_json,
                None if models_dir is None else Path(models_dir),
                None if dd_dir is None else Path(dd_dir),
                reference.spec_for(cam),
                reference_fps=reference.fps_for(cam),
                frame_size=(decoded_frames["width"], decoded_frames["height"]),
                decide=False,
            )
            context.log.info(
                f"registered {registration.model_name} v{registration.version}; champion decision {registration.reason}"
            )
            mlflow.end(run_id)
    except BaseException:
        end_failed(mlflow, run_id)
        raise
    best = art.best.to_dict()
    out = {
        "decision": decision,
        "cascade_json": str(cascade_json),
        "frontier_png": str(png),
        "models_dir": models_dir,
        "dd_dir": dd_dir,
        "best": best,
        "targets": art.targets.to_dict(),
        "fell_back": art.fell_back,
        "reason": art.reason,
        "reference_fps": reference_fps,
        "reference_timing": timing.how,
        "n_evaluated": art.n_evaluated,
        "mlflow_run_id": run_id,
        "registered": None
        if registration is None
        else {
            "model_name": registration.model_name,
            "version": registration.version,
            "champion_moved": registration.champion_moved,
            "reason": registration.reason,
        },
    }
    meta = {  # the decision first: the asset page lists entries in this order
        **metadata.decision_entries(decision, art.fell_back, art.reason),
        **metadata.cascade_headline(best, out["targets"], reference_fps, timing.how),
        **_bounds(best),
        **mlflow_link(run_id, mlflow),
    }
    if registration is not None:
        meta["registered"] = (
            f"{registration.model_name} v{registration.version}; champion decision {registration.reason}"
        )
    meta.update(
        {
            "frontier_plot": metadata.png_markdown(png, "speed-up vs error frontier"),
            "frontier": metadata.frontier_table(info["frontier"], chosen=best, targets=out["targets"]),
            "frontier_details": metadata.frontier_details(info["frontier"], chosen=best, targets=out["targets"]),
            "cascade_json": dg.MetadataValue.path(str(cascade_json)),
            "n_evaluated": dg.MetadataValue.int(int(art.n_evaluated)),
            "optimize_seconds": metadata.num(art.optimize_seconds, 1),
        }
    )
    return dg.Output(out, metadata=meta)


def _bounds(best: dict) -> dict:
    """Upper confidence bounds on the chosen cascade's error, when the optimizer searched with a confidence."""
    return {f"{key}_pct": metadata.pct(best[key]) for key in ("fnr_bound", "fpr_bound") if best.get(key) is not None}
