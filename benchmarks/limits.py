"""The floor under any end-to-end query (decoding), and micro-benchmarks of each cascade stage on its own."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks import harness
from benchmarks.stages import Prepared


def _timed_pass(video: Path, start: int, n: int, mode: str, view=None) -> tuple[int, float]:
    """Frames handled and seconds for one pass over ``n`` frames from ``start`` (positioning not timed).

    ``mode``: "grab" (decode without colour conversion: what skipped frames cost), "decode" (grab + retrieve,
    the floor of any end-to-end query), "decode_resize" (plus a plain INTER_AREA resize to 50x50), "decode_prep"
    (plus the engine's own preprocess to the cascade's view).
    """
    from noscope_core.video.frames import CaptureCursor
    from noscope_core.video.shrink import preprocess

    reader = CaptureCursor(video)
    try:
        reader.move_to(start)
        done = 0
        t0 = time.perf_counter()
        while done < n:
            if not reader.cap.grab():
                break
            if mode != "grab":
                ok, frame = reader.cap.retrieve()
                if not ok:
                    break
                if mode == "decode_resize":
                    cv2.resize(frame, (50, 50), interpolation=cv2.INTER_AREA)
                elif mode == "decode_prep":
                    preprocess([frame], view)
            done += 1
        return done, time.perf_counter() - t0
    finally:
        reader.close()


def _threaded_pass(video: Path, start: int, n: int, mode: str, view=None) -> tuple[int, float]:
    """Like "decode_prep", through the engine's own streaming path: the chosen reader (see
    :mod:`noscope_core.video.readers`) decoding and shrinking into the view in the prefetching thread, as
    :meth:`Cascade.run_video` reads. OpenCV's positioning at ``start`` is measured apart and taken out; PyAV's
    (a seek to the keyframe, then the frames before ``start`` in its GOP) stays in: it is what a query pays.
    """
    from benchmarks.methods import positioning_seconds
    from noscope_core.video.prefetch import decode_batch_size, prefetch
    from noscope_core.video.probe import probe_video
    from noscope_core.video.readers import choose_reader, iter_views

    batch = decode_batch_size(probe_video(video), 256)
    reader = choose_reader(video)
    done = 0
    t0 = time.perf_counter()
    for frames in prefetch(iter_views(video, (view,), start=start, stop=start + n, batch_size=batch, reader=reader)):
        done += len(frames.indices)
    seconds = time.perf_counter() - t0
    if start and reader.choice.name == "opencv":
        seconds -= positioning_seconds(video, start, repeats=1)
    return done, max(seconds, 1e-9)


def decode_limits(prep: Prepared, max_frames: int, repeats: int = 3) -> dict[str, Any]:
    """Frames/s of grab-only, decode-only and decode+preprocess: over the whole video when it is short (a
    100-frame pass is too short to time on a shared machine), else over the start of the longest test range."""
    if prep.store.n_frames <= max_frames:
        a, n = 0, prep.store.n_frames
    else:
        a, b = max(prep.labels.segments.test.ranges, key=lambda r: r[1] - r[0])
        n = min(b - a, max_frames)
    out: dict[str, Any] = {"frames": n, "start": a}
    for mode in ("grab", "decode", "decode_resize", "decode_prep", "decode_prep_threaded"):
        fps = []
        for _ in range(repeats):
            one_pass = _threaded_pass if mode == "decode_prep_threaded" else _timed_pass
            done, s = one_pass(prep.camera.video, a, n, mode, prep.cascade.view)
            fps.append(done / s if s > 0 else float("inf"))
            if s * repeats > 15:  # a long pass is steady enough once
                break
        out[f"{mode}_fps"] = float(statistics.median(fps))
    out.update(_paired_e2e(prep, a, n, repeats))
    return out


def _paired_e2e(prep: Prepared, start: int, n: int, repeats: int) -> dict[str, Any]:
    """The cascade end to end and decode-only over the same frames, one right after the other, ``repeats``
    times: on a shared machine the two passes of a pair see the same load, so their ratio is steadier than
    the ratio of two rates measured minutes apart. Positioning at ``start`` is taken out of the cascade's run.
    """
    from benchmarks.methods import positioning_seconds

    video = prep.camera.video
    positioning = positioning_seconds(video, start, repeats=1) if start else 0.0
    decode_fps, cascade_fps, ratios = [], [], []
    for _ in range(repeats):
        done, s = _timed_pass(video, start, n, "decode")
        run = prep.cascade.run_video(video, start=start, stop=start + n)
        total = run.seconds["total"] - min(positioning, run.seconds["decode"])
        decode_fps.append(done / s if s > 0 else float("inf"))
        cascade_fps.append(len(run.labels) / total if total > 0 else float("inf"))
        ratios.append(cascade_fps[-1] / decode_fps[-1])
    return {
        "paired_decode_fps": float(statistics.median(decode_fps)),
        "paired_cascade_e2e_fps": float(statistics.median(cascade_fps)),
        "paired_cascade_e2e_over_decode": float(statistics.median(ratios)),
        "paired_ratios": [float(r) for r in ratios],
    }


def stage_micro(
    prep: Prepared, thread_counts=(1, 2), dd_batches=(64, 1024), model_batch: int = 256, n_frames: int = 2048
) -> dict[str, Any]:
    """Frames/s of each difference detector, each specialized model and the reference, each on its own."""
    import torch

    from noscope_core.cascade.costs import measure_cost_ms

    seg = prep.labels.segments.test
    view = prep.cascade.view
    frames = np.asarray(prep.store.frames(view)[seg.indices()[:n_frames]])
    previous = frames[::-1].copy()  # distinct frames to compare against, as the optimizer times them
    saved = (torch.get_num_threads(), cv2.getNumThreads())
    out: dict[str, Any] = {"frames": len(frames), "dd": [], "models": [], "reference": {}}
    try:
        for threads in thread_counts:
            harness.set_threads(threads)
            for dd in prep.dds:
                for b in dd_batches:
                    if dd.spec.reference == "previous":

                        def fn(x, dd=dd):
                            return dd.score(x, previous=previous[: len(x)])
                    else:

                        def fn(x, dd=dd):
                            return dd.score(x)

                    ms = measure_cost_ms(fn, frames, batch_size=b, repeats=3)
                    out["dd"].append(
                        {
                            "name": dd.spec.name,
                            "kind": dd.spec.reference,
                            "batch": b,
                            "threads": threads,
                            "fps": 1000 / ms,
                        }
                    )
            for m in prep.models:
                ms = measure_cost_ms(m.predict_proba, frames, batch_size=model_batch, repeats=3)
                out["models"].append({"name": m.name, "batch": model_batch, "threads": threads, "fps": 1000 / ms})
        out["reference"] = _reference_micro(prep, thread_counts)
    finally:
        torch.set_num_threads(saved[0])
        cv2.setNumThreads(saved[1])
    return out


def _reference_micro(prep: Prepared, thread_counts, n: int = 32) -> dict[str, Any]:
    from noscope_core.video.frames import iter_frames

    det = prep.detector
    if prep.camera.reference_declared_ms is not None:
        return {"name": det.name, "basis": "declared", "fps": 1000.0 / prep.camera.reference_declared_ms}
    a, b = prep.labels.segments.test.ranges[0]
    frames = [f for batch in iter_frames(prep.camera.video, start=a, stop=min(b, a + n)) for f in batch.frames]
    idx = list(range(a, a + len(frames)))
    det.detect(frames[:2], idx[:2])  # warm-up
    res = {"name": det.name, "basis": "measured", "frames": len(frames), "by_threads": []}
    own = getattr(det, "num_threads", None)  # cv2.dnn detectors set their thread count before each pass
    try:
        for threads in thread_counts:
            harness.set_threads(threads)
            if own is not None:
                det.num_threads = threads
            t0 = time.perf_counter()
            det.detect(frames, idx)
            res["by_threads"].append({"threads": threads, "fps": len(frames) / (time.perf_counter() - t0)})
    finally:
        if own is not None:
            det.num_threads = own
    res["fps"] = max(r["fps"] for r in res["by_threads"])
    return res
