"""The NoScope stages as plain functions over artifact folders: decode → label → train → optimize → query.

Both the ``noscope`` CLI and the Dagster assets call these; each stage reads the previous stage's artifact
(passed in explicitly, never "the newest file in a folder") and writes its own atomically.
"""

from __future__ import annotations

import dataclasses
import json
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from noscope_core.atomic import atomic_dir, write_json, write_npz
from noscope_core.errors import ArtifactError, DegenerateLabelsError
from noscope_core.fetch import sha256_file
from noscope_core.labels import FrameLabels, label_frames
from noscope_core.query import Query
from noscope_core.spec import DEFAULT_MAX_EPOCHS, DEFAULT_SEED
from noscope_core.split import Segment, Segments, candidate_blocks, split_frames

# ---------------------------------------------------------------------------------------------- decode


def model_view(query: Query):
    """The small-frame input of the cheap models: the ROI crop when the query has one, else the whole frame."""
    from noscope_core.video import ViewSpec

    return ViewSpec(50, roi=query.roi) if query.roi is not None else ViewSpec(50)


def decode(video: str | Path, root: str | Path, query: Query, max_frames: int | None = None, progress: bool = True):
    """Decode ``video`` once into a frame store with the views every later stage needs."""
    from noscope_core.framestore import build_frame_store
    from noscope_core.video import ViewSpec

    views = [ViewSpec(50), ViewSpec(100)]
    if query.roi is not None:
        views.append(model_view(query))
    return build_frame_store(video, root, views=views, progress=progress, max_frames=max_frames)


# ---------------------------------------------------------------------------------------------- label


@dataclass(frozen=True)
class LabelSet:
    """Reference labels for the labelled frames of a store, with the split and the reference's cost."""

    labels: FrameLabels  # over every frame of the store; only ``labelled`` frames are meaningful
    labelled: np.ndarray  # bool (N,)
    segments: Segments
    reference_name: str
    reference_identity: str
    reference_ms: float
    query: Query
    frames_detected: int = 0
    seconds: float = 0.0

    def segment(self, name: str) -> FrameLabels:
        seg: Segment = getattr(self.segments, name)
        if not self.labelled[seg.indices()].all():
            raise ArtifactError(f"the {name} segment has no reference labels", "label it first (e.g. --evaluate)")
        return self.labels.subset(seg.indices())

    def has(self, name: str) -> bool:
        return bool(self.labelled[getattr(self.segments, name).indices()].all())

    def positive_rates(self) -> dict[str, float]:
        return {s.name: float(self.labels.label[s.indices()].mean()) for s in self.segments if self.has(s.name)}

    def save(self, path: str | Path) -> None:
        write_npz(
            path,
            frame_index=self.labels.frame_index,
            score=self.labels.score,
            raw=self.labels.raw,
            label=self.labels.label,
            labelled=self.labelled,
            meta=np.array(
                json.dumps(
                    {
                        "segments": self.segments.to_dict(),
                        "reference_name": self.reference_name,
                        "reference_identity": self.reference_identity,
                        "reference_ms": self.reference_ms,
                        "query": self.query.to_dict(),
                        "frames_detected": self.frames_detected,
                        "seconds": self.seconds,
                    }
                )
            ),
        )

    @classmethod
    def load(cls, path: str | Path) -> LabelSet:
        path = Path(path)
        if not path.is_file():
            raise ArtifactError(f"reference labels {path} not found", "materialize reference_labels first")
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                labels = FrameLabels(z["frame_index"], z["score"], z["raw"], z["label"])
                labelled = z["labelled"]
            segs = meta["segments"]
            return cls(
                labels=labels,
                labelled=labelled,
                segments=Segments.from_dict(segs),
                reference_name=meta["reference_name"],
                reference_identity=meta["reference_identity"],
                reference_ms=float(meta["reference_ms"]),
                query=Query.from_dict(meta["query"]),
                frames_detected=int(meta.get("frames_detected", 0)),
                seconds=float(meta.get("seconds", 0.0)),
            )
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
            # A truncated, foreign or pickle-bearing file (allow_pickle=False refuses object arrays).
            raise ArtifactError(
                f"reference labels {path} are unreadable: {exc}", "materialize reference_labels again"
            ) from None


