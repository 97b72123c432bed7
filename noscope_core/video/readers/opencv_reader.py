"""The OpenCV reader: today's path (``cv2.VideoCapture`` grab/retrieve, then :func:`preprocess`), kept as fallback."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from noscope_core.common.errors import VideoError
from noscope_core.video.frames import DecodeStats, iter_frames
from noscope_core.video.readers.base import ReaderChoice, ViewBatch, no_full_frames
from noscope_core.video.shrink import preprocess
from noscope_core.video.views import ViewSpec


class OpenCVReader:
    """Full-resolution BGR from OpenCV, shrunk by :func:`noscope_core.video.shrink.preprocess` (bilinear + 2× AREA steps)."""

    def __init__(self, reason: str = "") -> None:
        self.choice = ReaderChoice(name="opencv", reason=reason)

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
        inexact = [v.name for v in views if not v.exact_decode]
        if inexact:
            raise VideoError(
                f"views {', '.join(inexact)} need reduced-resolution or unfiltered decoding, which OpenCV cannot do"
                f" ({path})",
                "read this video with reader='pyav' (PyAV must open it), or use views with lowres=0 and the loop filter",
            )
        stats = stats if stats is not None else DecodeStats()
        stats.reader = "opencv"
        for batch in iter_frames(path, start=start, stop=stop, step=step, batch_size=batch_size, stats=stats):
            t0 = time.perf_counter()
            small = {v.name: preprocess(batch.frames, v) for v in views}
            dt = time.perf_counter() - t0
            stats.shrink_seconds += dt
            stats.seconds += dt
            frames = batch.frames if keep_full else []
            full = (lambda sel, f=frames: [f[i] for i in sel]) if keep_full else no_full_frames
            yield ViewBatch(batch.indices, small, batch.timestamps_ms, full)
