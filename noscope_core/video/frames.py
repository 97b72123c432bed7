"""Full-resolution frames through OpenCV: stream them in batches, or fetch them at arbitrary indices.

Both move a :class:`CaptureCursor` (seek where :mod:`noscope_core.video.seeking` found it exact and cheaper, else
grab forward) and account for frames that fail to decode and for truncated files the same way. The counters of a
decode loop (:class:`DecodeStats`) are shared by every reader (see :mod:`noscope_core.video.readers`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from noscope_core.common.errors import VideoError
from noscope_core.video.probe import check_file, check_range, open_capture
from noscope_core.video.seeking import MIN_SEEK_GAP, SeekProfile, seek_profile

#: consecutive failed grabs after which a stream is taken to be over (truncated or broken file)
MAX_CONSECUTIVE_FAILURES = 16


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


class CaptureCursor:
    """A VideoCapture that knows the index of the next frame it will decode, and moves by seek or grab."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.cap = open_capture(path)
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
            self.cap = open_capture(self.path)
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
    check_file(path)
    check_range(start, stop, step, batch_size)
    stats = stats if stats is not None else DecodeStats()
    reader = CaptureCursor(path)
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


def read_frames(path: str | Path, indices: Sequence[int] | np.ndarray) -> list[np.ndarray]:
    """Full-resolution BGR frames at arbitrary ``indices`` (any order, repeats allowed), in the order given.

    Sorted internally; each gap is crossed by seeking when :func:`seek_profile` found seeking exact and cheaper
    than grabbing that many frames, else by grabbing forward. Raises :class:`VideoError` naming the frames that
    do not exist or cannot be decoded.
    """
    path = Path(path).expanduser()
    check_file(path)
    wanted = np.asarray(indices, dtype=np.int64).reshape(-1)
    if len(wanted) == 0:
        return []
    if wanted.min() < 0:
        raise VideoError(f"negative frame index {int(wanted.min())}")
    unique = np.unique(wanted)
    got: dict[int, np.ndarray] = {}
    reader = CaptureCursor(path)
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
