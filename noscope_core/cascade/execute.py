"""The cascade executed on real frames: difference detector and specialized model on small frames, the reference
detector on full ones, timed stage by stage (:class:`Cascade`, its result :class:`CascadeRun`).

Every decision goes through the pure routing functions of :mod:`noscope_core.cascade.routing`, in the order
:func:`~noscope_core.cascade.routing.simulate` calls them, so what the executor labels from pixels is what the
optimizer predicted from scores. Keyframe-first plans run through the same chunk decisions
(:mod:`noscope_core.cascade.keyframe_run`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from noscope_core.cascade.evaluate import Interval, intervals
from noscope_core.cascade.routing import (
    PENDING,
    CascadeConfig,
    Route,
    assign_labels,
    dd_routes,
    evaluated_positions,
    expand_to_frames,
    model_routes,
)
from noscope_core.common.errors import ArtifactError, VideoError
from noscope_core.common.memory import release_free_memory, streaming_allocator
from noscope_core.reference.labels import frame_label
from noscope_core.spec.query import Query

if TYPE_CHECKING:  # the video readers are imported when a run reads a video, not with this module
    from noscope_core.reference.detectors.base import ReferenceDetector
    from noscope_core.video.views import ViewSpec

#: full-resolution frames fetched at once for the reference: bounds memory (a 768×576 frame is 1.3 MB)
REFERENCE_BATCH = 32


class DifferenceDetectorLike(Protocol):
    """What the cascade needs of a difference detector (see ``noscope_core.models.difference``)."""

    @property
    def spec(self) -> Any: ...  # has .name and .reference in DD_REFERENCES

    def score(self, frames: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray: ...


class SpecializedModelLike(Protocol):
    """What the cascade needs of a specialized model (see ``noscope_core.models.specialized``)."""

    @property
    def name(self) -> str: ...

    def predict_proba(self, frames: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class CascadeRun:
    """What a cascade said about a range of frames, and what it cost."""

    frame_index: np.ndarray  # int64 (N,) source frame numbers
    labels: np.ndarray  # bool (N,)
    routes: np.ndarray  # int8 (N,) Route codes
    seconds: dict[str, float]  # measured: dd, model, reference, preprocess, decode, total
    fps: float  # frames covered / seconds in cascade stages (decode excluded, as NoScope measured)
    fps_e2e: float | None  # frames covered / total seconds, when the run decoded the video itself
    reference_calls: int
    reference_call_fraction: float
    source_fps: float | None = None  # the video's frame rate, for timestamps
    #: float32 (N,) the specialized model's probability where it ran (NaN elsewhere: skipped, DD-decided, no
    #: model); what certification ranks frames by (noscope_core.guarantees.certificate.risk_from_scores)
    model_scores: np.ndarray | None = None
    reader: str | None = None  # which reader decoded ("pyav" / "opencv") when the run read the video itself
    #: how the frames were read: "dense", "keyframe-first", or why a keyframe-first plan ran densely instead
    plan: str = "dense"
    #: a keyframe-first run's work: keyframes scanned, frames opened (decoded densely), ranges, evaluated frames
    plan_counts: dict[str, int] | None = None

    def intervals(self, fps: float | None = None) -> list[Interval]:
        """Positive runs ``[start_frame, end_frame)`` with timestamps from ``fps`` (default: the video's)."""
        return intervals(self.labels, self.frame_index, fps if fps is not None else self.source_fps)

    def route_counts(self) -> dict[str, int]:
        counts = np.bincount(self.routes.astype(np.int64), minlength=len(Route)) if len(self.routes) else None
        return {r.name.lower(): int(counts[r]) if counts is not None else 0 for r in Route}


@dataclass
class Carry:
    """State that crosses chunk boundaries: the last label and the last evaluated small frame."""

    label: bool = False
    prev_small: np.ndarray | None = None


@dataclass
class StageTimer:
    """Seconds spent per cascade stage; ``with timer("dd"):`` adds the block's time to that stage."""

    seconds: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(("dd", "model", "reference", "preprocess", "decode"), 0.0)
    )
    #: declared minus measured reference time: added to the wall clock so end-to-end totals use the declared cost
    charged_s: float = 0.0

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - t0


