"""Turn reference detections into per-frame binary labels for a query (with NoScope's label smoothing)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from noscope_core.reference.detection import Detection
from noscope_core.spec.query import Query


@dataclass(frozen=True)
class FrameLabels:
    """Per-frame reference labels for one query over ``frame_index``.

    ``score`` is the best matching detection score (0 when none), ``raw`` thresholds it at the query's
    ``min_score``, ``label`` is ``raw`` after temporal smoothing — the truth the cascade must mimic.
    """

    frame_index: np.ndarray  # int64 (N,)
    score: np.ndarray  # float32 (N,)
    raw: np.ndarray  # bool (N,)
    label: np.ndarray  # bool (N,)

    @property
    def positive_rate(self) -> float:
        return float(self.label.mean()) if len(self.label) else 0.0

    def subset(self, mask_or_slice) -> FrameLabels:
        return FrameLabels(
            self.frame_index[mask_or_slice],
            self.score[mask_or_slice],
            self.raw[mask_or_slice],
            self.label[mask_or_slice],
        )


def match_score(detections: Sequence[Detection], query: Query) -> float:
    """Best score among detections of the query's class whose box centre lies in the region (0 if none)."""
    best = 0.0
    for det in detections:
        if det.class_name != query.object_class:
            continue
        if query.roi is not None and not query.roi.contains(det.cx, det.cy):
            continue
        best = max(best, float(det.score))
    return best


def frame_label(detections: Sequence[Detection], query: Query) -> bool:
    """The unsmoothed label of one frame, as the cascade computes it when it asks the reference."""
    return match_score(detections, query) >= query.min_score


def smooth_labels(labels: np.ndarray, window: int) -> np.ndarray:
    """Centred majority vote over ``window`` frames (odd); removes flicker shorter than window/2."""
    labels = np.asarray(labels, dtype=bool)
    if window <= 1 or len(labels) == 0:
        return labels.copy()
    half = window // 2
    padded = np.pad(labels.astype(np.int32), half, mode="edge")
    sums = np.convolve(padded, np.ones(window, dtype=np.int32), mode="valid")
    return sums > half


def label_frames(
    frame_index: Sequence[int] | np.ndarray, detections: Sequence[Sequence[Detection]], query: Query
) -> FrameLabels:
    """Label each frame for ``query`` from its detections; frames are consecutive in ``frame_index``."""
    if len(frame_index) != len(detections):
        raise ValueError("one detection list per frame is required")
    score = np.array([match_score(d, query) for d in detections], dtype=np.float32)
    raw = score >= query.min_score
    return FrameLabels(
        frame_index=np.asarray(frame_index, dtype=np.int64),
        score=score,
        raw=raw,
        label=smooth_labels(raw, query.smooth_frames),
    )
