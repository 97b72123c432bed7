"""Running a cascade over the test segment: its answer (intervals), its speed against the reference with and
without decoding, and, given the reference's labels, its error."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from noscope_core.evaluate import error_rates
from noscope_core.reference import measure_cost_ms
from noscope_core.split import Segment
from noscope_core.video import DecodeStats, iter_frames, read_frames

#: test frames on which the reference is timed beside the cascade
REFERENCE_TIMING_FRAMES = 16


@dataclass(frozen=True)
class QueryResult:
    """What a query answers, in the exact JSON shape of ``noscope query --json``."""

    data: dict


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
    idx = segment.indices()
    frames = np.asarray(store.frames(cascade.view)[idx])
    run = cascade.run_frames(frames, idx, fetch_full=lambda ii: read_frames(video, ii))
    # Speed-ups are ratios measured in this one run: the reference is timed now, beside the cascade (its
    # cost from labelling time may come from a cache filled on a busier or quieter machine).
    ref_ms = measure_cost_ms(video, cascade.reference, idx, n=REFERENCE_TIMING_FRAMES) or float(
        cascade_info["costs"]["reference_ms"]
    )
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
    stats = DecodeStats()
    start = time.perf_counter()
    n = 0
    for a, b in segment.ranges:
        for batch in iter_frames(video, start=a, stop=b, stats=stats):
            n += len(batch.indices)
    return n / max(time.perf_counter() - start, 1e-9)
