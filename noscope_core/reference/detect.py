"""Run the reference detector over frames of a video, through the resumable detection cache."""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from noscope_core.reference.detection_cache import DetectionCache
from noscope_core.reference.detectors.base import Detection, ReferenceDetector
from noscope_core.video.frames import iter_frames


@dataclass(frozen=True)
class ReferenceTiming:
    """The reference's cost per frame, measured once, and how it was taken (which frames, where).

    One run measures it once; every speed-up the run reports (the optimizer's, the test segment's, each footage
    answer's) divides by it, and every report prints ``how`` beside it."""

    ms_per_frame: float
    how: str  # e.g. "averaged over the 600 frames detected while labelling, decode excluded, on host-1"

    @property
    def fps(self) -> float:
        return 1000.0 / self.ms_per_frame


def timed_where() -> str:
    """Where a timing is taken: this machine's name (a timing says nothing of another machine)."""
    return f"on {platform.node() or 'this machine'}"


@dataclass(frozen=True)
class ReferenceRun:
    frame_index: np.ndarray
    detections: list[list[Detection]]
    frames_detected: int  # frames actually run through the detector now (the rest came from the cache)
    seconds: float
    cost_ms_per_frame: float | None  # the detector's per-frame cost (declared or measured)
    cost_how: str = ""  # how that cost was taken (ReferenceTiming.how)


def run_reference(
    video_path: str | Path,
    detector: ReferenceDetector,
    indices: Sequence[int] | np.ndarray,
    cache: DetectionCache | None = None,
    batch_size: int = 16,
    flush_every: int = 64,
    progress: bool = False,
) -> ReferenceRun:
    """Detections for every frame in ``indices`` (sorted, consecutive or not), detecting only what the cache lacks."""
    indices = np.asarray(sorted(set(int(i) for i in indices)), dtype=np.int64)
    todo = cache.missing(indices) if cache is not None else indices.tolist()
    start = time.perf_counter()
    fresh: dict[int, list[Detection]] = {}
    if todo:
        todo_set = set(todo)
        done_since_flush = 0
        bar = _progress(len(todo), progress, f"reference {detector.name}")
        for chunk in _runs(todo):
            if detector.needs_pixels:
                batches = (
                    (b.indices.tolist(), b.frames)
                    for b in iter_frames(video_path, start=chunk[0], stop=chunk[-1] + 1, batch_size=batch_size)
                )
            else:
                batches = ((chunk[i : i + batch_size], []) for i in range(0, len(chunk), batch_size))
            for idx, frames in batches:
                keep = [k for k, i in enumerate(idx) if i in todo_set]
                idx = [idx[k] for k in keep]
                frames = [frames[k] for k in keep] if frames else []
                if not idx:
                    continue
                dets = detector.detect(frames, idx)
                if cache is not None:
                    cache.add(idx, dets)
                else:
                    fresh.update(zip(idx, dets, strict=True))
                done_since_flush += len(idx)
                if bar is not None:
                    bar.update(len(idx))
                if cache is not None and done_since_flush >= flush_every:
                    cache.flush()
                    done_since_flush = 0
        if cache is not None:
            cache.flush()
            cache.record_cost(detector.cost_ms_per_frame)
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - start
    if cache is not None:
        # Frames the decoder could not read never reach the detector: treat them as empty.
        have = set(indices.tolist()) - set(cache.missing(indices))
        dets = [cache.get([i])[0] if i in have else [] for i in indices.tolist()]
    else:
        dets = [fresh.get(i, []) for i in indices.tolist()]
    cost, how = detector.cost_ms_per_frame, ""
    if detector.declared_cost_ms is not None:
        how = "declared (the camera's reference_fps), not timed"
    elif todo and cost is not None:
        how = f"averaged over the {len(todo):,} frames detected while labelling, decode excluded, {timed_where()}"
    elif cache is not None:
        cost = None
        # every detection came from the cache: its cost was measured on another day, under another load
        timed = measure_cost_ms(video_path, detector, indices, n=COST_TIMING_FRAMES)
        if timed is not None:
            cost = timed
            n = min(COST_TIMING_FRAMES, len(indices))
            how = f"timed on {n} labelled frames after a warm-up (labels from the cache), decode excluded, {timed_where()}"
            if cost != cache.cost_ms():
                cache.record_cost(cost)
        elif (cost := cache.cost_ms()) is not None:
            how = "recorded in the detection cache when it was filled (the frames could not be timed here)"
    return ReferenceRun(indices, dets, len(todo), seconds, cost, how)


#: frames on which the reference is timed when its labels all come from the cache
COST_TIMING_FRAMES = 8


def measure_cost_ms(
    video_path: str | Path, detector: ReferenceDetector, indices: Sequence[int] | np.ndarray, n: int = 8
) -> float | None:
    """The detector's per-frame ms: its declared cost, else timed now on ``n`` frames spread over ``indices``
    (after one warm-up frame); None when it cannot be timed here (no pixels, or the frames cannot be read)."""
    from noscope_core.common.errors import VideoError
    from noscope_core.video.frames import read_frames

    if detector.declared_cost_ms is not None:
        return detector.declared_cost_ms
    indices = np.asarray(indices, dtype=np.int64)
    if not detector.needs_pixels or len(indices) == 0:
        return None
    sample = indices[np.linspace(0, len(indices) - 1, min(n, len(indices))).astype(int)]
    try:
        frames = read_frames(video_path, sample.tolist())
    except VideoError:
        return None
    detector.detect(frames[:1], sample[:1].tolist())  # first-call allocations are not the steady cost
    start = time.perf_counter()
    detector.detect(frames, sample.tolist())
    return 1000.0 * (time.perf_counter() - start) / len(sample)


def _runs(sorted_indices: Sequence[int], max_gap: int = 30) -> list[list[int]]:
    """Group sorted indices into runs so that each run is decoded in one sequential pass."""
    runs: list[list[int]] = []
    for i in sorted_indices:
        if runs and i - runs[-1][-1] <= max_gap:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def _progress(total: int, enabled: bool, desc: str):
    if not enabled or total < 50:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="frame", disable=not sys.stderr.isatty())
