"""The reference's labels over a frame store (``LabelSet``), how they are made, and when they are too
one-sided to train on: the one place that decides a camera falls back to the reference on every frame."""

from __future__ import annotations

import dataclasses
import json
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from noscope_core.common.atomic import write_npz
from noscope_core.common.errors import ArtifactError, DegenerateLabelsError
from noscope_core.common.paths import cache_dir
from noscope_core.reference.detect import ReferenceTiming, run_reference
from noscope_core.reference.detection_cache import DetectionCache
from noscope_core.reference.labels import FrameLabels, label_frames, smooth_labels
from noscope_core.spec.query import Query
from noscope_core.spec.split import Segment, Segments, candidate_blocks, split_frames

#: the segments the optimizer needs labelled; ``test`` is labelled too when the error is to be measured
FIT_SEGMENTS = ("train", "threshold")
ALL_SEGMENTS = ("train", "threshold", "test")


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
    reference_timing: str = ""  # how reference_ms was taken (``ReferenceTiming.how``)

    def timing(self) -> ReferenceTiming:
        """The reference's one measurement of this labelling, with its conditions."""
        return ReferenceTiming(self.reference_ms, self.reference_timing or "measured when labelling")

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
                        "reference_timing": self.reference_timing,
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
                reference_timing=str(meta.get("reference_timing", "")),
            )
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
            # A truncated, foreign or pickle-bearing file (allow_pickle=False refuses object arrays).
            raise ArtifactError(
                f"reference labels {path} are unreadable: {exc}", "materialize reference_labels again"
            ) from None


def label_segments(
    store,
    detector,
    query: Query,
    split: tuple[float, float, float],
    segments_to_label: Sequence[str] = FIT_SEGMENTS,
    cache_root: str | Path | None = None,
    progress: bool = True,
    blocks: int | None = None,
) -> LabelSet:
    """Run the reference on the chosen segments (through the detection cache) and label them for ``query``.

    ``blocks=None`` chooses the split automatically: NoScope's consecutive split first; when the object is
    absent from (or present in) every frame of its train or threshold segment although it does come and go
    in the labelled footage, ever more blocks are tried (see ``noscope_core.spec.split``) and the first split whose
    train and threshold segments both see the object come and go is kept.
    """
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
        reference_timing=run.cost_how,
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


def degenerate_reason(labels: LabelSet) -> str | None:
    """Why no cheap cascade can be built from these labels (the object never comes and goes in the train or
    threshold segment), or None. A reason means: the reference on every frame."""
    try:
        for segment in FIT_SEGMENTS:
            check_labels(labels, segment)
    except DegenerateLabelsError as err:
        return str(err)
    return None
