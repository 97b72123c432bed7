"""The PyAV reader: FFmpeg through PyAV, decoding threaded or at reduced resolution, shrinking straight to the views.

Where its speed comes from (measured in docs/decode.md): one reused swscale context per view with AREA
interpolation and one thread, converting YUV straight into the small RGB view (no full-resolution BGR frame is
ever made); frame + slice threading on codecs where it helps; ``lowres`` decoding and ``skip_loop_filter`` for
views that ask for them; and, with a frame skip, never decoding a GOP's frames after the last wanted one.
Full-resolution BGR frames are converted only for the frames the reference detector is asked about.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from noscope_core.common.errors import VideoError
from noscope_core.video.frames import DecodeStats
from noscope_core.video.readers.base import ReaderChoice, ViewBatch, no_full_frames
from noscope_core.video.views import ViewSpec

#: decoders where frame + slice threading ("AUTO") speeds decoding up (docs/decode.md, "Threads": MS-MPEG4 has none)
THREADED_CODECS = frozenset({"mpeg4", "h264", "hevc", "mpeg2video", "mpeg1video", "vp8", "vp9", "av1"})
_YUV420 = frozenset({"yuv420p", "yuvj420p"})
#: decoders with an in-loop deblocking filter that honour ``skip_loop_filter`` (MPEG-4 part 2, MS-MPEG4 have none)
LOOP_FILTER_CODECS = frozenset({"h264", "hevc", "vp8"})
#: decoders whose every keyframe starts afresh: no later frame refers to a frame before it (without B-frames)
CLOSED_KEYFRAME_CODECS = frozenset(
    {"mpeg4", "msmpeg4", "msmpeg4v1", "msmpeg4v2", "msmpeg4v3", "wmv1", "wmv2", "h263", "h263p", "flv"}
    | {"mpeg1video", "mpeg2video", "mjpeg", "vp8", "vp9"}
)


def open_video(path: str | Path) -> Any:
    """``(container, stream)`` of the first video stream; :class:`VideoError` when PyAV cannot open it."""
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as err:
        raise VideoError(f"PyAV cannot open {path}: {err}", "check the file with probe_video") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"no video stream in {path}", "give a video file, not an audio or data file")
    return container, container.streams.video[0]


def configure(stream: Any, threads: str, lowres: int, skip_loop_filter: bool = False) -> None:
    """Threading, reduced resolution and the loop filter, set before the first packet is decoded (read at open)."""
    cc = stream.codec_context
    if threads == "AUTO":
        cc.thread_type = "AUTO"
    options = {}
    if lowres:
        options["lowres"] = str(int(lowres))
    if skip_loop_filter:  # an AVDiscard level: "all" frames skip deblocking (codecs without a filter ignore it)
        options["skip_loop_filter"] = "all"
    if options:
        cc.options = options


def nal_types(data: bytes, hevc: bool) -> list[int]:
    """NAL unit types of one H.264/HEVC packet: length-prefixed (MP4, 4-byte lengths) or Annex B start codes."""
    shift, mask = (1, 0x3F) if hevc else (0, 0x1F)
    types: list[int] = []
    pos = 0
    while pos + 4 < len(data):  # length-prefixed when the lengths tile the packet exactly
        n = int.from_bytes(data[pos : pos + 4], "big")
        if n <= 0 or pos + 4 + n > len(data):
            types = []
            break
        types.append((data[pos + 4] >> shift) & mask)
        pos += 4 + n
    if types and pos == len(data):
        return types
    types, pos = [], data.find(b"\x00\x00\x01")
    while 0 <= pos and pos + 3 < len(data):
        types.append((data[pos + 3] >> shift) & mask)
        pos = data.find(b"\x00\x00\x01", pos + 3)
    return types


def closed_keyframe(packet: Any, codec: str) -> bool:
    """Whether no frame after ``packet`` refers to one before it, so earlier packets can go undecoded.

    H.264: an IDR picture (a non-IDR I-frame may be followed by P-frames referring past it); HEVC: any intra
    random-access picture (pictures after it in both orders never refer past it); codecs in
    :data:`CLOSED_KEYFRAME_CODECS`: any keyframe. Only for streams without B-frames.
    """
    if not packet.is_keyframe:
        return False
    if codec == "h264":
        return 5 in nal_types(bytes(packet), hevc=False)
    if codec == "hevc":
        return any(16 <= t <= 23 for t in nal_types(bytes(packet), hevc=True))
    return codec in CLOSED_KEYFRAME_CODECS


def decoded_frames(container: Any, stream: Any) -> Iterator[Any | None]:
    """Every frame the decoder outputs, in display order; None for a packet it rejected (one frame lost).

    Zero-size packets (AVI's "drop frame" placeholders) are passed over: handing one to the decoder would
    drain it mid-stream. The decoder is drained once, after the last packet.
    """
    import av

    cc = stream.codec_context
    for packet in container.demux(stream):
        if not packet.size:
            continue
        try:
            frames = cc.decode(packet)
        except av.error.FFmpegError:
            yield None
            continue
        yield from frames
    try:
        yield from cc.decode(None)
    except av.error.FFmpegError:
        return


def effective_lowres(full_width: int, decoded_width: int) -> int:
    """The level a decoder really used: codecs without reduced resolution (H.264) decode full size silently."""
    level = 0
    while level < 3 and -(-full_width // 2 ** (level + 1)) >= decoded_width:
        level += 1
    return level


#: frames below which decoding from the file's start beats reading the keyframe index to seek
MIN_SEEK_FRAMES = 64
_END: Any = object()  # Any: an `is _END` check cannot narrow a plain object's type


def _prepend(first: Any, rest: Iterator[Any | None]) -> Iterator[Any | None]:
    yield first
    yield from rest


def _from_gop_of(
    container: Any, path: Path, start: int, threads: str, lowres: int, skip_loop_filter: bool
) -> tuple[Any, int, Iterator]:
    """``(container, n, frames)``: frames decoded from frame ``n``, the keyframe at or before ``start``.

    The seek lands on the keyframe's timestamp or is not trusted: then the file is opened again and decoded
    from its first frame (``n`` = 0), as OpenCV's reader does when its seeks are inexact.
    """
    stream = container.streams.video[0]
    if start >= MIN_SEEK_FRAMES:
        from noscope_core.video.readers.keyframe_cache import keyframe_index

        index = keyframe_index(path)
        k = index.keyframe_before(start)
        if k >= 1 and index.keyframes[k] > 0 and index.keyframe_pts[k] >= 0:
            pts = int(index.keyframe_pts[k])
            container.seek(pts, stream=stream, backward=True, any_frame=False)
            frames = decoded_frames(container, stream)
            first = next(frames, _END)
            if first is not _END and first is not None and first.pts == pts:
                return container, int(index.keyframes[k]), _prepend(first, frames)
            container.close()
            container, stream = open_video(path)
            configure(stream, threads, lowres, skip_loop_filter)
    return container, 0, decoded_frames(container, stream)


def _frames_by_pts(container: Any, stream: Any, wanted: Any, stats: DecodeStats) -> Iterator[tuple[int, Any]]:
    """``(frame number, frame)`` in display order, letting the decoder skip non-reference frames nobody wants.

    For streams with B-frames: ``skip_frame`` is set per packet ("NONREF" when the packet's frame is not
    wanted), which frame threading copies to the worker with the packet. Skipped frames never come out, so
    frames are numbered by the rank of their timestamp among all packets' (one demux pass first).
    ``stats.n_skipped`` counts the packets the decoder was allowed to skip and did.
    """
    import av

    from noscope_core.video.readers.keyframes import packet_timestamps

    pts_sorted = np.sort(packet_timestamps(container.name, stream.index))
    cc = stream.codec_context
    n_sent = n_out = 0

    def number(pts: int | None) -> int:
        return int(np.searchsorted(pts_sorted, pts)) if pts is not None else -1

    for packet in container.demux(stream):
        if not packet.size:
            continue
        i = number(packet.pts)
        cc.skip_frame = "DEFAULT" if i < 0 or wanted(i) else "NONREF"
        n_sent += 1
        try:
            frames = cc.decode(packet)
        except av.error.FFmpegError:
            yield i, None
            continue
        for frame in frames:
            n_out += 1
            yield number(frame.pts), frame
    cc.skip_frame = "DEFAULT"
    try:
        for frame in cc.decode(None):
            n_out += 1
            yield number(frame.pts), frame
    except av.error.FFmpegError:
        pass
    stats.n_skipped += max(0, n_sent - n_out)


def _wanted_only(
    container: Any, stream: Any, wanted: Any, stop: int | None, stats: DecodeStats
) -> Iterator[tuple[int, Any]]:
    """``(frame number, frame)`` for streams without B-frames, never decoding a GOP's frames after its last wanted one.

    Packets are held from each closed keyframe (:func:`closed_keyframe`) on and sent to the decoder only when a
    wanted frame arrives; those still held when the next closed keyframe (or the end) comes are references for
    no wanted frame and are dropped (``stats.n_dropped``). Frames are numbered by packet (decode order is display
    order without B-frames); a packet the decoder rejects yields ``(its number, None)``.
    """
    from collections import deque

    import av

    cc = stream.codec_context
    codec = cc.name
    held: list[tuple[int, Any]] = []
    pending: deque[int] = deque()  # numbers of packets sent, awaiting their frame (frame threading delays them)
    n = 0
    for packet in container.demux(stream):
        if not packet.size:
            continue
        if stop is not None and n >= stop:
            break
        if closed_keyframe(packet, codec):
            stats.n_dropped += len(held)
            held = []
        held.append((n, packet))
        if wanted(n):
            for i, p in held:
                pending.append(i)
                try:
                    frames = cc.decode(p)
                except av.error.FFmpegError:
                    yield pending.pop(), None
                    continue
                for frame in frames:
                    yield pending.popleft(), frame
            held = []
        n += 1
    stats.n_dropped += len(held)
    try:
        for frame in cc.decode(None):
            if pending:
                yield pending.popleft(), frame
    except av.error.FFmpegError:
        return


class Shrinker:
    """One view's small frame from a decoded :class:`av.VideoFrame`, through one reused swscale context.

    A region is cropped from the YUV planes before scaling, its box widened to even pixels so the 2×2 chroma
    samples stay whole (at most one source pixel more per side than :meth:`ViewSpec.crop_box`).
    """

    def __init__(self, view: ViewSpec) -> None:
        from av.video.reformatter import VideoReformatter

        self.view = view
        self.size = int(view.size)
        self._reformatter = VideoReformatter()

    def __call__(self, frame: Any) -> np.ndarray:
        if self.view.roi is not None:
            frame = self._crop(frame)
            if isinstance(frame, np.ndarray):
                return frame
        # threads=1: a scaler per frame or auto threads costs 1.3-2.7x more on small outputs (docs/decode.md)
        small = self._reformatter.reformat(
            frame, width=self.size, height=self.size, format="rgb24", interpolation="AREA", threads=1
        )
        return small.to_ndarray()

    def _crop(self, frame: Any) -> Any:
        import av

        w, h = frame.width, frame.height
        x0, y0, x1, y1 = self.view.crop_box(w, h)
        if frame.format.name not in _YUV420:  # other layouts: through full-resolution RGB (slower, same box)
            rgb = frame.to_ndarray(format="rgb24")[y0:y1, x0:x1]
            return cv2.resize(rgb, (self.size, self.size), interpolation=cv2.INTER_AREA)
        x0, y0 = x0 - x0 % 2, y0 - y0 % 2
        x1, y1 = min(w - w % 2, x1 + x1 % 2), min(h - h % 2, y1 + y1 % 2)
        if x1 <= x0 or y1 <= y0:
            x1, y1 = x0 + 2, y0 + 2
        parts = []
        for k, p in enumerate(frame.planes):
            f = 1 if k == 0 else 2
            a = np.frombuffer(p, np.uint8, count=p.line_size * p.height).reshape(p.height, p.line_size)
            parts.append(a[y0 // f : y1 // f, x0 // f : x1 // f].ravel())
        cropped = av.VideoFrame.from_ndarray(np.concatenate(parts).reshape(-1, x1 - x0), format="yuv420p")
        cropped.colorspace = frame.colorspace
        cropped.color_range = frame.color_range
        return cropped


class PyAVReader:
    """Decodes with PyAV; see the module docstring. ``threads`` is "AUTO" or "default"."""

    def __init__(self, codec: str = "", threads: str = "default", reason: str = "") -> None:
        self.choice = ReaderChoice(name="pyav", codec=codec, threads=threads, reason=reason)

    def iter_views(
        self,
        path: Path,
        views: Sequence[ViewSpec],
        start: int = 0,
        stop: int | None = None,
        step: int = 1,
        batch_size: int = 32,
        stats: DecodeStats | None = None,
        keep_full: bool = True,
    ) -> Iterator[ViewBatch]:
        """Frames ``start, start+step, … < stop`` shrunk into ``views`` (all decoded alike: one ``decode_key``).

        Frames are numbered in the order the decoder outputs them, as OpenCV numbers its grabs; a packet the
        decoder rejects counts as one failed frame. When the stream ends before the frame count its container
        claimed (a truncated file), the missing wanted frames are counted as failed and ``gave_up_at`` says where.
        With ``step`` > 1 only the frames wanted frames depend on are decoded: in B-frame streams unwanted
        non-reference frames are skipped (``stats.n_skipped``), in others each GOP's frames after its last wanted
        one are never sent to the decoder (``stats.n_dropped``); the wanted frames' pixels are the same.
        """
        keys = {v.decode_key for v in views}
        if len(keys) != 1:
            raise VideoError(
                f"views {', '.join(v.name for v in views)} ask for different decoding (lowres, loop filter)",
                "decode each setting separately (one reader per setting)",
            )
        level, skip_loop_filter = keys.pop()
        exact = not level and not skip_loop_filter
        stats = stats if stats is not None else DecodeStats()
        stats.reader = "pyav"
        shrinkers = [Shrinker(v) for v in views]
        container, stream = open_video(path)
        fetcher = None
        try:
            configure(stream, self.choice.threads, level, skip_loop_filter)
            codec = stream.codec_context.name
            stats.skip_loop_filter = skip_loop_filter and codec in LOOP_FILTER_CODECS
            claimed = int(stream.frames or 0)
            full_width = int(stream.codec_context.width or 0)
            idx = 0
            buf_idx: list[int] = []
            buf_ts: list[float] = []
            buf_small: list[list[np.ndarray]] = [[] for _ in views]
            held: list[Any] = []

            def flush() -> ViewBatch:
                nonlocal buf_idx, buf_ts, buf_small, held, fetcher
                indices = np.asarray(buf_idx, dtype=np.int64)
                small = {v.name: np.stack(s) for v, s in zip(views, buf_small, strict=True)}
                if not keep_full:
                    full = no_full_frames
                elif exact:
                    frames = held

                    def full(sel: Sequence[int] | np.ndarray, frames: list[Any] = frames) -> list[np.ndarray]:
                        return [frames[i].to_ndarray(format="bgr24") for i in sel]

                else:  # frames decoded at reduced resolution or unfiltered: the reference's are decoded again
                    if fetcher is None:
                        from noscope_core.video.readers.keyframes import FrameFetcher

                        fetcher = FrameFetcher(path, threads=self.choice.threads)
                    fetch = fetcher

                    def full(sel: Sequence[int] | np.ndarray, indices: np.ndarray = indices) -> list[np.ndarray]:
                        return fetch.frames(indices[np.asarray(sel, dtype=np.int64)].tolist())

                batch = ViewBatch(indices, small, np.asarray(buf_ts, dtype=np.float64), full)
                buf_idx, buf_ts, buf_small, held = [], [], [[] for _ in views], []
                return batch

            done = False
            t0 = time.perf_counter()

            def is_wanted(i: int) -> bool:
                return i >= start and (i - start) % step == 0

            if step > 1 and stream.codec_context.has_b_frames:
                numbered = _frames_by_pts(container, stream, is_wanted, stats)
            elif step > 1 and (codec in CLOSED_KEYFRAME_CODECS or codec in ("h264", "hevc")):
                numbered = _wanted_only(container, stream, is_wanted, stop, stats)
            else:
                container, first_index, frames = _from_gop_of(
                    container, path, start, self.choice.threads, level, skip_loop_filter
                )
                numbered = enumerate(frames, start=first_index)
            for i, frame in numbered:
                if stop is not None and i >= stop:
                    done = True
                    break
                wanted = i >= start and (i - start) % step == 0
                idx = i + 1
                if frame is None:
                    stats.n_failed += wanted
                    continue
                if not wanted:
                    continue
                if stats.n_read == 0 and level and full_width:
                    stats.lowres = effective_lowres(full_width, frame.width)
                t1 = time.perf_counter()
                for k, shrink in enumerate(shrinkers):
                    buf_small[k].append(shrink(frame))
                stats.shrink_seconds += time.perf_counter() - t1
                buf_idx.append(i)
                buf_ts.append(1000.0 * frame.time if frame.time is not None else float("nan"))
                if keep_full and exact:  # held frames keep their buffers from the decoder's pool
                    held.append(frame)
                stats.n_read += 1
                if len(buf_idx) >= batch_size:
                    stats.seconds += time.perf_counter() - t0
                    yield flush()
                    t0 = time.perf_counter()
            stats.seconds += time.perf_counter() - t0
            if not done and claimed > idx:  # the stream ended before the frames its container claimed
                end = claimed if stop is None else min(claimed, stop)
                first = max(idx, start)
                first += (-(first - start)) % step
                if end > first:
                    stats.gave_up_at = idx
                    stats.n_failed += len(range(first, end, step))
            if buf_idx:
                yield flush()
        finally:
            container.close()
            if fetcher is not None:
                fetcher.close()
