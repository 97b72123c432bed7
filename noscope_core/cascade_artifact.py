"""The optimized cascade as an artifact: the optimizer's choice on the threshold segment and everything needed to
rebuild and audit it (``cascade.json``), the reference-only cascade of last resort, and rebuilding either."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from noscope_core.artifacts import file_hashes, read_index
from noscope_core.atomic import write_json
from noscope_core.cascade import Cascade, CascadeConfig
from noscope_core.costs import StageCosts, measure_stage_costs
from noscope_core.difference import DifferenceDetector
from noscope_core.errors import ArtifactError
from noscope_core.fetch import sha256_file
from noscope_core.labelset import LabelSet
from noscope_core.optimizer import Candidate, OptimizationResult
from noscope_core.optimizer import optimize as search
from noscope_core.query import Query
from noscope_core.specialized import SpecializedModel
from noscope_core.video import ViewSpec
from noscope_core.views import model_view

#: frames/s assumed when the video does not say (skips are chosen in seconds of video)
FALLBACK_FPS = 30.0
#: threshold-segment frames on which each stage's cost is timed
COST_SAMPLE_FRAMES = 512


def default_skips(fps: float, max_seconds: float = 3.0) -> list[int]:
    """Frame skips from 1 up to a few seconds of video."""
    fps = fps if fps and fps > 0 else FALLBACK_FPS
    skips = {1, 2, 3, 5}
    for sec in (0.5, 1.0, 1.5, 2.0, 3.0):
        if sec <= max_seconds:
            skips.add(max(1, int(round(fps * sec))))
    return sorted(skips)


def _dd_scores_for(dd, frames: np.ndarray, skip: int) -> np.ndarray:
    if dd.spec.reference == "background":
        return dd.score(frames)
    out = np.full(len(frames), np.nan, dtype=np.float32)
    if len(frames) > skip:
        out[skip:] = dd.score(frames[skip:], previous=frames[:-skip])
    return out


@dataclass(frozen=True)
class CascadeArtifact:
    """The optimizer's choice and everything needed to rebuild and audit it."""

    result: Any  # optimizer.OptimizationResult
    costs: Any  # costs.StageCosts
    query: Query
    view: dict
    reference_name: str
    reference_identity: str
    max_fnr: float
    max_fpr: float
    skips: list[int]
    fps: float
    model_files: dict[str, str] = field(default_factory=dict)  # name -> sha256
    dd_files: dict[str, str] = field(default_factory=dict)
    fallback_reason: str | None = None
    optimize_seconds: float = 0.0
    confidence: float | None = None

    def to_dict(self) -> dict:
        res = self.result
        return {
            "query": self.query.to_dict(),
            "query_key": self.query.key(),
            "view": self.view,
            "reference": {"name": self.reference_name, "identity": self.reference_identity},
            "targets": {"max_fnr": self.max_fnr, "max_fpr": self.max_fpr, "confidence": self.confidence},
            "skips": self.skips,
            "fps": self.fps,
            "costs": {
                "dd_ms": self.costs.dd_ms,
                "model_ms": self.costs.model_ms,
                "reference_ms": self.costs.reference_ms,
            },
            "best": res.best.to_dict(),
            "frontier": [c.to_dict() for c in res.frontier],
            "fell_back": bool(res.fell_back or self.fallback_reason),
            "reason": self.fallback_reason or res.reason,
            "n_evaluated": res.n_evaluated,
            "model_files": self.model_files,
            "dd_files": self.dd_files,
            "optimize_seconds": self.optimize_seconds,
        }


