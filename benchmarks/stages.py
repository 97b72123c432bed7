"""Prepare one camera the way ``noscope query`` does: decode, label, train, fit DDs, optimize — timing each stage."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.cameras import BenchCamera
from noscope_core import workflow
from noscope_core.spec import Targets, TrainingOptions


@dataclass
class Prepared:
    """Everything the method runs need for one camera, plus what each preparation stage cost."""

    camera: BenchCamera
    store: Any  # FrameStore
    labels: Any  # workflow.LabelSet
    detector: Any  # ReferenceDetector
    models: list
    dds: list
    artifact: dict  # CascadeArtifact.to_dict()
    cascade: Any  # noscope_core.cascade.Cascade
    work: Path
    seconds: dict[str, float] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def cascade_json(self) -> Path:
        return self.work / "cascade.json"

    @property
    def models_dir(self) -> Path:
        return self.work / "models"

    @property
    def dd_dir(self) -> Path:
        return self.work / "difference"


def prepare(
    camera: BenchCamera,
    home: Path,
    max_fnr: float,
    max_fpr: float,
    max_epochs: int,
    log=print,
    models: list[str] | None = None,
) -> Prepared:
    """Run every stage before the query; the frame store and reference detections are cached across runs,
    the models, difference detectors and cascade are rebuilt every run so they reflect the current code."""
    from noscope_core.errors import ArtifactError
    from noscope_core.framestore import FrameStore, build_frame_store
    from noscope_core.video import probe_video

    spec = camera.spec(Targets(max_fnr, max_fpr), TrainingOptions(max_epochs=max_epochs, models=models or None))
    seconds: dict[str, float] = {}
    notes: dict[str, Any] = {}
    info = probe_video(camera.video)
    view = workflow.model_view(camera.query)
    detector = camera.make_detector()
    camera.query.validate_class(detector.class_names)

    store_root = home / "bench" / "frames" / f"{camera.name}-{info.fingerprint[:16]}"
    try:
        reused = FrameStore.open(store_root).has_view(view)
    except ArtifactError:
        reused = False
    t0 = time.perf_counter()
    store = build_frame_store(camera.video, store_root, views=[view], progress=True)
    seconds["decode_store"] = time.perf_counter() - t0
    notes["store_reused"] = reused
    notes["store_build_seconds"] = float(store.meta.get("build_seconds", 0.0))
    notes["store_decode_fps"] = float(store.meta.get("decode_fps", 0.0))
    log(f"  frame store: {store.n_frames:,} frames ({'reused' if notes['store_reused'] else 'built'})")

    t0 = time.perf_counter()
    labels = workflow.label(
        store,
        detector,
        spec.query,
        spec.split.fractions,
        ("train", "threshold", "test"),
        cache_root=home / "cache" / "detections",
    )
    seconds["label"] = time.perf_counter() - t0
    notes["frames_detected_now"] = int(labels.frames_detected)
    notes["positive_rates"] = labels.positive_rates()
    notes["segments"] = labels.segments.to_dict()
    log(
        f"  labels: {labels.frames_detected:,} frames run through {detector.name} now, positive rate "
        + ", ".join(f"{k} {100 * v:.1f}%" for k, v in notes["positive_rates"].items())
    )
    workflow.check_labels(labels, "train")
    workflow.check_labels(labels, "threshold")

    work = home / "bench" / "work" / f"{camera.name}-{info.fingerprint[:16]}-{camera.query.key()}"
    t0 = time.perf_counter()
    specs = workflow.model_family(spec.training.models)
    results = workflow.train(
        store, labels, work / "models", specs=specs, max_epochs=spec.training.max_epochs, seed=spec.training.seed
    )
    seconds["train"] = time.perf_counter() - t0
    models = [r.model for r in results]
    notes["models"] = {
        r.model.name: {"val_accuracy": r.val_accuracy, "epochs": r.epochs, "train_seconds": r.train_seconds}
        for r in results
    }
    log(f"  trained {len(models)} specialized models in {seconds['train']:.1f} s")

    t0 = time.perf_counter()
    dds = workflow.fit_difference(store, labels, work / "difference")
    seconds["fit_difference"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    art = workflow.optimize(
        store,
        labels,
        models,
        dds,
        spec.targets.max_fnr,
        spec.targets.max_fpr,
        out_path=work / "cascade.json",
        models_dir=work / "models",
        dd_dir=work / "difference",
    )
    seconds["optimize"] = time.perf_counter() - t0
    info_dict = art.to_dict()
    log(f"  cascade: {info_dict['best']['describe']}" + ("  [FELL BACK]" if info_dict["fell_back"] else ""))
    cascade = workflow.build_cascade(info_dict, detector, work / "models", work / "difference")
    return Prepared(camera, store, labels, detector, models, dds, info_dict, cascade, work, seconds, notes)