class Cascade:
    """Runs a :class:`CascadeConfig` with real components: DD and model on small frames, reference on full ones."""

    def __init__(
        self,
        config: CascadeConfig,
        reference: ReferenceDetector,
        query: Query,
        view: ViewSpec,
        dd: DifferenceDetectorLike | None = None,
        model: SpecializedModelLike | None = None,
    ) -> None:
        _check_component("difference detector", config.dd_name, dd, lambda c: c.spec.name)
        _check_component("specialized model", config.model_name, model, lambda c: c.name)
        if dd is not None and dd.spec.reference != config.dd_reference:
            raise ArtifactError(
                f"difference detector {dd.spec.name!r} compares against {dd.spec.reference!r} "
                f"but the cascade config expects {config.dd_reference!r}",
                "re-run the optimizer with the current difference detectors",
            )
        self.config = config
        self.reference = reference
        self.query = query
        self.view = view
        self.dd = dd
        self.model = model

    def run_frames(
        self,
        small_frames: np.ndarray,
        frame_indices: np.ndarray,
        fetch_full: Callable[[np.ndarray], Sequence[np.ndarray]],
        batch_size: int = 1024,
    ) -> CascadeRun:
        """Label already-decoded small frames (e.g. a frame-store slice, may be a memmap).

        Skipping counts positions in ``small_frames``. ``fetch_full(source_indices)`` returns full-resolution
        BGR frames for the frames sent to the reference (never called when the reference needs no pixels);
        its time is reported as "decode".
        """
        frame_indices = np.asarray(frame_indices, dtype=np.int64).reshape(-1)
        if len(small_frames) != len(frame_indices):
            raise ValueError(f"{len(small_frames)} small frames but {len(frame_indices)} frame indices")
        _check_batch_size(batch_size)
        streaming_allocator()  # memory flat in the footage's length (noscope_core.common.memory)
        t_start = time.perf_counter()
        timer, carry, skip = StageTimer(), Carry(), self.config.skip
        n = len(frame_indices)
        positions = evaluated_positions(n, skip)
        routes_eval = np.empty(len(positions), dtype=np.int8)
        labels_eval = np.empty(len(positions), dtype=bool)
        p_eval = np.full(len(positions), np.nan, dtype=np.float32)
        for a in range(0, len(positions), batch_size):
            b = min(a + batch_size, len(positions))
            # a strided slice: a view, so a memmapped store is read only where frames are evaluated
            small = np.asarray(small_frames[positions[a] : positions[b - 1] + 1 : skip])
            src = frame_indices[positions[a:b]]

            def full_for(sel: np.ndarray, src: np.ndarray = src) -> Sequence[np.ndarray]:
                with timer("decode"):
                    frames = fetch_full(src[sel])
                if len(frames) != len(sel):
                    raise VideoError(f"fetch_full returned {len(frames)} frames for {len(sel)} requested")
                return frames

            routes_eval[a:b], labels_eval[a:b], p_eval[a:b] = self._decide(small, src, full_for, carry, timer)
        labels, routes = expand_to_frames(positions, routes_eval, labels_eval, n)
        return self._finish(
            frame_indices,
            labels,
            routes,
            timer,
            time.perf_counter() - t_start,
            e2e=False,
            source_fps=None,
            model_scores=_frame_scores(positions, p_eval, n),
        )

    def run_video(
        self,
        video_path: str | Path,
        start: int = 0,
        stop: int | None = None,
        batch_size: int = 256,
        reader: str = "auto",
    ) -> CascadeRun:
        """Stream a video through the cascade; with skip > 1 only evaluated frames are shrunk.

        ``reader`` ("auto", "pyav", "opencv"; see :func:`noscope_core.video.readers.choose_reader`) decodes and
        shrinks into the cascade's view, a batch ahead in its own thread; read the way the frame store the
        models were trained on was built (``FrameStore.reader``; "auto" picks the same for the same file).
        Memory is bounded by the batches in flight (about three, each capped near 64 MB of full-resolution
        frames) plus a few bytes per covered frame. A frame that fails to decode is treated like a skipped one:
        it inherits the label before it.
        """
        from noscope_core.video.frames import DecodeStats
        from noscope_core.video.prefetch import decode_batch_size, prefetch
        from noscope_core.video.probe import probe_video
        from noscope_core.video.readers import choose_reader, iter_views

        _check_batch_size(batch_size)
        streaming_allocator()  # memory flat in the footage's length (noscope_core.common.memory)
        t_start = time.perf_counter()
        timer, carry, skip = StageTimer(), Carry(), self.config.skip
        info = probe_video(video_path)
        n_video = info.frame_count or None  # 0: the container does not say
        source_fps = info.fps or None
        idx_parts, route_parts, label_parts, p_parts = [], [], [], []
        chosen = choose_reader(info.path, reader)
        stats = DecodeStats()
        # the reader decodes and shrinks a batch ahead in its own thread (OpenCV and FFmpeg release the GIL), so
        # "decode" is the time this loop waited for it: what reading adds to the query, not what it cost in total
        batches = prefetch(
            iter_views(
                video_path,
                (self.view,),
                start=start,
                stop=stop,
                step=skip,
                batch_size=decode_batch_size(info, batch_size),
                stats=stats,
                reader=chosen,
                keep_full=self.reference.needs_pixels,
            )
        )
        try:
            while True:
                with timer("decode"):
                    batch = next(batches, None)
                if batch is None:
                    break
                if len(batch.indices) == 0:
                    continue
                small = batch.small[self.view.name]
                src = np.asarray(batch.indices, dtype=np.int64)
                routes, labels, p = self._decide(small, src, batch.full, carry, timer)
                idx_parts.append(src)
                route_parts.append(routes)
                label_parts.append(labels)
                p_parts.append(p)
        finally:
            batches.close()
            release_free_memory()  # the reader's buffers, before the certificate decodes its own
        # shrinking ran in the reader's thread; it is still a cascade stage, as when it ran here
        timer.seconds["preprocess"] += stats.shrink_seconds
        name = chosen.choice.name
        if not idx_parts:
            empty = np.zeros(0, np.int64)
            return self._finish(empty, empty.astype(bool), empty.astype(np.int8), timer, 0.0, True, source_fps, name)
        eval_idx = np.concatenate(idx_parts)
        first, last = int(eval_idx[0]), int(eval_idx[-1])
        # frames after the last evaluated one inherit its label, up to the range's or the video's end;
        # when neither is known, no frame beyond the last decoded one is claimed
        limit = stop if stop is not None else n_video
        if limit is not None and n_video is not None:
            limit = min(limit, n_video)
        end = last + 1 if limit is None else max(last + 1, min(last + skip, limit))
        frame_index = np.arange(first, end, dtype=np.int64)
        labels, routes = expand_to_frames(
            eval_idx - first, np.concatenate(route_parts), np.concatenate(label_parts), len(frame_index)
        )
        scores = _frame_scores(eval_idx - first, np.concatenate(p_parts), len(frame_index))
        return self._finish(
            frame_index,
            labels,
            routes,
            timer,
            time.perf_counter() - t_start,
            True,
            source_fps,
            name,
            model_scores=scores,
        )

    def _decide(
        self,
        small: np.ndarray,
        src: np.ndarray,
        full_for: Callable[[np.ndarray], Sequence[np.ndarray]],
        carry: Carry,
        timer: StageTimer,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Routes, labels and model probabilities (NaN where it did not run) of one chunk of evaluated frames,
        in order; updates ``carry``."""
        n = len(small)
        dd_scores = np.full(n, np.nan, dtype=np.float64)
        if self.dd is not None and n:
            with timer("dd"):
                if self.config.dd_reference == "background":
                    dd_scores[:] = _scores(self.dd.score(small), n, "difference detector")
                elif carry.prev_small is not None:
                    previous = np.concatenate([carry.prev_small[None], small[:-1]])
                    dd_scores[:] = _scores(self.dd.score(small, previous), n, "difference detector")
                elif n > 1:  # first frame of the range: no previous frame to compare with
                    dd_scores[1:] = _scores(self.dd.score(small[1:], small[:-1]), n - 1, "difference detector")
        routes = dd_routes(self.config, dd_scores)
        model_scores = None
        pending = np.flatnonzero(routes == PENDING)
        if self.model is not None and len(pending):
            with timer("model"):
                model_scores = np.full(n, np.nan, dtype=np.float64)
                model_scores[pending] = _scores(self.model.predict_proba(small[pending]), len(pending), "model")
        routes = model_routes(self.config, routes, model_scores)
        ref_labels = np.zeros(n, dtype=bool)
        ref = np.flatnonzero(routes == Route.REFERENCE)
        for a in range(0, len(ref), REFERENCE_BATCH):
            sel = ref[a : a + REFERENCE_BATCH]
            frames = full_for(sel) if self.reference.needs_pixels else []
            before = timer.seconds["reference"]
            with timer("reference"):
                dets = self.reference.detect(frames, [int(i) for i in src[sel]])
            if self.reference.declared_cost_ms is not None:
                # A declared reference (precomputed detections, synthetic truth, --reference-fps) is charged what
                # it declared instead of what it took here, in the stage time and the end-to-end time alike, so
                # speed-ups compare like with like.
                measured = timer.seconds["reference"] - before
                adjust = len(sel) * self.reference.declared_cost_ms / 1000.0 - measured
                timer.seconds["reference"] += adjust
                timer.charged_s += adjust
            ref_labels[sel] = [frame_label(d, self.query) for d in dets]
        labels = assign_labels(routes, ref_labels, carry.label)
        if n:
            carry.label = bool(labels[-1])
            carry.prev_small = np.array(small[-1])
        p = np.full(n, np.nan, dtype=np.float32) if model_scores is None else model_scores.astype(np.float32)
        return routes, labels, p

    def _finish(
        self,
        frame_index: np.ndarray,
        labels: np.ndarray,
        routes: np.ndarray,
        timer: StageTimer,
        total_s: float,
        e2e: bool,
        source_fps: float | None,
        reader: str | None = None,
        model_scores: np.ndarray | None = None,
    ) -> CascadeRun:
        n = len(frame_index)
        total_s += timer.charged_s
        seconds = {**timer.seconds, "total": total_s}
        stage_s = seconds["dd"] + seconds["model"] + seconds["reference"] + seconds["preprocess"]
        calls = int(np.count_nonzero(routes == Route.REFERENCE))
        return CascadeRun(
            frame_index=frame_index,
            labels=labels,
            routes=routes,
            seconds=seconds,
            fps=_rate(n, stage_s),
            fps_e2e=_rate(n, total_s) if e2e else None,
            reference_calls=calls,
            reference_call_fraction=calls / n if n else 0.0,
            source_fps=source_fps,
            reader=reader,
            model_scores=model_scores,
        )


def _frame_scores(positions: np.ndarray, p_eval: np.ndarray, n: int) -> np.ndarray:
    """Per-frame model probabilities: the evaluated frames' own, NaN on every other frame."""
    out = np.full(n, np.nan, dtype=np.float32)
    out[positions] = p_eval
    return out


def _rate(n: int, seconds: float) -> float:
    """Frames per second; infinite when no measurable time was spent on a non-empty range."""
    if n == 0:
        return 0.0
    return n / seconds if seconds > 0 else float("inf")


def _scores(values: Any, n: int, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(arr) != n:
        raise ArtifactError(f"the {what} returned {len(arr)} scores for {n} frames", "check that it was saved intact")
    return arr


def _check_component(what: str, name: str | None, component: Any, name_of: Callable[[Any], str]) -> None:
    if name is None and component is not None:
        raise ArtifactError(f"a {what} was given but the cascade config uses none", f"pass {what}=None")
    if name is not None:
        if component is None:
            raise ArtifactError(f"the cascade config uses {what} {name!r} but none was given", f"load {name!r}")
        if name_of(component) != name:
            raise ArtifactError(
                f"the cascade config uses {what} {name!r} but {name_of(component)!r} was given",
                "re-run the optimizer or load the matching artifact",
            )


def _check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
