"""The baselines a user would pick instead of a NoScope cascade, fitted and measured the same way.

* :class:`FrameSkipBaseline` runs the reference on every k-th frame and gives the frames in between the last
  answer. ``k`` is the largest skip whose labels meet the FNR/FPR targets on the threshold segment; with
  ``skips=(1,)`` (:meth:`FrameSkipBaseline.every_frame`) it is the naive baseline, the reference on every frame.
* :class:`MotionGateBaseline` puts an OpenCV MOG2 background subtractor in front of the reference: a frame whose
  foreground fraction is below a threshold is called absent, every other frame goes to the reference. The
  threshold is the largest one whose labels meet the targets on the threshold segment.

Both are fitted on the threshold segment's reference labels and run on the test segment by streaming the video
(one decoding pass), timing decode, gate and reference separately, so their frames/s with and without decode
compare directly with :meth:`noscope_core.cascade.execute.Cascade.run_video`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from noscope_core.cascade.evaluate import error_rates
from noscope_core.cascade.routing import CascadeConfig, simulate
from noscope_core.common.errors import DegenerateLabelsError, QueryError
from noscope_core.reference.detectors.base import ReferenceDetector
from noscope_core.reference.labels import frame_label
from noscope_core.spec.camera import DEFAULT_MAX_FNR, DEFAULT_MAX_FPR
from noscope_core.spec.query import Query, parse_target

#: skips searched by default: every frame up to three seconds of 30 fps video
DEFAULT_SKIPS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 45, 60, 90)


@dataclass(frozen=True)
class BaselineRun:
    """What a baseline said about a range of frames, and what it cost (seconds are measured wall time)."""

    name: str
    describe: str  # the fitted setting, e.g. "skip 3" or "MOG2 foreground >= 0.0123"
    frame_index: np.ndarray  # int64 (N,) source frame numbers
    labels: np.ndarray  # bool (N,)
    reference_calls: int
    #: decode, gate, reference, total; a reference with a declared cost is charged calls x that cost
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return len(self.frame_index)

    @property
    def reference_call_fraction(self) -> float:
        return self.reference_calls / self.n_frames if self.n_frames else 0.0

    @property
    def fps(self) -> float:
        """Frames covered per second spent outside decoding (gate + reference)."""
        return _rate(self.n_frames, self.seconds["total"] - self.seconds["decode"])

    @property
    def fps_e2e(self) -> float:
        """Frames covered per second of the whole streaming run, decoding included."""
        return _rate(self.n_frames, self.seconds["total"])


def _rate(n: int, seconds: float) -> float:
    if n == 0:
        return 0.0
    return n / seconds if seconds > 0 else float("inf")


def _check_truth(truth: np.ndarray) -> np.ndarray:
    truth = np.asarray(truth, dtype=bool).reshape(-1)
    if len(truth) == 0:
        raise QueryError("the threshold segment has no frames", "use a longer video or a larger threshold split")
    if truth.all() or not truth.any():
        what = "every" if truth.all() else "no"
        raise DegenerateLabelsError(
            f"the reference finds the object in {what} frame of the threshold segment, so no baseline can be fitted",
            "change the object class or the region of interest so the object comes and goes",
        )
    return truth


def _reference_labels(
    reference: ReferenceDetector, frames: Sequence[np.ndarray], indices: Sequence[int], query: Query
) -> tuple[np.ndarray, float, float]:
    """Labels from the reference, the seconds to charge for them, and charged minus measured seconds.

    A reference with a declared cost (synthetic truth, precomputed detections) is charged what it declared,
    exactly as the cascade charges it, so a baseline and a cascade compare like with like.
    """
    t0 = time.perf_counter()
    dets = reference.detect(list(frames) if reference.needs_pixels else [], [int(i) for i in indices])
    seconds = time.perf_counter() - t0
    charged = seconds
    if reference.declared_cost_ms is not None:
        charged = len(indices) * reference.declared_cost_ms / 1000.0
    return np.array([frame_label(d, query) for d in dets], dtype=bool), charged, charged - seconds


class FrameSkipBaseline:
    """Reference on every ``skip_``-th frame; skipped frames take the last evaluated frame's label."""

    def __init__(
        self, max_fnr: float = DEFAULT_MAX_FNR, max_fpr: float = DEFAULT_MAX_FPR, skips: Sequence[int] = DEFAULT_SKIPS
    ) -> None:
        self.max_fnr = max_fnr
        self.max_fpr = max_fpr
        self.skips = skips

    @classmethod
    def every_frame(cls) -> FrameSkipBaseline:
        """The naive baseline: the reference on every frame (exact by definition, nothing to fit)."""
        base = cls(skips=(1,))
        base.skip_ = 1
        base.threshold_fnr_, base.threshold_fpr_ = 0.0, 0.0
        return base

    @property
    def name(self) -> str:
        return "reference" if tuple(self.skips) == (1,) else "frame_skip"

    def fit(self, truth: np.ndarray, starts: Sequence[int] = (0,)) -> FrameSkipBaseline:
        """Choose the largest skip whose labels meet the targets on the threshold segment's labels ``truth``.

        ``starts`` are the positions in ``truth`` where a consecutive range of frames begins (a blocked split
        has several): skipping restarts there, as it does when each range is run. Skip 1 always qualifies (it
        reproduces the reference), so fitting never fails on valid labels.
        """
        truth = _check_truth(truth)
        bounds = _bounds(starts, len(truth))
        max_fnr, max_fpr = parse_target("max_fnr", self.max_fnr), parse_target("max_fpr", self.max_fpr)
        skips = sorted({int(s) for s in self.skips} | {1})
        if skips[0] < 1:
            raise QueryError(f"frame skips must be positive integers, got {self.skips!r}")
        self.skip_, self.threshold_fnr_, self.threshold_fpr_ = 1, 0.0, 0.0
        for skip in skips:
            labels = np.concatenate([simulate(CascadeConfig(skip=skip), truth[a:b], None, None)[0] for a, b in bounds])
            rates = error_rates(labels, truth)
            if rates.fnr <= max_fnr and rates.fpr <= max_fpr:
                self.skip_, self.threshold_fnr_, self.threshold_fpr_ = skip, rates.fnr, rates.fpr
        return self

    def describe(self) -> str:
        return "reference on every frame" if self.skip_ == 1 else f"reference on every {self.skip_}th frame"

    def run(
        self,
        video: str | Path,
        reference: ReferenceDetector,
        query: Query,
        start: int = 0,
        stop: int | None = None,
        batch_size: int = 32,
    ) -> BaselineRun:
        """Stream ``[start, stop)`` of ``video``, decoding only every ``skip_``-th frame fully."""
        from noscope_core.video.frames import iter_frames

        skip = self._fitted()
        t_start = time.perf_counter()
        seconds = dict.fromkeys(("decode", "gate", "reference"), 0.0)
        charged_extra = 0.0
        idx_parts, label_parts = [], []
        batches = iter_frames(video, start=start, stop=stop, step=skip, batch_size=batch_size)
        with _timed(batches, seconds) as decoded:
            for batch in decoded:
                labels, ref_s, extra_s = _reference_labels(reference, batch.frames, batch.indices, query)
                seconds["reference"] += ref_s
                charged_extra += extra_s
                idx_parts.append(np.asarray(batch.indices, dtype=np.int64))
                label_parts.append(labels)
        seconds["total"] = time.perf_counter() - t_start + charged_extra
        evaluated = np.concatenate(idx_parts) if idx_parts else np.zeros(0, np.int64)
        labels_eval = np.concatenate(label_parts) if label_parts else np.zeros(0, bool)
        frame_index, labels = _expand(evaluated, labels_eval, skip, stop)
        return BaselineRun(self.name, self.describe(), frame_index, labels, len(evaluated), seconds)

    def _fitted(self) -> int:
        if not hasattr(self, "skip_"):
            raise QueryError("the frame-skip baseline is not fitted", "call fit() on the threshold labels first")
        return self.skip_


