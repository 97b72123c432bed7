"""Keyframes: where they are, scanning only them, and decoding any frame by seeking to the keyframe before it.

A keyframe (I-frame) decodes alone, so a scan that feeds the decoder only keyframe packets covers a whole
group of pictures (GOP) per decoded frame. The same index lets :class:`FrameFetcher` decode an arbitrary frame
by seeking to the keyframe that opens its GOP and decoding forward: what a keyframe-first plan needs to decode
the GOPs it is unsure about, and how full-resolution frames reach the reference when the views were decoded at
reduced resolution.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from noscope_core.common.errors import VideoError
from noscope_core.video.frames import DecodeStats
from noscope_core.video.probe import check_file
from noscope_core.video.readers.base import ViewBatch
from noscope_core.video.readers.pyav_reader import _END, Shrinker, _prepend, configure, decoded_frames, open_video
from noscope_core.video.views import ViewSpec


def packet_timestamps(path: str | Path, stream_index: int = 0) -> np.ndarray:
    """pts of every non-empty packet of the video stream, in decode order (one demux pass, nothing decoded)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0] if stream_index is None else container.streams[stream_index]
        return np.asarray(
            [-1 if p.pts is None else int(p.pts) for p in container.demux(stream) if p.size], dtype=np.int64
        )


@dataclass(frozen=True)
class KeyframeIndex:
    """Display-order frame numbers of the keyframes of a video and their packet timestamps (one demux pass)."""

    n_packets: int
    keyframes: np.ndarray  # int64 frame numbers, ascending
    keyframe_pts: np.ndarray  # int64 pts of those keyframes, in the stream's time base (-1 when unknown)

    @classmethod
    def of(cls, path: str | Path) -> KeyframeIndex:
        path = Path(path).expanduser()
        check_file(path)
        container, stream = open_video(path)
        pts: list[int] = []
        key: list[bool] = []
        try:
            for packet in container.demux(stream):
                if not packet.size:
                    continue
                pts.append(-1 if packet.pts is None else int(packet.pts))
                key.append(bool(packet.is_keyframe))
        finally:
            container.close()
        pts_arr = np.asarray(pts, dtype=np.int64)
        key_arr = np.asarray(key, dtype=bool)
        order = np.arange(len(pts_arr), dtype=np.int64)
        if len(pts_arr) and (pts_arr >= 0).all() and not (np.diff(pts_arr) > 0).all():
            # decode order is not display order (B-frames): a frame's number is the rank of its pts
            order = np.empty_like(order)
            order[np.argsort(pts_arr, kind="stable")] = np.arange(len(pts_arr))
        keys = np.flatnonzero(key_arr)
        return cls(
            n_packets=len(pts_arr), keyframes=np.sort(order[keys]), keyframe_pts=pts_arr[keys][np.argsort(order[keys])]
        )

    def keyframe_before(self, index: int) -> int:
        """Position in :attr:`keyframes` of the last keyframe at or before frame ``index`` (-1 if none)."""
        return int(np.searchsorted(self.keyframes, index, side="right")) - 1


def iter_keyframes(
    path: str | Path,
    views: Sequence[ViewSpec],
    start: int = 0,
    stop: int | None = None,
    batch_size: int = 32,
    threads: str = "default",
    stats: DecodeStats | None = None,
) -> Iterator[ViewBatch]:
    """Only the keyframes in ``[start, stop)``, shrunk into ``views``: the decoder never sees another packet.

    Streams without B-frames number frames by packet order while demuxing; otherwise a first demux pass
    (:class:`KeyframeIndex`) gives each keyframe its display-order number.
    """
    import av

    path = Path(path).expanduser()
    check_file(path)
    levels = {v.decode_key for v in views}
    if len(levels) != 1:
        raise VideoError(
            "keyframe scan views ask for different decoding (lowres, loop filter)", "scan once per decoding setting"
        )
    stats = stats if stats is not None else DecodeStats()
    stats.reader = "pyav"
    shrinkers = [Shrinker(v) for v in views]
    container, stream = open_video(path)
    try:
        lowres, skip_loop_filter = levels.pop()
        configure(stream, threads, lowres, skip_loop_filter)
        cc = stream.codec_context
        cc.skip_frame = "NONKEY"
        display = None
        if cc.has_b_frames:
            from noscope_core.video.readers.keyframe_cache import keyframe_index

            index = keyframe_index(path)
            display = dict(zip(index.keyframe_pts.tolist(), index.keyframes.tolist(), strict=True))
        pending: deque[int] = deque()  # frame numbers of keyframe packets sent, awaiting their frame
        buf: list[tuple[int, float, list[np.ndarray], Any]] = []
        n_packet = 0
        t0 = time.perf_counter()

        def take(frames: list[Any]) -> None:
            for frame in frames:
                i = pending.popleft()
                if i < start or (stop is not None and i >= stop):
                    continue
                t1 = time.perf_counter()
                small = [s(frame) for s in shrinkers]
                stats.shrink_seconds += time.perf_counter() - t1
                ts = 1000.0 * frame.time if frame.time is not None else float("nan")
                buf.append((i, ts, small, frame))
                stats.n_read += 1

        def batch() -> ViewBatch:
            rows = list(buf)
            buf.clear()
            small = {v.name: np.stack([r[2][k] for r in rows]) for k, v in enumerate(views)}
            return ViewBatch(
                np.asarray([r[0] for r in rows], dtype=np.int64),
                small,
                np.asarray([r[1] for r in rows], dtype=np.float64),
                lambda sel: [rows[i][3].to_ndarray(format="bgr24") for i in sel],  # rows: this call's own
            )

        for packet in container.demux(stream):
            if not packet.size:
                continue
            i = n_packet if display is None else display.get(packet.pts, -1)
            n_packet += 1
            if not packet.is_keyframe:
                continue
            if stop is not None and display is None and i >= stop:
                break
            pending.append(i)
            try:
                take(cc.decode(packet))
            except av.error.FFmpegError:
                pending.pop()
                stats.n_failed += 1
            if len(buf) >= batch_size:
                stats.seconds += time.perf_counter() - t0
                yield batch()
                t0 = time.perf_counter()
        try:
            take(cc.decode(None))
        except av.error.FFmpegError:
            pass
        stats.seconds += time.perf_counter() - t0
        if buf:
            yield batch()
    finally:
        container.close()