def optimize(
    store,
    labels: LabelSet,
    models: Sequence,
    dds: Sequence,
    max_fnr: float,
    max_fpr: float,
    out_path: str | Path | None = None,
    skips: Sequence[int] | None = None,
    models_dir: str | Path | None = None,
    dd_dir: str | Path | None = None,
    fallback_reason: str | None = None,
    confidence: float | None = None,
) -> CascadeArtifact:
    """Score every cheap stage once on the threshold segment, measure stage costs, search the cascade space.

    ``confidence``: demand that the targets hold at that confidence (see ``optimizer.optimize``)."""
    start = time.perf_counter()
    view = model_view(labels.query)
    frames = np.asarray(store.frames(view)[labels.segments.threshold.indices()])
    truth = labels.segment("threshold").label
    skips = list(skips or default_skips(store.fps))
    model_scores = {m.name: m.predict_proba(frames) for m in models}
    dd_cache: dict[tuple[str, int], np.ndarray] = {}
    by_name = {dd.spec.name: dd for dd in dds}

    def dd_scores(name: str, skip: int) -> np.ndarray:
        dd = by_name[name]
        key = (name, 1 if dd.spec.reference == "background" else skip)
        if key not in dd_cache:
            dd_cache[key] = _dd_scores_for(dd, frames, skip)
        return dd_cache[key]

    costs = measure_stage_costs(
        frames[: min(len(frames), COST_SAMPLE_FRAMES)],
        {dd.spec.name: dd for dd in dds},
        {m.name: m for m in models},
        labels.reference_ms,
    )
    result = search(
        truth,
        model_scores,
        dd_scores,
        {dd.spec.name: dd.spec.reference for dd in dds},
        costs,
        max_fnr=max_fnr,
        max_fpr=max_fpr,
        skips=skips,
        confidence=confidence,
    )
    art = CascadeArtifact(
        result=result,
        costs=costs,
        query=labels.query,
        view=view.to_dict(),
        reference_name=labels.reference_name,
        reference_identity=labels.reference_identity,
        max_fnr=max_fnr,
        max_fpr=max_fpr,
        skips=skips,
        fps=store.fps,
        model_files=file_hashes(models_dir, "*.pt") if models_dir else {},
        dd_files=file_hashes(dd_dir, "*.npz") if dd_dir else {},
        fallback_reason=fallback_reason,
        optimize_seconds=time.perf_counter() - start,
        confidence=confidence,
    )
    if out_path is not None:
        write_json(out_path, art.to_dict())
    return art


def reference_only_artifact(
    labels: LabelSet, store, max_fnr: float, max_fpr: float, reason: str, out_path=None
) -> CascadeArtifact:
    """The cascade of last resort: the reference on every frame, with the reason nothing cheaper was possible."""
    cand = Candidate(CascadeConfig.reference_only(), 0.0, 0.0, labels.reference_ms, 1.0, 1.0)
    result = OptimizationResult(best=cand, frontier=[cand], fell_back=True, reason=reason, n_evaluated=1)
    art = CascadeArtifact(
        result=result,
        costs=StageCosts({}, {}, labels.reference_ms),
        query=labels.query,
        view=model_view(labels.query).to_dict(),
        reference_name=labels.reference_name,
        reference_identity=labels.reference_identity,
        max_fnr=max_fnr,
        max_fpr=max_fpr,
        skips=[1],
        fps=store.fps,
        fallback_reason=reason,
    )
    if out_path is not None:
        write_json(out_path, art.to_dict())
    return art


def load_cascade_json(path: str | Path) -> dict:
    return read_index(Path(path), "optimized cascade")


def build_cascade(cascade: dict, detector, models_dir: str | Path | None, dd_dir: str | Path | None):
    """Rebuild the chosen cascade from its artifact; refuse stale pieces (other query, other reference, changed files)."""
    query = Query.from_dict(cascade["query"])
    if cascade["reference"]["identity"] != detector.identity():
        raise ArtifactError(
            f"the cascade was optimized for reference {cascade['reference']['name']!r} with other weights or settings",
            "re-run the optimizer with this reference detector",
        )
    config = CascadeConfig.from_dict(cascade["best"]["config"])
    model = dd = None
    if config.model_name:
        model = _load_checked(
            models_dir, f"{config.model_name}.pt", cascade.get("model_files", {}), "specialized model"
        )
    if config.dd_name:
        dd = _load_checked(dd_dir, f"{config.dd_name}.npz", cascade.get("dd_files", {}), "difference detector")
    return Cascade(config, detector, query, ViewSpec.from_dict(cascade["view"]), dd=dd, model=model)


def _load_checked(folder, fname: str, hashes: dict[str, str], what: str):
    if folder is None:
        raise ArtifactError(f"the cascade needs the {what} {fname} but no folder was given")
    path = Path(folder) / fname
    if not path.is_file():
        raise ArtifactError(f"{what} {path} is missing", "re-run training and optimization")
    if hashes and hashes.get(fname) and hashes[fname] != sha256_file(path):
        raise ArtifactError(
            f"{what} {path} changed since the cascade was optimized (stale model)",
            "re-run the optimizer so the cascade matches the current models",
        )
    return SpecializedModel.load(path) if fname.endswith(".pt") else DifferenceDetector.load(path)
