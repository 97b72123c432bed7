"""Running a keyframe-first plan: scan the keyframes, settle or open each group of pictures, run the cascade
densely only on the opened ones.

Over a video file (:func:`run_plan`) the keyframes are decoded alone (``iter_keyframes``: the decoder sees no
other packet) and the opened GOPs are decoded densely from their keyframe by one seek each, on one PyAV
container. Over stored small frames (:func:`run_plan_frames`, the query's decode-free run) the same decisions
are made on the store's rows. Both return a :class:`~noscope_core.cascade.execute.CascadeRun` like the dense executor,
so certification, reports and ``apply`` take either unchanged: settled frames carry the route SKIPPED (a label
they never saw), their keyframes MODEL_ABSENT / MODEL_PRESENT with the model's probability.

The decisions are :func:`noscope_core.cascade.keyframe_plan.gop_decisions` and each opened run of frames is one range
of the ordinary cascade, as :func:`noscope_core.cascade.keyframe_plan.simulate_plan` assumes: the optimizer's estimate
and the executor cannot disagree on the same scores.

Dense instead, saying why in ``CascadeRun.plan``: the OpenCV reader (it cannot feed a decoder keyframes alone),
a stream with B-frames (GOPs may reference each other), fewer than two keyframes in the range.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from noscope_core.cascade.execute import Carry, Cascade, CascadeRun, StageTimer
from noscope_core.cascade.keyframe_plan import KeyframePlan, gop_decisions, opened_ranges
from noscope_core.cascade.routing import Route
from noscope_core.common.errors import VideoError
from noscope_core.common.memory import release_free_memory, streaming_allocator

#: frames per range chunk handed to the cascade (bounds the full-resolution frames held for the reference)
CHUNK = 256


def run_plan(
    cascade: Cascade,
    plan: KeyframePlan | None,
    video: str | Path,
    start: int = 0,
    stop: int | None = None,
    reader: str = "auto",
    batch_size: int = CHUNK,
) -> CascadeRun:
    """Run ``cascade`` over ``video`` (decode included) with ``plan``; None runs it densely (``run_video``)."""
    if plan is None:
        return cascade.run_video(video, start=start, stop=stop, batch_size=batch_size, reader=reader)
    streaming_allocator()  # memory flat in the footage's length (noscope_core.common.memory)
    from noscope_core.video.probe import probe_video
    from noscope_core.video.readers import choose_reader

    t_start = time.perf_counter()
    timer = StageTimer()
    info = probe_video(video)
    chosen = choose_reader(info.path, reader)
    why = None
    if chosen.choice.name != "pyav":
        why = "the OpenCV reader cannot decode keyframes alone"
    index = None
    if why is None:
        try:
            with timer("decode"):
                index = keyframe_index(info.path)
        except VideoError as err:
            why = f"no keyframe index ({err.message})"
    n_video = (info.frame_count or (index.n_packets if index is not None else 0)) or None
    end = stop if stop is not None else n_video
    if end is not None and n_video is not None:
        end = min(end, n_video)
    keys = np.zeros(0, np.int64)
    if index is not None and end is not None:
        keys = index.keyframes[(index.keyframes >= start) & (index.keyframes < end)]
        if len(keys) < 2:
            why = f"{len(keys)} keyframe(s) in frames {start}-{end - 1}: nothing to settle"
    elif why is None:
        why = "the video does not say how many frames it has"
    if why is None and _has_b_frames(info.path):
        why = "the stream has B-frames (its GOPs may reference each other)"
    if why is not None:
        run = cascade.run_video(video, start=start, stop=stop, batch_size=batch_size, reader=reader)
        return replace(run, plan=f"dense: the keyframe-first plan fell back ({why})")
    assert index is not None and end is not None
    return _run_on_video(cascade, plan, info, chosen, index, keys, start, end, batch_size, t_start, timer)


def run_plan_frames(
    cascade: Cascade,
    plan: KeyframePlan,
    small_frames: np.ndarray,
    frame_indices: np.ndarray,
    keyframes: np.ndarray,
    fetch_full: Callable[[np.ndarray], Sequence[np.ndarray]],
    batch_size: int = 1024,
) -> CascadeRun:
    """``plan`` over already-decoded small frames (a frame-store slice): the keyframes are the rows whose source
    frame number is in ``keyframes``; a gap in ``frame_indices`` starts a new range (a GOP across it is opened)."""
    t_start = time.perf_counter()
    timer = StageTimer()
    idx = np.asarray(frame_indices, dtype=np.int64).reshape(-1)
    n = len(idx)
    kp = np.flatnonzero(np.isin(idx, np.asarray(keyframes, dtype=np.int64)))
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1 if n > 1 else np.zeros(0, np.int64)
    p_key = _score(cascade, np.asarray(small_frames[kp]) if len(kp) else None, timer)
    opened, settled = _decide_gops(cascade, plan, n, kp, p_key, breaks)
    chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    skip = cascade.config.skip
    for a, b in opened_ranges(opened):
        carry = Carry()
        pos = np.arange(a, b, skip, dtype=np.int64)
        for c in range(0, len(pos), batch_size):
            sel_pos = pos[c : c + batch_size]
            small = np.asarray(small_frames[sel_pos[0] : sel_pos[-1] + 1 : skip])
            src = idx[sel_pos]

            def full_for(sel: np.ndarray, src: np.ndarray = src) -> Sequence[np.ndarray]:
                with timer("decode"):
                    return fetch_full(src[sel])

            routes, labels, p = cascade._decide(small, src, full_for, carry, timer)
            chunks.append((sel_pos, routes, labels, p))
    counts = _counts(kp, opened, chunks)
    total = time.perf_counter() - t_start
    return _assemble(cascade, idx, kp, p_key, opened, settled, chunks, timer, total, False, None, None, counts)


def _has_b_frames(path: str | Path) -> bool:
    from noscope_core.video.readers.pyav_reader import open_video

    container, stream = open_video(path)
    try:
        return bool(stream.codec_context.has_b_frames)
    finally:
        container.close()


def _score(cascade: Cascade, small: np.ndarray | None, timer: StageTimer) -> np.ndarray:
    if small is None or not len(small):
        return np.zeros(0)
    assert cascade.model is not None  # a keyframe plan is only chosen for a cascade with a model
    with timer("model"):
        return np.asarray(cascade.model.predict_proba(small), dtype=np.float64).reshape(-1)


def _decide_gops(
    cascade: Cascade, plan: KeyframePlan, n: int, kp: np.ndarray, p_key: np.ndarray, breaks: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    if cascade.model is None:
        raise VideoError("a keyframe-first plan needs the cascade's specialized model", "run the plan densely")
    low, high = plan.settle_thresholds(cascade.config)
    return gop_decisions(n, kp, p_key, low, high, breaks)


def _counts(kp: np.ndarray, opened: np.ndarray, chunks: list) -> dict[str, int]:
    return {
        "keyframes": int(len(kp)),
        "opened_frames": int(opened.sum()),
        "ranges": len(opened_ranges(opened)),
        "evaluated": int(sum(len(c[0]) for c in chunks)),
    }


def _assemble(
    cascade: Cascade,
    frame_index: np.ndarray,
    kp: np.ndarray,
    p_key: np.ndarray,
    opened: np.ndarray,
    settled: np.ndarray,
    chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    timer: StageTimer,
    total_s: float,
    e2e: bool,
    source_fps: float | None,
    reader: str | None,
    counts: dict[str, int],
) -> CascadeRun:
    """Per-frame labels, routes and scores: settled frames from their GOP, opened ones from the cascade's chunks."""
    n = len(frame_index)
    labels = settled.copy()
    routes = np.full(n, Route.SKIPPED, dtype=np.int8)
    scores = np.full(n, np.nan, dtype=np.float32)
    keys = kp[~opened[kp]] if len(kp) else kp
    routes[keys] = np.where(settled[keys], Route.MODEL_PRESENT, Route.MODEL_ABSENT)
    scores[kp] = p_key
    if chunks:
        pos = np.concatenate([c[0] for c in chunks])
        labels_eval = np.concatenate([c[2] for c in chunks])
        routes[pos] = np.concatenate([c[1] for c in chunks])
        scores[pos] = np.concatenate([c[3] for c in chunks])
        frames = np.flatnonzero(opened)
        # every range starts with an evaluated frame, so each opened frame's owner is in its own range
        owner = np.searchsorted(pos, frames, side="right") - 1
        labels[frames] = np.where(owner >= 0, labels_eval[np.maximum(owner, 0)], False)
    run = cascade._finish(frame_index, labels, routes, timer, total_s, e2e, source_fps, reader, model_scores=scores)
    return replace(run, plan="keyframe-first", plan_counts=counts)