def label(
    store,
    detector,
    query: Query,
    split: tuple[float, float, float],
    segments_to_label: Sequence[str] = ("train", "threshold"),
    cache_root: str | Path | None = None,
    progress: bool = True,
    blocks: int | None = None,
) -> LabelSet:
    """Run the reference on the chosen segments (through the detection cache) and label them for ``query``.

    ``blocks=None`` chooses the split automatically: NoScope's consecutive split first; when the object is
    absent from (or present in) every frame of its train or threshold segment although it does come and go
    in the labelled footage, ever more blocks are tried (see ``noscope_core.split``) and the first split whose
    train and threshold segments both see the object come and go is kept.
    """
    from noscope_core.detection_cache import DetectionCache
    from noscope_core.paths import cache_dir

    query.validate_class(detector.class_names)
    cache = DetectionCache(
        Path(cache_root) if cache_root else cache_dir() / "detections", store.info.fingerprint, detector.identity()
    )
    tries = [blocks] if blocks else (candidate_blocks(store.n_frames, split) or [1])
    start = time.perf_counter()
    detected = 0
    for b in tries:
        labels = _label_split(
            store, detector, query, split_frames(store.n_frames, split, b), segments_to_label, cache, progress
        )
        detected += labels.frames_detected
        if blocks or _informative(labels):
            break
    return dataclasses.replace(labels, frames_detected=detected, seconds=time.perf_counter() - start)


def _informative(labels: LabelSet) -> bool:
    return all(0.0 < float(labels.segment(n).label.mean()) < 1.0 for n in ("train", "threshold"))


def _label_split(store, detector, query: Query, segments: Segments, segments_to_label, cache, progress) -> LabelSet:
    from noscope_core.labels import smooth_labels
    from noscope_core.reference import run_reference

    wanted = np.zeros(store.n_frames, dtype=bool)
    for name in segments_to_label:
        wanted[getattr(segments, name).indices()] = True
    run = run_reference(store.info.path, detector, np.flatnonzero(wanted), cache=cache, progress=progress)
    dets: list[list] = [[] for _ in range(store.n_frames)]
    for i, d in zip(run.frame_index.tolist(), run.detections, strict=True):
        dets[i] = d
    raw = label_frames(np.arange(store.n_frames), dets, dataclasses.replace(query, smooth_frames=1))
    # Smoothing runs within each consecutive range, so no label leaks across a segment border.
    smoothed = np.zeros(store.n_frames, dtype=bool)
    for seg in segments:
        for a, b in seg.ranges:
            if wanted[a:b].all():
                smoothed[a:b] = smooth_labels(raw.raw[a:b], query.smooth_frames)
    if run.cost_ms_per_frame is None:
        raise ArtifactError(
            f"the cost of reference {detector.name!r} is unknown (all labels came from an old cache)",
            "clear the detection cache or pass --reference-fps",
        )
    return LabelSet(
        labels=FrameLabels(raw.frame_index, raw.score, raw.raw, smoothed & wanted),
        labelled=wanted,
        segments=segments,
        reference_name=detector.name,
        reference_identity=detector.identity(),
        reference_ms=float(run.cost_ms_per_frame),
        query=query,
        frames_detected=run.frames_detected,
        seconds=run.seconds,
    )


def check_labels(labels: LabelSet, segment: str = "train") -> None:
    """Raise DegenerateLabelsError when a segment's labels are all positive or all negative."""
    lab = labels.segment(segment).label
    rate = float(lab.mean())
    if rate in (0.0, 1.0):
        what = "present in every" if rate == 1.0 else "absent from every"
        raise DegenerateLabelsError(
            f"the reference finds {labels.query.describe()} {what} frame of the {segment} segment, "
            "so no cheap model can be trained",
            "change the object class or the region of interest (--roi) so the object comes and goes",
        )


# ---------------------------------------------------------------------------------------------- train