@contextmanager
def _timed(batches, seconds: dict[str, float]) -> Iterator[Iterator]:
    """Decoded batches through the engine's prefetching decoder, the same reader as the cascade's streaming
    runs, adding the time waited for each one to ``seconds["decode"]``; the decoder thread stops on exit."""
    from noscope_core.video.prefetch import prefetch

    ahead = prefetch(batches)

    def waited() -> Iterator:
        while True:
            t0 = time.perf_counter()
            batch = next(ahead, None)
            seconds["decode"] += time.perf_counter() - t0
            if batch is None:
                return
            yield batch

    try:
        yield waited()
    finally:
        ahead.close()


def _bounds(starts: Sequence[int], n: int) -> list[tuple[int, int]]:
    """``[(a, b), ...]`` pieces of ``range(n)`` that begin at each of ``starts`` (sorted, first one 0)."""
    cuts = sorted({int(s) for s in starts} | {0})
    if cuts[-1] >= n or cuts[0] < 0:
        raise QueryError(f"range starts {list(starts)} must lie inside the {n} frames")
    return list(zip(cuts, [*cuts[1:], n], strict=True))


def _expand(
    evaluated: np.ndarray, labels_eval: np.ndarray, skip: int, stop: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame labels from evaluated frames: each covers itself and the skipped frames after it."""
    if len(evaluated) == 0:
        return evaluated, labels_eval
    first, last = int(evaluated[0]), int(evaluated[-1])
    end = last + skip if stop is None else max(last + 1, min(last + skip, stop))
    frame_index = np.arange(first, end, dtype=np.int64)
    owner = np.searchsorted(evaluated, frame_index, side="right") - 1
    return frame_index, labels_eval[owner]


class MotionGateBaseline:
    """OpenCV MOG2 foreground fraction on small frames in front of the reference.

    A frame whose foreground fraction is below ``threshold_`` is called absent; every other frame is sent to
    the reference. The subtractor starts fresh at the start of each range (fit and run alike), so the frames
    it flags while it learns the background go to the reference: a cost, never an error.
    """

    name = "motion_gate"

    def __init__(
        self,
        view,
        max_fnr: float = DEFAULT_MAX_FNR,
        max_fpr: float = DEFAULT_MAX_FPR,
        history: int = 500,
        var_threshold: float = 16.0,
    ) -> None:
        self.view = view  # noscope_core.video.views.ViewSpec the subtractor sees (e.g. the query's ROI at 50x50)
        self.max_fnr = max_fnr
        self.max_fpr = max_fpr
        self.history = history
        self.var_threshold = var_threshold

    def _subtractor(self) -> cv2.BackgroundSubtractorMOG2:
        return cv2.createBackgroundSubtractorMOG2(
            history=self.history, varThreshold=self.var_threshold, detectShadows=False
        )

    def scores(self, frames: np.ndarray, subtractor: cv2.BackgroundSubtractorMOG2 | None = None) -> np.ndarray:
        """Foreground fraction (0–1) of each small frame, in order, through one (fresh by default) subtractor."""
        sub = subtractor if subtractor is not None else self._subtractor()
        out = np.empty(len(frames), dtype=np.float64)
        for i, frame in enumerate(frames):
            mask = sub.apply(np.ascontiguousarray(frame))
            out[i] = np.count_nonzero(mask) / mask.size
        return out

    def fit(self, frames: np.ndarray, truth: np.ndarray, starts: Sequence[int] = (0,)) -> MotionGateBaseline:
        """Choose the largest foreground threshold meeting the targets on the threshold segment.

        ``frames`` are that segment's frames in ``view`` (in order), ``truth`` its reference labels, ``starts``
        the positions where a consecutive range begins (the subtractor restarts there, as at run time). Gated
        frames are called absent, so only the FNR can suffer; the reference decides the rest exactly.
        """
        truth = _check_truth(truth)
        if len(frames) != len(truth):
            raise QueryError(f"{len(frames)} frames but {len(truth)} labels for the threshold segment")
        max_fnr, max_fpr = parse_target("max_fnr", self.max_fnr), parse_target("max_fpr", self.max_fpr)
        fg = np.concatenate([self.scores(frames[a:b]) for a, b in _bounds(starts, len(truth))])
        # candidate thresholds: 0 (gate nothing) and midpoints above each distinct score
        values = np.unique(fg)
        candidates = np.concatenate([[0.0], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-9]])
        self.threshold_, self.threshold_fnr_, self.threshold_fpr_ = 0.0, 0.0, 0.0
        self.threshold_reference_fraction_ = 1.0
        for thr in candidates:  # ascending: the last feasible one gates the most frames
            labels = np.where(fg < thr, False, truth)
            rates = error_rates(labels, truth)
            if rates.fnr <= max_fnr and rates.fpr <= max_fpr:
                self.threshold_, self.threshold_fnr_, self.threshold_fpr_ = float(thr), rates.fnr, rates.fpr
                self.threshold_reference_fraction_ = float(np.mean(fg >= thr))
        return self

    def describe(self) -> str:
        self._fitted()
        return f"MOG2 foreground >= {self.threshold_:.4g} of {self.view.name} -> reference, else absent"

    def run(
        self,
        video: str | Path,
        reference: ReferenceDetector,
        query: Query,
        start: int = 0,
        stop: int | None = None,
        batch_size: int = 32,
    ) -> BaselineRun:
        """Stream ``[start, stop)`` of ``video``: decode, shrink, gate, and ask the reference for the rest."""
        from noscope_core.video.frames import iter_frames
        from noscope_core.video.shrink import preprocess

        thr = self._fitted()
        sub = self._subtractor()
        t_start = time.perf_counter()
        seconds = dict.fromkeys(("decode", "gate", "reference"), 0.0)
        idx_parts, label_parts, calls, charged_extra = [], [], 0, 0.0
        batches = iter_frames(video, start=start, stop=stop, batch_size=batch_size)
        with _timed(batches, seconds) as decoded:
            for batch in decoded:
                t0 = time.perf_counter()
                fg = self.scores(preprocess(batch.frames, self.view), sub)
                seconds["gate"] += time.perf_counter() - t0
                labels = np.zeros(len(fg), dtype=bool)
                send = np.flatnonzero(fg >= thr)
                if len(send):
                    labels[send], ref_s, extra_s = _reference_labels(
                        reference, [batch.frames[i] for i in send], batch.indices[send], query
                    )
                    seconds["reference"] += ref_s
                    charged_extra += extra_s
                    calls += len(send)
                idx_parts.append(np.asarray(batch.indices, dtype=np.int64))
                label_parts.append(labels)
        seconds["total"] = time.perf_counter() - t_start + charged_extra
        frame_index = np.concatenate(idx_parts) if idx_parts else np.zeros(0, np.int64)
        labels = np.concatenate(label_parts) if label_parts else np.zeros(0, bool)
        return BaselineRun(self.name, self.describe(), frame_index, labels, calls, seconds)

    def _fitted(self) -> float:
        if not hasattr(self, "threshold_"):
            raise QueryError("the motion-gate baseline is not fitted", "call fit() on the threshold segment first")
        return self.threshold_
