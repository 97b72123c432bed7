"""``specialized_models`` and ``difference_detectors``: the cheap stages, both fitted on the train segment.

They are siblings (neither needs the other); ``optimized_cascade`` joins them. The MLflow training run starts
in ``specialized_models`` and its id travels on in that asset's manifest.
"""

import dataclasses

import dagster as dg

from noscope_core.spec.camera import CameraSpec, TrainingOptions
from pipelines.abandoned_runs import close_abandoned
from pipelines.assets.common import ASSET_KW, end_failed, load_labels, md_table, mlflow_link, open_store, tracking
from pipelines.executor import queue_tags
from pipelines.resources import ArtifactStore, CameraRegistry
from pipelines.tracking import MlflowTracker

#: threshold-segment frames each variant's speed is measured on for the metadata
SPEED_SAMPLE_FRAMES = 256


class TrainConfig(dg.Config):
    """Training knobs; unset values come from the camera's entry in cameras.yaml (``max_epochs``, ``seed``)."""

    max_epochs: int | None = None
    seed: int | None = None


def _training(config: TrainConfig, cam: CameraSpec) -> TrainingOptions:
    """The camera's training options with this run's overrides."""
    return dataclasses.replace(
        cam.training,
        max_epochs=config.max_epochs or cam.training.max_epochs,
        seed=cam.training.seed if config.seed is None else config.seed,
    )


def decodings_note(cam: CameraSpec) -> str | None:
    """What the assets do with a camera's ``training.decodings``: they train the exact view only (the per-view
    comparison runs in ``noscope query``), and say so instead of ignoring the setting silently."""
    if not cam.training.decodings:
        return None
    roi = cam.query.roi.as_tuple() if cam.query.roi else None
    roi_arg = f" --roi {','.join(f'{x:g}' for x in roi)}" if roi else ""
    return (
        f"camera {cam.camera_id} asks for decodings {', '.join(cam.training.decodings)}: the Dagster assets train "
        f"and optimize the exact decoding only; compare them with `noscope query {cam.video} --object "
        f"{cam.query.object_class}{roi_arg} --decodings {','.join(cam.training.decodings)}`"
    )


def _model_fps(models, frames) -> dict[str, float]:
    """Measured frames/s of each variant on a sample of threshold-segment frames (the optimizer re-measures)."""
    from noscope_core.models.specialized import measure_fps

    sample = frames[: min(len(frames), SPEED_SAMPLE_FRAMES)]
    return {m.name: measure_fps(m, sample, repeats=2) for m in models}


def _finite_or_none(x) -> float | None:
    """NaN (no validation set) becomes None, which JSON and the metadata table both show as missing."""
    return None if x is None or x != x else float(x)


def _close_abandoned(context: dg.AssetExecutionContext, mlflow: MlflowTracker, camera_id: str) -> None:
    """Training runs a killed attempt left RUNNING become KILLED (pipelines/abandoned_runs.py)."""
    try:
        closed = close_abandoned(mlflow, camera_id, context.run_id, context.instance)
    except Exception as err:  # noqa: BLE001 - tidying MLflow is not worth failing the training over
        context.log.warning(f"could not check for abandoned MLflow runs: {err}")
        return
    if closed:
        context.log.warning(f"marked KILLED the MLflow training run(s) a dead attempt left open: {', '.join(closed)}")