def _train_val_split(segment: Segment, val_fraction: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Time-ordered hold-out inside the train segment (the threshold segment stays unseen): the last
    ``val_fraction`` of each of its ranges, so a blocked split validates on every block. Positions into
    ``segment.indices()``."""
    train, val = [], []
    offset = 0
    for a, b in segment.ranges:
        n = b - a
        cut = int(round(n * (1 - val_fraction)))
        train.append(np.arange(offset, offset + cut))
        val.append(np.arange(offset + cut, offset + n))
        offset += n
    return np.concatenate(train), np.concatenate(val)


def model_family(names: Sequence[str] | None = None) -> list:
    """The default family's specs, or only the variants named (in that order); None or empty: the whole family."""
    from noscope_core.errors import QueryError
    from noscope_core.specialized import default_family

    family = list(default_family())
    if not names:
        return family
    by_name = {s.name: s for s in family}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise QueryError(f"unknown specialized-model variants {unknown}", f"choose from: {', '.join(by_name)}")
    return [by_name[n] for n in names]


def train(
    store,
    labels: LabelSet,
    out_dir: str | Path,
    specs: Sequence | None = None,
    max_epochs: int = DEFAULT_MAX_EPOCHS,
    seed: int = DEFAULT_SEED,
    logger_factory: Callable | None = None,
    progress: bool = False,
) -> list:
    """Train the specialized-model family on the train segment and save every variant (state dict + config)."""
    from noscope_core.specialized import default_family, train_models

    check_labels(labels, "train")
    view = model_view(labels.query)
    frames = np.asarray(store.frames(view)[labels.segments.train.indices()])
    y = labels.segment("train").label
    tr, va = _train_val_split(labels.segments.train)
    if y[tr].all() or not y[tr].any() or y[va].all() or not y[va].any():
        tr, va = np.arange(len(y)), None  # one class only in the hold-out: train on all, no early stopping
    results = train_models(
        list(specs or default_family()),
        frames[tr],
        y[tr],
        frames[va] if va is not None else None,
        y[va] if va is not None else None,
        max_epochs=max_epochs,
        seed=seed,
        logger_factory=logger_factory,
        progress=progress,
    )
    out_dir = Path(out_dir)
    index = []
    with atomic_dir(out_dir) as tmp:
        for r in results:
            r.model.save(tmp / f"{r.model.name}.pt")
            index.append(
                {
                    "name": r.model.name,
                    "spec": r.model.spec.to_dict(),
                    "file": f"{r.model.name}.pt",
                    "train_seconds": r.train_seconds,
                    "epochs": r.epochs,
                    "val_accuracy": r.val_accuracy,
                    "val_loss": r.val_loss,
                    "history": r.history,
                }
            )
        write_json(
            tmp / "index.json", {"query": labels.query.to_dict(), "query_key": labels.query.key(), "models": index}
        )
    return results


def load_models(models_dir: str | Path, query: Query | None = None) -> list:
    from noscope_core.specialized import SpecializedModel

    index = _read_index(Path(models_dir) / "index.json", "specialized models")
    if query is not None and index.get("query_key") != query.key():
        raise ArtifactError(
            f"the specialized models in {models_dir} were trained for another query",
            "re-run training (materialize specialized_models) for this query",
        )
    return [SpecializedModel.load(Path(models_dir) / m["file"]) for m in index["models"]]


def model_index(models_dir: str | Path) -> dict:
    return _read_index(Path(models_dir) / "index.json", "specialized models")


# ---------------------------------------------------------------------------------------------- difference


def fit_difference(store, labels: LabelSet, out_dir: str | Path, specs: Sequence | None = None) -> list:
    """Fit every difference detector on the train segment and save them."""
    from noscope_core.difference import DifferenceDetector, default_difference_specs

    view = model_view(labels.query)
    frames = np.asarray(store.frames(view)[labels.segments.train.indices()])
    y = labels.segment("train").label
    dds = [DifferenceDetector(spec).fit(frames, y) for spec in (specs or default_difference_specs())]
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        for dd in dds:
            dd.save(tmp / f"{dd.spec.name}.npz")
        write_json(
            tmp / "index.json",
            {
                "query_key": labels.query.key(),
                "detectors": [{"name": dd.spec.name, "file": f"{dd.spec.name}.npz"} for dd in dds],
            },
        )
    return dds


def load_difference(dd_dir: str | Path, query: Query | None = None) -> list:
    from noscope_core.difference import DifferenceDetector

    index = _read_index(Path(dd_dir) / "index.json", "difference detectors")
    if query is not None and index.get("query_key") != query.key():
        raise ArtifactError(f"the difference detectors in {dd_dir} were fitted for another query", "re-fit them")
    return [DifferenceDetector.load(Path(dd_dir) / d["file"]) for d in index["detectors"]]


# ---------------------------------------------------------------------------------------------- optimize


def default_skips(fps: float, max_seconds: float = 3.0) -> list[int]:
    """Frame skips from 1 up to a few seconds of video."""
    fps = fps if fps and fps > 0 else 30.0
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
    from noscope_core.costs import measure_stage_costs
    from noscope_core.optimizer import optimize as search

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
        frames[: min(len(frames), 512)],
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
        model_files=_hashes(models_dir, "*.pt") if models_dir else {},
        dd_files=_hashes(dd_dir, "*.npz") if dd_dir else {},
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
    from noscope_core.cascade import CascadeConfig
    from noscope_core.costs import StageCosts
    from noscope_core.optimizer import Candidate, OptimizationResult

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


def _hashes(folder: str | Path, pattern: str) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted(Path(folder).glob(pattern))}


def _read_index(path: Path, what: str) -> dict:
    if not path.is_file():
        raise ArtifactError(f"{what} index {path} not found", "materialize that stage first")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{what} index {path} is corrupt: {exc}", "re-run that stage") from None


# ---------------------------------------------------------------------------------------------- query


def load_cascade_json(path: str | Path) -> dict:
    return _read_index(Path(path), "optimized cascade")


