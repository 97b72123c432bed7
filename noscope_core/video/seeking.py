"""Whether seeking is exact on a file and what it costs against grabbing forward (measured once per file version).

Codecs with sparse keyframes (e.g. MS-MPEG4v3) make seeking slow, and broken timestamps make it land on the wrong
frame; the OpenCV readers (:class:`noscope_core.video.frames.CaptureCursor`) seek only where this found it exact
and cheaper, else they grab forward.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from noscope_core.video.probe import open_capture

#: gaps (frames) below which grabbing forward always beats seeking, so seek accuracy is never probed for them
MIN_SEEK_GAP = 32
#: frames decoded sequentially when checking whether seeking lands on the right frame
SEEK_PROBE_FRAMES = 300


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
    cap = open_capture(path)
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