@dg.asset(**ASSET_KW, kinds={"pytorch"}, op_tags=queue_tags("specialized_models"))
def specialized_models(
    context: dg.AssetExecutionContext,
    config: TrainConfig,
    decoded_frames: dict,
    reference_labels: dict,
    cameras: CameraRegistry,
    artifacts: ArtifactStore,
    mlflow: MlflowTracker,
) -> dg.Output[dict]:
    """Train the small-CNN family to mimic the reference on the train segment; one MLflow child run per variant.

    Degenerate labels do not fail the run: the reason is recorded and the optimizer falls back.
    """
    import numpy as np

    from noscope_core.flows import stages
    from noscope_core.video.views import model_view

    cam = cameras.get(context.partition_key)
    run_id = None
    if tracking(mlflow):
        _close_abandoned(context, mlflow, cam.camera_id)
        run_id = mlflow.start_training(
            cam.camera_id,
            cam.query.to_dict(),
            tags={"camera": cam.camera_id, "dagster_run_id": context.run_id, "reference": cam.reference},
        )
    out: dict = {"mlflow_run_id": run_id, "models_dir": None, "skipped": None, "models": []}
    note = decodings_note(cam)
    if note is not None:
        context.log.warning(note)
    try:
        store, labels = open_store(decoded_frames), load_labels(reference_labels)
        models_dir = artifacts.path(cam.camera_id, "specialized_models", "models")
        reason = stages.fallback_reason(labels)
        if reason is not None:
            out["skipped"] = reason
            context.log.warning(f"no specialized models trained: {reason}")
            return dg.Output(out, metadata={"skipped": reason, **mlflow_link(run_id)})
        results = stages.train(
            dataclasses.replace(cam, training=_training(config, cam)),
            store,
            labels,
            models_dir,
            logger_factory=mlflow.logger_factory(run_id) if run_id else None,
        )
        seg = labels.segments.threshold.indices()
        frames = np.asarray(store.frames(model_view(labels.query))[seg])
        fps = _model_fps([r.model for r in results], frames)
        if run_id:
            mlflow.log_variants(run_id, results, fps)
    except BaseException:
        end_failed(mlflow, run_id)
        raise
    rows = [
        {
            "name": r.model.name,
            "val_accuracy": _finite_or_none(r.val_accuracy),
            "fps": fps[r.model.name],
            "train_seconds": float(r.train_seconds),
            "epochs": int(r.epochs),
        }
        for r in results
    ]
    for r in rows:
        acc = "n/a" if r["val_accuracy"] is None else f"{100 * r['val_accuracy']:.1f}%"
        context.log.info(
            f"variant {r['name']}: {r['epochs']} epochs in {r['train_seconds']:.1f} s, val accuracy {acc}, "
            f"{r['fps']:.0f} frames/s"
        )
    out.update(models_dir=str(models_dir), models=rows)
    table = md_table(
        rows,
        [("name", "variant"), ("val_accuracy", "val accuracy"), ("fps", "frames/s"),
         ("train_seconds", "train s"), ("epochs", "epochs")],
    )  # fmt: skip
    best = max((r for r in rows if r["val_accuracy"] is not None), key=lambda r: r["val_accuracy"], default=None)
    return dg.Output(
        out,
        metadata={
            "models_dir": dg.MetadataValue.path(str(models_dir)),
            "variants": dg.MetadataValue.md(table),
            "n_variants": len(rows),
            "best_val_accuracy": best["val_accuracy"] if best else None,
            "train_seconds_total": sum(r["train_seconds"] for r in rows),
            **mlflow_link(run_id),
        },
    )


@dg.asset(**ASSET_KW, kinds={"scikitlearn"})
def difference_detectors(
    context: dg.AssetExecutionContext,
    decoded_frames: dict,
    reference_labels: dict,
    cameras: CameraRegistry,
    artifacts: ArtifactStore,
) -> dg.Output[dict]:
    """Fit every difference detector (global / blocked, against the background or an earlier frame).

    Logged to MLflow by ``optimized_cascade``, which measures their costs and owns the training run by then.
    """
    from noscope_core.flows import stages
    from noscope_core.models import difference_artifact

    cam = cameras.get(context.partition_key)
    store, labels = open_store(decoded_frames), load_labels(reference_labels)
    reason = stages.fallback_reason(labels)
    if reason is not None:
        context.log.warning(f"no difference detectors fitted: {reason}")
        return dg.Output({"dd_dir": None, "skipped": reason, "detectors": []}, metadata={"skipped": reason})
    dd_dir = artifacts.path(cam.camera_id, "difference_detectors", "detectors")
    dds = difference_artifact.fit_difference(store, labels, dd_dir)
    context.log.info(f"fitted {len(dds)} difference detectors: {', '.join(dd.spec.name for dd in dds)}")
    rows = [_dd_row(dd) for dd in dds]
    return dg.Output(
        {"dd_dir": str(dd_dir), "skipped": None, "detectors": rows},
        metadata={
            "dd_dir": dg.MetadataValue.path(str(dd_dir)),
            "n_detectors": len(rows),
            "detectors": dg.MetadataValue.md(md_table(rows, [(k, k) for k in rows[0]] if rows else [("name", "name")])),
        },
    )


def _dd_row(dd) -> dict:
    spec = dd.spec.to_dict() if hasattr(dd.spec, "to_dict") else {"name": dd.spec.name, "reference": dd.spec.reference}
    return {"name": dd.spec.name, **{k: v for k, v in spec.items() if k != "name"}}