def build_cascade(cascade: dict, detector, models_dir: str | Path | None, dd_dir: str | Path | None):
    """Rebuild the chosen cascade from its artifact; refuse stale pieces (other query, other reference, changed files)."""
    from noscope_core.cascade import Cascade, CascadeConfig
    from noscope_core.video import ViewSpec

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
    from noscope_core.difference import DifferenceDetector
    from noscope_core.specialized import SpecializedModel

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


@dataclass(frozen=True)
class QueryResult:
    """What a query answers, in the exact JSON shape of ``noscope query --json``."""

    data: dict

    def to_json(self) -> dict:
        return self.data


def run_query(
    cascade,
    cascade_info: dict,
    store,
    segment: Segment,
    video: str | Path,
    truth: np.ndarray | None = None,
    e2e: bool = True,
) -> QueryResult:
    """Run the cascade over ``segment`` of the store (decode excluded), then streaming over the video (decode
    included), and report speed against the reference and, with ``truth``, the error against it."""
    from noscope_core.evaluate import error_rates
    from noscope_core.reference import measure_cost_ms
    from noscope_core.video import read_frames

    idx = segment.indices()
    frames = np.asarray(store.frames(cascade.view)[idx])
    run = cascade.run_frames(frames, idx, fetch_full=lambda ii: read_frames(video, ii))
    # Speed-ups are ratios measured in this one run: the reference is timed now, beside the cascade (its
    # cost from labelling time may come from a cache filled on a busier or quieter machine).
    ref_ms = measure_cost_ms(video, cascade.reference, idx, n=16) or float(cascade_info["costs"]["reference_ms"])
    reference_fps = 1000.0 / ref_ms
    e2e_labels, e2e_fps, reference_fps_e2e = None, None, None
    if e2e:
        # The reference on every frame must decode every frame: decode-only speed over the segment, plus it.
        reference_fps_e2e = 1000.0 / (ref_ms + 1000.0 / _decode_fps(video, segment))
        if cascade.config.is_reference_only:
            # the fallback cascade is the reference on every frame: its end-to-end rate is the reference's own,
            # instead of running the detector over the whole segment a second time
            e2e_fps = reference_fps_e2e
        else:
            # streaming over the video itself, range by range: decode (only of the frames the cascade
            # evaluates) is included
            runs = [cascade.run_video(video, start=a, stop=b) for a, b in segment.ranges]
            e2e_labels = np.concatenate([r.labels for r in runs])
            e2e_fps = sum(len(r.labels) for r in runs) / max(sum(r.seconds["total"] for r in runs), 1e-9)
    rates = error_rates(run.labels, truth) if truth is not None else None
    intervals = run.intervals(store.fps)
    data = {
        "video": str(video),
        "object": cascade.query.object_class,
        "roi": list(cascade.query.roi.as_tuple()) if cascade.query.roi else None,
        "query": cascade.query.to_dict(),
        "frames_test": int(len(segment)),
        "test_segment": [segment.start, segment.stop],
        "test_ranges": [list(r) for r in segment.ranges],
        "reference": cascade_info["reference"]["name"],
        "reference_fps": reference_fps,
        "reference_fps_e2e": reference_fps_e2e,
        "cascade_fps": float(run.fps),
        "speedup": float(run.fps) / reference_fps,
        "cascade_fps_e2e": e2e_fps,
        "speedup_e2e": e2e_fps / reference_fps_e2e if e2e_fps else None,
        "fnr": float(rates.fnr) if rates else None,
        "fpr": float(rates.fpr) if rates else None,
        "reference_call_fraction": float(run.reference_call_fraction),
        "reference_calls": int(run.reference_calls),
        "seconds": {k: float(v) for k, v in run.seconds.items()},
        "cascade": cascade_info["best"],
        "fell_back": cascade_info.get("fell_back", False),
        "fallback_reason": cascade_info.get("reason"),
        "targets": cascade_info["targets"],
        "frontier": cascade_info["frontier"],
        "intervals": [[iv.start_frame, iv.end_frame] for iv in intervals],
        "intervals_s": [[iv.start_s, iv.end_s] for iv in intervals],
        "positive_frames": int(run.labels.sum()),
    }
    if e2e_labels is not None and len(e2e_labels) == len(run.labels):
        # streaming and stored frames go through the same preprocess: the two runs should agree
        data["labels_agree_e2e"] = float(np.mean(e2e_labels == run.labels))
    return QueryResult(data)


def _decode_fps(video: str | Path, segment: Segment) -> float:
    """Decode-only frames/s over the segment's ranges (every frame grabbed and retrieved)."""
    from noscope_core.video import DecodeStats, iter_frames

    stats = DecodeStats()
    start = time.perf_counter()
    n = 0
    for a, b in segment.ranges:
        for batch in iter_frames(video, start=a, stop=b, stats=stats):
            n += len(batch.indices)
    return n / max(time.perf_counter() - start, 1e-9)
