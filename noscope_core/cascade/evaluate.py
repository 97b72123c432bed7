"""How well a cascade's labels match the reference: error rates, and positive intervals with timestamps.

Conventions (NoScope's): the false-negative rate is over frames the reference calls positive, the
false-positive rate over frames it calls negative. A segment with no positives has FNR 0 (nothing could be
missed) and one with no negatives has FPR 0; ``positives``/``negatives`` are reported so a caller can tell
"no errors" from "nothing to err on".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class ErrorRates:
    fnr: float  # fn / positives (0 when there are no positives)
    fpr: float  # fp / negatives (0 when there are no negatives)
    fn: int
    fp: int
    positives: int
    negatives: int

    @property
    def error(self) -> float:
        """The worse of the two rates: the quantity the optimizer's frontier trades against cost."""
        return max(self.fnr, self.fpr)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Interval:
    """A run of positive frames ``[start_frame, end_frame)``; seconds are ``None`` when the frame rate is unknown."""

    start_frame: int
    end_frame: int
    start_s: float | None
    end_s: float | None

    @property
    def n_frames(self) -> int:
        return self.end_frame - self.start_frame

    def to_dict(self) -> dict:
        return asdict(self)


def error_rates(pred: np.ndarray, truth: np.ndarray) -> ErrorRates:
    """False-negative and false-positive rates of ``pred`` against ``truth`` (both per-frame booleans)."""
    pred = np.asarray(pred, dtype=bool).reshape(-1)
    truth = np.asarray(truth, dtype=bool).reshape(-1)
    if pred.shape != truth.shape:
        raise ValueError(f"predictions cover {len(pred)} frames but the truth covers {len(truth)}")
    positives = int(truth.sum())
    negatives = len(truth) - positives
    fn = int(np.count_nonzero(truth & ~pred))
    fp = int(np.count_nonzero(~truth & pred))
    return ErrorRates(
        fnr=fn / positives if positives else 0.0,
        fpr=fp / negatives if negatives else 0.0,
        fn=fn,
        fp=fp,
        positives=positives,
        negatives=negatives,
    )


def positive_intervals(labels: np.ndarray, frame_index: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Runs of positive frames as half-open ``[start, end)`` source frame numbers.

    ``frame_index`` maps positions to source frames (default: positions themselves). A gap in it ends a
    run: frames that were never labelled are not claimed positive.
    """
    labels = np.asarray(labels, dtype=bool).reshape(-1)
    index = np.arange(len(labels), dtype=np.int64) if frame_index is None else np.asarray(frame_index, np.int64)
    if index.shape != labels.shape:
        raise ValueError(f"frame_index has {len(index)} entries but there are {len(labels)} labels")
    if not labels.any():
        return []
    pos = np.flatnonzero(labels)
    # a new run starts where the previous positive is not the previous position or not the previous frame
    breaks = (np.diff(pos) != 1) | (np.diff(index[pos]) != 1)
    starts = np.concatenate([[0], np.flatnonzero(breaks) + 1])
    ends = np.concatenate([starts[1:], [len(pos)]]) - 1
    return [(int(index[pos[s]]), int(index[pos[e]]) + 1) for s, e in zip(starts, ends, strict=True)]


def intervals(labels: np.ndarray, frame_index: np.ndarray | None = None, fps: float | None = None) -> list[Interval]:
    """:func:`positive_intervals` with timestamps: frame ``f`` starts at ``f / fps`` seconds."""
    if fps is not None and not fps > 0:
        raise ValueError(f"frame rate must be positive, got {fps}")
    out = []
    for start, end in positive_intervals(labels, frame_index):
        start_s = start / fps if fps else None
        end_s = end / fps if fps else None
        out.append(Interval(start, end, start_s, end_s))
    return out
