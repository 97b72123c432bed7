"""What training leaves in MLflow: a Lightning logger on each variant's child run, then each variant's and each
difference detector's child run filled with its spec, figures, curves and fitted files."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from noscope_core.common.errors import ArtifactError
from noscope_core.present import units
from pipelines.mlflow_client import finish_run, is_finite, json_fallback, log_batch, now_ms
from pipelines.mlflow_runs import create_child, find_children, fresh_child, log_params


def variant_logger_factory(client, uri: str, experiment: str, parent_run_id: str) -> Callable[[Any], Any]:
    """For ``train_models``: spec -> Lightning ``MLFlowLogger`` on the variant's one fresh child run, which
    :func:`log_variants` later finds by its tags and fills."""

    def make_logger(spec: Any):
        from pytorch_lightning.loggers import MLFlowLogger

        run_id = fresh_child(client, parent_run_id, "variant", name_of(spec))
        # tracking_uri must be explicit: the logger's default is a ./mlruns file store MLflow >= 3.13 refuses
        return MLFlowLogger(experiment_name=experiment, tracking_uri=uri, run_id=run_id)

    return make_logger


def log_variants(client, parent_run_id: str, results: Sequence[Any], fps_by_model: dict[str, float]) -> None:
    """One child run per TrainResult: architecture params, loss curves, val accuracy, frames/s, train time,
    and the state dict + JSON config as artifacts."""
    from mlflow.entities import Metric

    for r in results:
        model = r.model
        name = model.name
        existing = find_children(client, parent_run_id, "variant", name)
        run_id = existing[0].info.run_id if existing else create_child(client, parent_run_id, "variant", name)
        spec = as_dict(getattr(model, "spec", None))
        log_params(client, run_id, spec, skip_existing=True)
        now = now_ms()
        fps = fps_by_model.get(name)
        metrics = {
            "final_val_accuracy_pct": units.pct_value(getattr(r, "val_accuracy", None)),
            "final_val_loss": _rounded(getattr(r, "val_loss", None), 4),
            "train_seconds": _rounded(getattr(r, "train_seconds", None), 1),
            "epochs": getattr(r, "epochs", None),
            "fps": units.fps_value(fps),
            "cost_ms": units.ms_value(1000.0 / fps) if fps else None,
        }
        info = getattr(model, "info", None) or {}
        metrics.update({k: info.get(k) for k in ("best_epoch", "train_frames")})
        metrics["pos_weight"] = _rounded(info.get("pos_weight"), 3)
        if hasattr(getattr(model, "spec", None), "approx_mflops"):
            metrics["approx_mflops"] = _rounded(model.spec.approx_mflops(), 2)
        batch = [Metric(k, float(v), now, 0) for k, v in metrics.items() if is_finite(v)]
        # Curves Lightning already logged into this run are not logged twice.
        have = set(client.get_run(run_id).data.metrics)
        for key, points in curves(getattr(r, "history", None)).items():
            if key not in have:
                batch += [Metric(key, float(v), now, int(step)) for step, v in points if is_finite(v)]
        log_batch(client, run_id, metrics=batch)
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            if hasattr(model, "save"):
                model.save(tmp_path / f"{name}.pt")
            config = {
                "name": name,
                "spec": spec,
                **{k: v for k, v in metrics.items() if v is not None},
                "info": info,
                "history": getattr(r, "history", None),
            }
            (tmp_path / "config.json").write_text(json.dumps(config, indent=2, default=json_fallback))
            client.log_artifacts(run_id, tmp, "model")
        finish_run(client, run_id)


def log_difference(client, parent_run_id: str, detectors: Sequence[Any], costs_ms: Mapping[str, float]) -> None:
    """One child run per difference detector: its spec as params, its cost (ms, frames/s), the fitted detector."""
    from mlflow.entities import Metric

    for dd in detectors:
        name = name_of(dd.spec)
        run_id = fresh_child(client, parent_run_id, "difference", name)
        log_params(client, run_id, as_dict(dd.spec))
        ms = costs_ms.get(name)
        values = {"cost_ms": units.ms_value(ms), "fps": units.fps_value(1000.0 / ms) if ms else None}
        now = now_ms()
        log_batch(client, run_id, metrics=[Metric(k, float(v), now, 0) for k, v in values.items() if is_finite(v)])
        if hasattr(dd, "save"):
            with tempfile.TemporaryDirectory() as tmp:
                dd.save(Path(tmp) / f"{name}.npz")
                client.log_artifacts(run_id, tmp, "detector")
        finish_run(client, run_id)


def name_of(spec: Any) -> str:
    name = getattr(spec, "name", None)
    if not name:
        raise ArtifactError(f"{type(spec).__name__} has no name", "model and detector specs need a .name")
    return str(name)


def as_dict(obj: Any) -> dict:
    if obj is None:
        return {}
    if hasattr(obj, "to_dict"):
        return dict(obj.to_dict())
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    return dict(obj) if isinstance(obj, Mapping) else {}


def curves(history: Any) -> dict[str, list[tuple[int, float]]]:
    """Per-epoch curves from a TrainResult history: a list of per-epoch dicts, or a dict of per-epoch lists."""
    out: dict[str, list[tuple[int, float]]] = {}
    if isinstance(history, Mapping):
        for key, values in history.items():
            if key != "epoch" and isinstance(values, Sequence) and not isinstance(values, str):
                epochs = history.get("epoch")
                steps = epochs if isinstance(epochs, Sequence) and len(epochs) == len(values) else range(len(values))
                out[str(key)] = [(int(s), v) for s, v in zip(steps, values, strict=False)]
    elif isinstance(history, Sequence):
        for i, row in enumerate(history):
            if isinstance(row, Mapping):
                step = int(row.get("epoch", i))
                for key, v in row.items():
                    if key != "epoch":
                        out.setdefault(str(key), []).append((step, v))
    return out


def _rounded(value: Any, digits: int) -> float | None:
    return round(float(value), digits) if is_finite(value) else None