def _scan(cascade: Cascade, path: Path, index, keys: np.ndarray, threads: str, timer: StageTimer) -> np.ndarray:
    """The model's probability on each keyframe in ``keys`` (NaN where one failed to decode)."""
    p_key = np.full(len(keys), np.nan)
    for rows, small in scan_keyframes(path, index, keys, cascade.view, threads, timer):
        p_key[rows] = _score(cascade, small, timer)
    return p_key


def scan_keyframes(
    path: Path, index, keys: np.ndarray, view, threads: str = "default", timer: StageTimer | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(positions in keys, small frames)`` batches of the keyframes in ``keys`` shrunk into ``view``.

    Like ``iter_keyframes`` (only keyframe packets reach the decoder), but it seeks to the first keyframe of the
    range first, so a range late in a long file does not decode every keyframe before it; frames are numbered by
    their timestamps in the keyframe index. The decoder runs with the view's decoding (``lowres``,
    ``skip_loop_filter``): the scan's pixels are the pixels the model was trained on, and cheaper to make.
    """
    import av

    from noscope_core.video.readers.pyav_reader import Shrinker, configure, open_video

    timer = timer if timer is not None else StageTimer()
    shrink = Shrinker(view)
    first = int(np.searchsorted(index.keyframes, keys[0]))
    sel = slice(first, first + len(keys))
    number = dict(zip(index.keyframe_pts[sel].tolist(), range(len(keys)), strict=True))
    last_pts = int(index.keyframe_pts[sel][-1])
    rows: list[int] = []
    small: list[np.ndarray] = []

    def take(frames: list) -> None:
        for frame in frames:
            k = number.get(frame.pts)
            if k is None:
                continue
            with timer("preprocess"):
                small.append(shrink(frame))
            rows.append(k)

    def batch() -> tuple[np.ndarray, np.ndarray]:
        out = (np.asarray(rows, dtype=np.int64), np.stack(small))
        rows.clear()
        small.clear()
        return out

    with timer("decode"):
        container, stream = open_video(path)
    try:
        configure(stream, threads, view.lowres, view.skip_loop_filter)
        cc = stream.codec_context
        cc.skip_frame = "NONKEY"
        with timer("decode"):
            if first > 0 and int(index.keyframe_pts[first]) >= 0:
                container.seek(int(index.keyframe_pts[first]), stream=stream, backward=True, any_frame=False)
        packets = container.demux(stream)
        while True:
            with timer("decode"):
                packet = next(packets, None)
                if packet is None:
                    break
                if not packet.size or not packet.is_keyframe:
                    continue
                if packet.pts is not None and packet.pts > last_pts:
                    break
                try:
                    frames = cc.decode(packet)
                except av.error.FFmpegError:
                    continue
            take(frames)
            if len(rows) >= CHUNK:
                yield batch()
        with timer("decode"):
            try:
                frames = cc.decode(None)
            except av.error.FFmpegError:
                frames = []
        take(frames)
        if rows:
            yield batch()
    finally:
        container.close()


def keyframe_index(path: str | Path):
    """The video's keyframe index: demuxed once per file version and kept (``readers.keyframe_cache``)."""
    from noscope_core.video.readers.keyframe_cache import keyframe_index as cached

    return cached(path)