class FrameFetcher:
    """Full-resolution BGR frames at any frame numbers, by seeking to the keyframe before each and decoding on.

    Forward requests within a GOP decode on from where the last one stopped. A seek is checked against the
    keyframe's timestamp; when a container seeks inexactly the fetcher decodes from the start instead.

    Thread-safe, and usable after ``close`` (it reopens the file): a reader closes its fetcher when its decoding
    thread finishes, while the consumer may still fetch for the batches it has not handled yet — decoding from
    the closed container crashed the process (a segfault in the suite, once in a few hundred runs).
    """

    def __init__(self, path: str | Path, threads: str = "default") -> None:
        self.path = Path(path).expanduser()
        self.threads = threads
        self._lock = threading.RLock()
        self._index: KeyframeIndex | None = None
        self._container: Any = None
        self._frames: Iterator[Any | None] | None = None
        self.pos = 0  # number of the frame the decoder outputs next
        self.seek_ok = True

    @property
    def index(self) -> KeyframeIndex:
        if self._index is None:
            from noscope_core.video.readers.keyframe_cache import keyframe_index

            self._index = keyframe_index(self.path)
        return self._index

    def close(self) -> None:
        with self._lock:
            self._frames = None  # its generator reads the container: never resume it after the close
            if self._container is not None:
                self._container.close()
                self._container = None

    def _restart(self, keyframe: int = -1) -> None:
        """Decode from keyframe number ``keyframe`` of the index (-1: from the first frame of the file)."""
        if self._container is None:
            self._container, stream = open_video(self.path)
            configure(stream, self.threads, 0)
        stream = self._container.streams.video[0]
        if keyframe >= 0 and self.seek_ok:
            target_pts = int(self.index.keyframe_pts[keyframe])
            self._container.seek(target_pts, stream=stream, backward=True, any_frame=False)
            frames = decoded_frames(self._container, stream)
            first = next(frames, None)
            if first is not None and first.pts == target_pts:
                self._frames = _prepend(first, frames)
                self.pos = int(self.index.keyframes[keyframe])
                return
            self.seek_ok = False
        self.close()
        self._container, stream = open_video(self.path)
        configure(stream, self.threads, 0)
        self._frames = decoded_frames(self._container, stream)
        self.pos = 0

    def frames(self, indices: Sequence[int]) -> list[np.ndarray]:
        """BGR frames at ``indices`` (any order, repeats allowed), in the order given."""
        with self._lock:
            return self._frames_locked(indices)

    def _frames_locked(self, indices: Sequence[int]) -> list[np.ndarray]:
        unique = sorted(set(int(i) for i in indices))
        got: dict[int, np.ndarray] = {}
        for target in unique:
            k = self.index.keyframe_before(target) if self.seek_ok else -1
            start = int(self.index.keyframes[k]) if k >= 0 else 0
            if self._frames is None or target < self.pos or (k >= 0 and start > self.pos):
                self._restart(k)
            while self.pos <= target and self._frames is not None:
                frame = next(self._frames, _END)
                if frame is _END:
                    break
                if frame is None:  # a rejected packet: that frame is lost
                    self.pos += 1
                    continue
                if self.pos == target:
                    got[target] = frame.to_ndarray(format="bgr24")
                self.pos += 1
        missing = [i for i in unique if i not in got]
        if missing:
            raise VideoError(
                f"cannot decode {len(missing)} frame(s) of {self.path}: {', '.join(map(str, missing[:8]))}",
                "they lie past the end of the video or are corrupt",
            )
        return [got[int(i)] for i in indices]
