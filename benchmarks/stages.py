"""Prepare one camera the way ``noscope query`` does: decode, label, train, fit DDs, optimize — timing each stage."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.cameras import BenchCamera
from noscope_core.common.artifacts import FINGERPRINT_CHARS
from noscope_core.common.errors import ArtifactError
from noscope_core.flows import stages
from noscope_core.optimizer import cascade_artifact
from noscope_core.optimizer.cascade_artifact import CascadeArtifact
from noscope_core.reference.label_artifact import ALL_SEGMENTS
from noscope_core.spec.camera import DEFAULT_CONFIDENCE, Targets, TrainingOptions
from noscope_core.video.framestore import FrameStore
from noscope_core.video.probe import probe_video
from noscope_core.video.views import model_view


@dataclass
class Prepared:
    """Everything the method runs need for one camera, plus what each preparation stage cost."""

    camera: BenchCamera
    store: Any  # FrameStore
    labels: Any  # label_artifact.LabelSet
    detector: Any  # ReferenceDetector
    models: list
    dds: list
    artifact: CascadeArtifact
    cascade: Any  # noscope_core.cascade.execute.Cascade
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
    confidence: float | None = DEFAULT_CONFIDENCE,
    certify: bool = True,
) -> Prepared:
    """Run every stage before the query; the frame store and reference detections are cached across runs,
    the models, difference detectors and cascade are rebuilt every run so they reflect the current code."""
    spec = camera.spec(
        Targets(max_fnr, max_fpr, confidence), TrainingOptions(max_epochs=max_epochs, models=models or None)
    )
    seconds: dict[str, float] = {}
    notes: dict[str, Any] = {}
    info = probe_video(camera.video)
    detector = camera.make_detector()
    spec.query.validate_class(detector.class_names)

    key = f"{camera.name}-{info.fingerprint[:FINGERPRINT_CHARS]}"
    store_root = home / "bench" / "frames" / key
    try:
        reused = FrameStore.open(store_root).has_view(model_view(spec.query))
    except ArtifactError:
        reused = False
    t0 = time.perf_counter()
    store = stages.decode(spec, store_root)
    seconds["decode_store"] = time.perf_counter() - t0
    notes["store_reused"] = reused
    notes["store_build_seconds"] = float(store.meta.get("build_seconds", 0.0))
    notes["store_decode_fps"] = float(store.meta.get("decode_fps", 0.0))
    log(f"  frame store: {store.n_frames:,} frames ({'reused' if notes['store_reused'] else 'built'})")

    t0 = time.perf_counter()
    labels = stages.label(spec, store, detector, ALL_SEGMENTS, cache_root=home / "cache" / "detections")
    seconds["label"] = time.perf_counter() - t0
    notes["frames_detected_now"] = int(labels.frames_detected)
    notes["positive_rates"] = labels.positive_rates()
    notes["segments"] = labels.segments.to_dict()
    log(
        f"  labels: {labels.frames_detected:,} frames run through {detector.name} now, positive rate "
        + ", ".join(f"{k} {100 * v:.1f}%" for k, v in notes["positive_rates"].items())
    )

    work = home / "bench" / "work" / f"{key}-{spec.query.key()}"
    prepared = stages.prepare_cascade(spec, store, labels, work, allow_fallback=False, certify=certify)
    seconds.update(prepared.seconds)
    notes["models"] = {
        r.model.name: {"val_accuracy": r.val_accuracy, "epochs": r.epochs, "train_seconds": r.train_seconds}
        for r in prepared.train_results
    }
    log(f"  trained {len(prepared.models)} specialized models in {seconds['train']:.1f} s")
    art = prepared.artifact
    log(f"  cascade: {art.best.describe()}" + ("  [FELL BACK]" if art.fell_back else ""))
    cascade = cascade_artifact.load_cascade(art, detector, prepared.models_dir, prepared.dd_dir)
    return Prepared(
        camera,
        store,
        labels,
        detector,
        list(prepared.models),
        list(prepared.dds),
        art,
        cascade,
        work,
        seconds,
        notes,
    )
