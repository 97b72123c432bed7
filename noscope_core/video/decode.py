"""Video decoding: probe a file, stream its frames, fetch arbitrary frames, and shrink frames for cheap models.

Everything that turns pixels of a source video into model input lives here, so that building the frame store
and running a cascade on new footage see byte-identical inputs (:func:`preprocess` is the single path).
"""

from __future__ import annotations

import hashlib
import json
import math
import queue
import threading
import time
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np

from noscope_core.common.errors import VideoError
from noscope_core.spec.query import ROI

#: consecutive failed grabs after which a stream is taken to be over (truncated or broken file)
MAX_CONSECUTIVE_FAILURES = 16
#: gaps (frames) below which grabbing forward always beats seeking, so seek accuracy is never probed for them
MIN_SEEK_GAP = 32
#: frames decoded sequentially when checking whether seeking lands on the right frame
SEEK_PROBE_FRAMES = 300

_FINGERPRINT_CHUNK = 1 << 20
T = TypeVar("T")
_HAS_FFMPEG = cv2.videoio_registry.hasBackend(cv2.CAP_FFMPEG)


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video, plus a cheap content fingerprint for cache keys."""

    path: str
    width: int
    height: int
    fps: float
    frame_count: int  # as reported by the container (may be 0 or wrong for broken files)
    fourcc: str
    size_bytes: int
    fingerprint: str  # sha256 over (size, first 1 MiB, last 1 MiB)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VideoInfo:
        return cls(
            path=str(d["path"]),
            width=int(d["width"]),
            height=int(d["height"]),
            fps=float(d["fps"]),
            frame_count=int(d["frame_count"]),
            fourcc=str(d["fourcc"]),
            size_bytes=int(d["size_bytes"]),
            fingerprint=str(d["fingerprint"]),
        )


def file_fingerprint(path: str | Path) -> str:
    """sha256 over the size, the first and the last MiB: reads 2 MiB whatever the file size.

    Not a full hash (a 10 GB video would take a minute), but any re-encode, truncation or replacement changes it.
    """
    path = Path(path)
    size = path.stat().st_size
    h = hashlib.sha256()
    h.update(f"{size}\0".encode())
    with open(path, "rb") as fh:
        h.update(fh.read(_FINGERPRINT_CHUNK))
        if size > _FINGERPRINT_CHUNK:
            fh.seek(max(_FINGERPRINT_CHUNK, size - _FINGERPRINT_CHUNK))
            h.update(fh.read(_FINGERPRINT_CHUNK))
    return h.hexdigest()


def _open_capture(path: Path) -> cv2.VideoCapture:
    # FFmpeg explicitly: with CAP_ANY a name like "x_%03d.png" would silently become an image sequence.
    api = cv2.CAP_FFMPEG if _HAS_FFMPEG else cv2.CAP_ANY
    # OpenCV warns on stderr for every file it cannot open; we raise a clearer error ourselves.
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(min(level, cv2.utils.logging.LOG_LEVEL_ERROR))
    try:
        return cv2.VideoCapture(str(path), api)
    finally:
        cv2.utils.logging.setLogLevel(level)


def _fourcc_text(code: float) -> str:
    n = int(code) if math.isfinite(code) else 0
    chars = "".join(chr((n >> (8 * i)) & 0xFF) for i in range(4))
    return chars if chars.isprintable() and chars.strip() else ""


def _check_file(path: Path) -> None:
    if not path.exists():
        raise VideoError(
            f"video file not found: {path}",
            "check the path; `noscope fetch` gets the default camera, `noscope make-camera` makes a composited one "
            "(`make demo` runs both)",
        )
    if not path.is_file():
        raise VideoError(f"not a video file: {path} is a directory or special file", "give the path of a video file")
    if path.stat().st_size == 0:
        raise VideoError(
            f"video file is empty (0 bytes): {path}", "the download or copy was probably interrupted; fetch it again"
        )


def probe_video(path: str | Path) -> VideoInfo:
    """Open ``path``, read its first frame and report its geometry, rate and fingerprint.

    Raises :class:`VideoError` for a missing or empty file, a file OpenCV/FFmpeg cannot open, a video with no
    frames, or one whose first frame cannot be decoded.
    """
    path = Path(path).expanduser()
    _check_file(path)
    cap = _open_capture(path)
    try:
        if not cap.isOpened():
            raise VideoError(
                f"not a video OpenCV can open: {path}",
                "give a video file FFmpeg can read (e.g. .avi, .mp4, .mkv); re-encode it with ffmpeg if needed",
            )
        frame_count = int(max(0, cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        fourcc = _fourcc_text(cap.get(cv2.CAP_PROP_FOURCC))
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok or frame is None:
        if frame_count == 0:
            raise VideoError(f"video has no frames: {path}", "the file holds a container header but no video data")
        raise VideoError(
            f"cannot decode the first frame of {path} (container claims {frame_count} frames)",
            "the file is corrupt or uses a codec this OpenCV build lacks; re-encode it, e.g. `ffmpeg -i in -c:v mpeg4 out.avi`",
        )
    height, width = frame.shape[:2]
    if not math.isfinite(fps) or fps <= 0 or fps > 1000:
        fps = 0.0
    return VideoInfo(
        path=str(path.resolve()),
        width=int(width),
        height=int(height),
        fps=fps,
        frame_count=frame_count,
        fourcc=fourcc,
        size_bytes=path.stat().st_size,
        fingerprint=file_fingerprint(path),
    )


@dataclass(frozen=True)
class FrameBatch:
    """Consecutive decoded frames of one stream; a frame that failed to decode is absent (not a gap-filler)."""

    indices: np.ndarray  # int64 source frame numbers
    frames: list[np.ndarray]  # BGR uint8 full resolution
    timestamps_ms: np.ndarray = field(default_factory=lambda: np.zeros(0))  # float64 container time, NaN if unknown

    def __len__(self) -> int:
        return len(self.frames)


@dataclass
class DecodeStats:
    """Counters a decode loop fills in; ``seconds`` is time spent decoding, not time the consumer spent."""

    n_read: int = 0
    n_failed: int = 0
    seconds: float = 0.0
    #: frame where decoding gave up after repeated failures (a truncated file), None if the stream ended cleanly
    gave_up_at: int | None = None
    #: which reader decoded ("opencv" or "pyav", see noscope_core.video.readers)
    reader: str = "opencv"
    #: part of ``seconds`` spent shrinking into small views (readers that shrink while decoding, else 0)
    shrink_seconds: float = 0.0
    #: frames the decoder skipped (non-reference frames nobody wanted; only in streams with B-frames)
    n_skipped: int = 0
    #: reduced-resolution level the decoder actually ran at (0 when the codec ignores ``lowres``, e.g. H.264)
    lowres: int = 0
    #: whether the decoder really skipped its loop filter (False when not asked, or the codec has none: MPEG-4)
    skip_loop_filter: bool = False
    #: packets never sent to the decoder: a GOP's frames after the last wanted one (frame skip, no B-frames)
    n_dropped: int = 0

    @property
    def fps(self) -> float:
        return self.n_read / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class SeekProfile:
    """Whether ``CAP_PROP_POS_FRAMES`` seeking lands on the frame sequential decoding gives, and what it costs."""

    accurate: bool
    seek_ms: float
    grab_ms: float

    @property
    def break_even_gap(self) -> float:
        """Gap (frames) above which one seek is cheaper than grabbing forward."""
        return max(float(MIN_SEEK_GAP), self.seek_ms / max(self.grab_ms, 1e-3))


_SEEK_CACHE: dict[tuple[str, int, int], SeekProfile] = {}
_SEEK_LOCK = threading.Lock()


def seek_profile(path: str | Path) -> SeekProfile:
    """Check seeking against sequential decoding on this file and time both (cached per file version).

    Decodes up to :data:`SEEK_PROBE_FRAMES` frames in order, keeping a few target frames, then seeks back to each
    target and compares pixels exactly. Codecs with sparse keyframes (e.g. MS-MPEG4v3) make seeking slow, and
    broken timestamps make it land on the wrong frame; either way the readers here then grab forward instead.
    """
    path = Path(path).expanduser().resolve()
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _SEEK_LOCK:
        if key in _SEEK_CACHE:
            return _SEEK_CACHE[key]
    cap = _open_capture(path)
    try:
        claimed = int(max(0, cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
        k = min(claimed, SEEK_PROBE_FRAMES) if claimed else SEEK_PROBE_FRAMES
        targets = sorted({t for t in (min(7, k - 1), k // 3, k // 2 + 1, k - 1) if t > 0})
        kept: dict[int, np.ndarray] = {}
        t0 = time.perf_counter()
        n_grabbed = 0
        for i in range(max(targets, default=0) + 1):
            if not cap.grab():
                break
            n_grabbed += 1
            if i in targets:
                ok, frame = cap.retrieve()
                if ok:
                    kept[i] = frame
        grab_ms = 1000 * (time.perf_counter() - t0) / max(1, n_grabbed)
        accurate = bool(kept)
        seek_times = []
        for t in sorted(kept, reverse=True):  # backwards seeks: the case keyframe bookkeeping gets wrong
            t1 = time.perf_counter()
            ok = cap.set(cv2.CAP_PROP_POS_FRAMES, t)
            ok2, seen = cap.read() if ok else (False, None)
            seek_times.append(time.perf_counter() - t1)
            if not (ok and ok2 and seen is not None and np.array_equal(seen, kept[t])):
                accurate = False
                break
        seek_ms = 1000 * float(np.mean(seek_times)) if seek_times else float("inf")
    finally:
        cap.release()
    profile = SeekProfile(accurate=accurate, seek_ms=seek_ms, grab_ms=grab_ms)
    with _SEEK_LOCK:
        _SEEK_CACHE[key] = profile
    return profile


class _Reader:
    """A VideoCapture that knows the index of the next frame it will decode, and moves by seek or grab."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.cap = _open_capture(path)
        if not self.cap.isOpened():
            raise VideoError(f"not a video OpenCV can open: {path}", "check the file with probe_video")
        self.claimed = int(max(0, self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
        self.pos = 0  # index of the frame the next grab() returns
        self.at_end = False
        self._profile: SeekProfile | None = None

    def close(self) -> None:
        self.cap.release()

    def _seek_ok(self, gap: int) -> bool:
        if gap < MIN_SEEK_GAP and gap >= 0:
            return False
        if self._profile is None:
            self._profile = seek_profile(self.path)
        return self._profile.accurate and (gap < 0 or gap > self._profile.break_even_gap)

    def move_to(self, target: int) -> None:
        """Position so that the next grab decodes frame ``target`` (seek when cheaper and accurate)."""
        gap = target - self.pos
        if gap == 0:
            return
        if self._seek_ok(gap) and self.cap.set(cv2.CAP_PROP_POS_FRAMES, target):
            self.pos = target
            self.at_end = False
            return
        if gap < 0:  # no accurate seek: restart from the beginning
            self.cap.release()
            self.cap = _open_capture(self.path)
            self.pos = 0
            self.at_end = False
        misses = 0
        while self.pos < target:
            if self.cap.grab():
                misses = 0
            else:
                misses += 1
                if misses >= MAX_CONSECUTIVE_FAILURES or (self.claimed and self.pos >= self.claimed):
                    self.at_end = True
                    return
            self.pos += 1

    def grab(self) -> bool:
        """Decode the frame at ``pos`` (without colour conversion) and advance; False if it failed."""
        ok = self.cap.grab()
        self.pos += 1
        return ok

    def retrieve(self) -> tuple[np.ndarray | None, float]:
        ok, frame = self.cap.retrieve()
        ts = float(self.cap.get(cv2.CAP_PROP_POS_MSEC))
        return (frame if ok else None), (ts if math.isfinite(ts) else float("nan"))


def _check_range(start: int, stop: int | None, step: int, batch_size: int) -> None:
    if start < 0:
        raise VideoError(f"start frame must be >= 0, got {start}")
    if stop is not None and stop < start:
        raise VideoError(f"stop frame {stop} lies before start frame {start}")
    if step < 1:
        raise VideoError(f"step must be >= 1, got {step}")
    if batch_size < 1:
        raise VideoError(f"batch_size must be >= 1, got {batch_size}")


def iter_frames(
    path: str | Path,
    start: int = 0,
    stop: int | None = None,
    step: int = 1,
    batch_size: int = 32,
    stats: DecodeStats | None = None,
) -> Iterator[FrameBatch]:
    """Stream full-resolution BGR frames ``start, start+step, ... < stop`` in batches (bounded memory).

    Frames between wanted ones are only grabbed (decoded, not colour-converted). A frame that fails to decode is
    counted in ``stats.n_failed`` and left out of its batch; after :data:`MAX_CONSECUTIVE_FAILURES` failures in a
    row the stream is taken to be truncated, the frames the container still claimed are counted as failed, and
    iteration ends with what could be decoded.
    """
    path = Path(path).expanduser()
    _check_file(path)
    _check_range(start, stop, step, batch_size)
    stats = stats if stats is not None else DecodeStats()
    reader = _Reader(path)
    try:
        t0 = time.perf_counter()
        reader.move_to(start)
        stats.seconds += time.perf_counter() - t0
        idx_buf: list[int] = []
        frame_buf: list[np.ndarray] = []
        ts_buf: list[float] = []
        run_start: int | None = None  # first frame of the current run of failures
        run_failed_wanted = 0
        while not reader.at_end and (stop is None or reader.pos < stop):
            t0 = time.perf_counter()
            idx = reader.pos
            wanted = (idx - start) % step == 0
            ok = reader.grab()
            frame, ts = reader.retrieve() if ok and wanted else (None, float("nan"))
            stats.seconds += time.perf_counter() - t0
            if ok and (frame is not None or not wanted):
                run_start, run_failed_wanted = None, 0
                if wanted and frame is not None:  # a wanted frame is never None here
                    idx_buf.append(idx)
                    frame_buf.append(frame)
                    ts_buf.append(ts)
                    stats.n_read += 1
                    if len(frame_buf) >= batch_size:
                        yield FrameBatch(np.asarray(idx_buf, dtype=np.int64), frame_buf, np.asarray(ts_buf))
                        idx_buf, frame_buf, ts_buf = [], [], []
                continue
            # A failed grab: at or past the claimed end it is simply the end of the stream.
            if reader.claimed and idx >= reader.claimed:
                break
            if run_start is None:
                run_start = idx
            if wanted:
                stats.n_failed += 1
                run_failed_wanted += 1
            if idx - run_start + 1 >= MAX_CONSECUTIVE_FAILURES:
                stats.n_failed -= run_failed_wanted
                if reader.claimed:  # a truncated file: every wanted frame still claimed from the run on is lost
                    stats.gave_up_at = run_start
                    end = reader.claimed if stop is None else min(reader.claimed, stop)
                    stats.n_failed += len(range(_first_on_grid(run_start, start, step), end, step))
                break
        if frame_buf:
            yield FrameBatch(np.asarray(idx_buf, dtype=np.int64), frame_buf, np.asarray(ts_buf))
    finally:
        reader.close()


def _first_on_grid(i: int, start: int, step: int) -> int:
    return i + (-(i - start)) % step


#: bytes of full-resolution frames in one decoded batch (about three are in flight with :func:`prefetch`)
BATCH_BYTES = 64 << 20


def decode_batch_size(info: VideoInfo, batch_size: int) -> int:
    """``batch_size`` capped so the ~3 full-resolution batches in flight (decoding, queued, in use) stay near 200 MB."""
    frame_bytes = max(1, info.width * info.height * 3)
    return max(1, min(batch_size, max(4, BATCH_BYTES // frame_bytes)))


def prefetch(batches: Iterable[T], depth: int = 2) -> Generator[T, None, None]:
    """Run ``batches`` (e.g. :func:`iter_frames`) in a background thread, ``depth`` items ahead.

    OpenCV releases the GIL while decoding, so decoding the next batch overlaps preprocessing or inference on
    this one. Exceptions of the producer re-raise here; leaving the loop early stops the producer.
    """
    items: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        it = iter(batches)
        try:
            for item in it:
                if not put(("item", item)):
                    break
            put(("done", None))
        except BaseException as err:  # noqa: BLE001 - handed to the consumer, raised there
            put(("error", err))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="noscope-decode", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = items.get()
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        thread.join()


def read_frames(path: str | Path, indices: Sequence[int] | np.ndarray) -> list[np.ndarray]:
    """Full-resolution BGR frames at arbitrary ``indices`` (any order, repeats allowed), in the order given.

    Sorted internally; each gap is crossed by seeking when :func:`seek_profile` found seeking exact and cheaper
    than grabbing that many frames, else by grabbing forward. Raises :class:`VideoError` naming the frames that
    do not exist or cannot be decoded.
    """
    path = Path(path).expanduser()
    _check_file(path)
    wanted = np.asarray(indices, dtype=np.int64).reshape(-1)
    if len(wanted) == 0:
        return []
    if wanted.min() < 0:
        raise VideoError(f"negative frame index {int(wanted.min())}")
    unique = np.unique(wanted)
    got: dict[int, np.ndarray] = {}
    reader = _Reader(path)
    try:
        for target in unique.tolist():
            reader.move_to(target)
            if reader.at_end:
                break
            if reader.grab():
                frame, _ = reader.retrieve()
                if frame is not None:
                    got[target] = frame
    finally:
        reader.close()
    missing = [i for i in unique.tolist() if i not in got]
    if missing:
        shown = ", ".join(map(str, missing[:8])) + (" ..." if len(missing) > 8 else "")
        raise VideoError(
            f"cannot read {len(missing)} frame(s) of {path}: {shown}",
            "they lie past the end of the video or are corrupt; check FrameStore.decoded_ok before asking for them",
        )
    return [got[i] for i in wanted.tolist()]


@dataclass(frozen=True)
class ViewSpec:
    """How a full frame becomes a cheap model's input: optional crop to a region (plus margin), then size×size RGB.

    ``lowres`` > 0 decodes at 1/2**lowres of the resolution first (FFmpeg's reduced-resolution decoding, PyAV
    only, ignored by codecs without it such as H.264): cheaper, but other pixels, so it is part of the view.
    ``skip_loop_filter`` decodes without the in-loop deblocking filter (FFmpeg's ``skip_loop_filter=all``, PyAV
    only; H.264/HEVC/VP8 have one, MPEG-4 part 2 and MS-MPEG4 do not): for the same reason part of the view.
    """

    size: int = 50
    roi: ROI | None = None
    margin: float = 0.1  # fractions of the frame added around the ROI on each side (clipped to the frame)
    lowres: int = 0
    skip_loop_filter: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.size, (int, np.integer)) or not (4 <= int(self.size) <= 4096):
            raise VideoError(f"view size must be an integer in [4, 4096], got {self.size!r}")
        if not (math.isfinite(self.margin) and 0.0 <= self.margin <= 1.0):
            raise VideoError(f"view margin must lie in [0, 1], got {self.margin!r}")
        if isinstance(self.lowres, bool) or self.lowres not in (0, 1, 2, 3):
            raise VideoError(f"view lowres must be 0, 1, 2 or 3, got {self.lowres!r}", "0 decodes at full resolution")
        if not isinstance(self.skip_loop_filter, (bool, np.bool_)):
            raise VideoError(f"view skip_loop_filter must be True or False, got {self.skip_loop_filter!r}")
        object.__setattr__(self, "skip_loop_filter", bool(self.skip_loop_filter))

    @property
    def exact_decode(self) -> bool:
        """Whether frames are decoded as every player decodes them (no reduced resolution, loop filter on)."""
        return not self.lowres and not self.skip_loop_filter

    @property
    def decode_key(self) -> tuple[int, bool]:
        """``(lowres, skip_loop_filter)``: views with the same key can be shrunk from one decoding pass."""
        return int(self.lowres), bool(self.skip_loop_filter)

    @property
    def name(self) -> str:
        suffix = (f"-lr{self.lowres}" if self.lowres else "") + ("-nlf" if self.skip_loop_filter else "")
        if self.roi is None:
            return f"full{self.size}{suffix}"
        blob = json.dumps([round(v, 6) for v in (*self.roi.as_tuple(), self.margin)]).encode()
        return f"roi{self.size}-{hashlib.sha256(blob).hexdigest()[:8]}{suffix}"

    def crop_box(self, width: int, height: int) -> tuple[int, int, int, int]:
        """Pixel box ``(x0, y0, x1, y1)`` (exclusive ends) of a ``width``×``height`` frame this view keeps."""
        if self.roi is None:
            return 0, 0, width, height
        r = self.roi
        x0 = math.floor(max(0.0, r.x0 - self.margin) * width)
        y0 = math.floor(max(0.0, r.y0 - self.margin) * height)
        x1 = math.ceil(min(1.0, r.x1 + self.margin) * width)
        y1 = math.ceil(min(1.0, r.y1 + self.margin) * height)
        return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "size": int(self.size),
            "roi": list(self.roi.as_tuple()) if self.roi else None,
            "margin": float(self.margin),
        }
        if self.lowres:  # absent at 0, so full-resolution views keep the dicts they always had
            d["lowres"] = int(self.lowres)
        if self.skip_loop_filter:  # likewise absent when off
            d["skip_loop_filter"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ViewSpec:
        return cls(
            size=int(d["size"]),
            roi=ROI.parse(d.get("roi")),
            margin=float(d.get("margin", 0.1)),
            lowres=int(d.get("lowres", 0)),
            skip_loop_filter=bool(d.get("skip_loop_filter", False)),
        )


def _prescale(n: int, size: int) -> int:
    """Largest ``size * 2**k <= n`` with ``2**k <= 4`` (or ``size`` when upscaling)."""
    m = size
    while m * 2 <= n and m < 4 * size:
        m *= 2
    return m


def _shrink(img: np.ndarray, size: int) -> np.ndarray:
    """size×size BGR from any BGR image, close to a full INTER_AREA resize at a fraction of its cost.

    A bilinear resize to at most 4×size per axis (cheap, mild aliasing), then exact 2× box halvings with
    INTER_AREA, which OpenCV runs on a fast path. Full-resolution INTER_AREA costs more than decoding.
    """
    h, w = img.shape[:2]
    mw, mh = _prescale(w, size), _prescale(h, size)
    if (mw, mh) != (w, h):
        img = cv2.resize(img, (mw, mh), interpolation=cv2.INTER_LINEAR)
    while mw > size or mh > size:
        mw, mh = max(size, mw // 2), max(size, mh // 2)
        img = cv2.resize(img, (mw, mh), interpolation=cv2.INTER_AREA)
    return img


def preprocess(frames_bgr: Sequence[np.ndarray], view: ViewSpec) -> np.ndarray:
    """``(B, size, size, 3)`` uint8 RGB for ``view`` from full-resolution BGR uint8 frames.

    The one function used both to build the frame store and on new footage at query time, so that cheap models
    always see identical inputs.
    """
    s = view.size
    out = np.empty((len(frames_bgr), s, s, 3), dtype=np.uint8)
    for i, frame in enumerate(frames_bgr):
        check_bgr_frame(i, frame)
        x0, y0, x1, y1 = view.crop_box(frame.shape[1], frame.shape[0])
        small = _shrink(frame[y0:y1, x0:x1], s)
        out[i] = small[:, :, ::-1]  # BGR -> RGB on the small image, not the full one
    return out


def check_bgr_frame(i: int, frame: object) -> None:
    """:class:`VideoError` unless frame ``i`` is a BGR uint8 (H, W, 3) array, as OpenCV decodes it."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        shape = getattr(frame, "shape", None)
        dtype = getattr(frame, "dtype", type(frame).__name__)
        raise VideoError(
            f"frame {i} has shape {shape} and dtype {dtype}", "expected BGR uint8 (H, W, 3) as decoded by OpenCV"
        )


def measure_preprocess_fps(frames_bgr: Sequence[np.ndarray], view: ViewSpec, repeats: int = 3) -> float:
    """Best-of-``repeats`` frames/s of :func:`preprocess` on these frames (for reports and benchmarks)."""
    best = 0.0
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        preprocess(frames_bgr, view)
        dt = time.perf_counter() - t0
        best = max(best, len(frames_bgr) / dt if dt > 0 else 0.0)
    return best


__all__ = [
    "VideoInfo",
    "FrameBatch",
    "DecodeStats",
    "SeekProfile",
    "ViewSpec",
    "probe_video",
    "file_fingerprint",
    "iter_frames",
    "read_frames",
    "prefetch",
    "decode_batch_size",
    "seek_profile",
    "preprocess",
    "check_bgr_frame",
    "measure_preprocess_fps",
]