def _decide_chunk(
    cascade: Cascade,
    buf_pos: list,
    buf_small: list,
    held: list,
    carry: Carry,
    start: int,
    timer: StageTimer,
    fetcher=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cascade on one chunk of an opened range's evaluated frames (positions in ``buf_pos``); empties the buffers.

    ``fetcher`` (a ``FrameFetcher``): the reference's frames are decoded again exactly, because the held ones
    were decoded at the view's reduced resolution or without the loop filter."""
    pos = np.asarray(buf_pos, dtype=np.int64)
    frames = list(held)

    def full_for(sel: np.ndarray) -> list[np.ndarray]:
        with timer("decode"):
            if fetcher is not None:
                return fetcher.frames([int(pos[i]) + start for i in sel])
            return [frames[i].to_ndarray(format="bgr24") for i in sel]

    routes, labels, p = cascade._decide(np.stack(buf_small), pos + start, full_for, carry, timer)
    buf_pos.clear()
    buf_small.clear()
    held.clear()
    return pos, routes, labels, p


def _run_on_video(
    cascade, plan, info, chosen, index, keys, start: int, end: int, batch_size: int, t_start: float, timer: StageTimer
):
    from noscope_core.video.readers.pyav_reader import _END, Shrinker, _prepend, configure, decoded_frames, open_video

    path = info.path
    view = cascade.view
    n = end - start
    kp = (keys - start).astype(np.int64)
    p_key = _scan(cascade, path, index, keys, chosen.choice.threads, timer)
    opened, settled = _decide_gops(cascade, plan, n, kp, p_key)

    skip = cascade.config.skip
    keep_full = cascade.reference.needs_pixels
    fetcher = None
    if keep_full and not view.exact_decode:
        from noscope_core.video.readers.keyframes import FrameFetcher

        fetcher, keep_full = FrameFetcher(path, threads=chosen.choice.threads), False
    shrink = Shrinker(view)
    container, stream = open_video(path)
    configure(stream, chosen.choice.threads, view.lowres, view.skip_loop_filter)
    frames_iter = None
    cur = -1  # number of the frame the decoder outputs next; -1: nowhere yet

    def seek(k: int) -> None:
        """Position the decoder on keyframe number ``k`` of the index (the file's start when the seek is inexact)."""
        nonlocal container, stream, frames_iter, cur
        pts = int(index.keyframe_pts[k]) if k >= 0 else -1
        if k >= 0 and pts >= 0:
            container.seek(pts, stream=stream, backward=True, any_frame=False)
            it = decoded_frames(container, stream)
            first = next(it, _END)
            if first is not _END and first is not None and first.pts == pts:
                frames_iter, cur = _prepend(first, it), int(index.keyframes[k])
                return
        container.close()
        container, stream = open_video(path)
        configure(stream, chosen.choice.threads, view.lowres, view.skip_loop_filter)
        frames_iter, cur = decoded_frames(container, stream), 0

    chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    try:
        for a, b in opened_ranges(opened):
            fa, fb = start + a, start + b
            k = index.keyframe_before(fa)
            first_key = int(index.keyframes[k]) if k >= 0 else 0
            if frames_iter is None or not (first_key <= cur <= fa):
                with timer("decode"):
                    seek(k)
            assert frames_iter is not None  # seek() opened it
            carry = Carry()
            buf_pos: list[int] = []
            buf_small: list[np.ndarray] = []
            held: list = []

            while cur < fb:
                with timer("decode"):
                    frame = next(frames_iter, _END)
                if frame is _END:
                    break
                i = cur
                cur += 1
                if frame is None or i < fa or (i - fa) % skip:
                    continue  # a lost frame is treated like a skipped one: it inherits the label before it
                with timer("preprocess"):
                    buf_small.append(shrink(frame))
                buf_pos.append(i - start)
                if keep_full:
                    held.append(frame)
                if len(buf_pos) >= batch_size:
                    chunks.append(_decide_chunk(cascade, buf_pos, buf_small, held, carry, start, timer, fetcher))
            if buf_pos:
                chunks.append(_decide_chunk(cascade, buf_pos, buf_small, held, carry, start, timer, fetcher))
    finally:
        container.close()
        if fetcher is not None:
            fetcher.close()
        release_free_memory()  # the decoders' buffers, before the certificate decodes its own
    counts = _counts(kp, opened, chunks)
    frame_index = np.arange(start, end, dtype=np.int64)
    total = time.perf_counter() - t_start
    return _assemble(
        cascade,
        frame_index,
        kp,
        p_key,
        opened,
        settled,
        chunks,
        timer,
        total,
        True,
        info.fps or None,
        chosen.choice.name,
        counts,
    )
