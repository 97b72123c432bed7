"""A query's positive stretches cut into one short video, so a person can review an answer in a minute.

Each stretch plays at the source frame rate with its frame number and time burnt in; a short dark card
between stretches says which one comes next. The reel is capped in length and its last card says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from noscope_core.common.atomic import atomic_path
from noscope_core.common.errors import QueryError, VideoError
from noscope_core.present.timeline import check_intervals

#: longest reel written by default: a review, not a copy of the footage
MAX_REEL_S = 120.0
#: reels wider than this are scaled down (mp4v at full HD is large and gains nothing for a review)
MAX_WIDTH = 960


@dataclass(frozen=True)
class ClipReel:
    """What :func:`positive_clips` wrote: ``n_stretches`` of ``n_intervals`` fitted under the length cap."""

    path: Path
    n_intervals: int
    n_stretches: int
    n_frames: int  # video frames copied from the source, gap cards not counted
    duration_s: float  # of the whole reel, gap cards included
    fps: float

    @property
    def capped(self) -> bool:
        return self.n_stretches < self.n_intervals


def positive_clips(
    video: str | Path,
    intervals: Sequence[Sequence[int]],
    fps: float,
    out_path: str | Path,
    *,
    gap_s: float = 0.6,
    max_reel_s: float = MAX_REEL_S,
    max_width: int = MAX_WIDTH,
) -> ClipReel:
    """Cut ``intervals`` (``[start, end)`` frames of ``video`` at ``fps``) into one mp4 (OpenCV ``mp4v``),
    in time order, with a ``gap_s`` card before each stretch; written atomically.

    Stretches are taken whole, in time order, while the reel stays under ``max_reel_s``; the stretch that
    would cross it is cut short and the rest are left out (a closing card says how many).
    """
    from noscope_core.video.frames import iter_frames
    from noscope_core.video.probe import probe_video

    if fps <= 0:
        raise QueryError(f"frame rate {fps} is not positive", "pass the video's frames per second")
    spans = check_intervals(intervals)
    if not spans:
        raise QueryError("no positive intervals to cut", "the query found nothing; there is no reel to review")
    info = probe_video(video)
    scale = min(1.0, max_width / info.width) if info.width > 0 else 1.0
    size = (_even(info.width * scale), _even(info.height * scale))
    gap_frames = max(1, round(gap_s * fps))
    budget = max(1, int(max_reel_s * fps))

    out_path = Path(out_path)
    written = copied = stretches = 0
    with atomic_path(out_path, suffix=out_path.suffix or ".mp4") as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter.fourcc(*"mp4v"), float(fps), size)
        if not writer.isOpened():
            raise VideoError(f"cannot write an mp4 video to {out_path}", "this OpenCV build lacks the mp4v encoder")
        try:
            for k, (a, b) in enumerate(spans, start=1):
                if written + gap_frames >= budget:
                    break
                card = _card(size, f"stretch {k} of {len(spans)}", f"{a / fps:.1f} s - {b / fps:.1f} s")
                for _ in range(gap_frames):
                    writer.write(card)
                written += gap_frames
                stop = min(b, a + budget - written)
                for batch in iter_frames(video, a, stop):
                    for i, frame in zip(batch.indices.tolist(), batch.frames, strict=True):
                        writer.write(_overlay(cv2.resize(frame, size), i, i / fps, k, len(spans)))
                        written += 1
                        copied += 1
                stretches += 1
            if stretches < len(spans):
                left = len(spans) - stretches
                more = f"{left} more stretch{'es' if left != 1 else ''} left out"
                card = _card(size, more, f"the reel is capped at {max_reel_s:g} s")
                for _ in range(gap_frames * 2):
                    writer.write(card)
                written += gap_frames * 2
        finally:
            writer.release()
    return ClipReel(out_path, len(spans), stretches, copied, written / fps, float(fps))


def _even(n: float) -> int:
    return max(2, int(n) // 2 * 2)  # mp4 encoders want even sides


def _overlay(frame: np.ndarray, index: int, t_s: float, k: int, n: int) -> np.ndarray:
    """Frame number, time and stretch burnt into the top-left corner on a dark band (readable on any footage)."""
    text = f"frame {index}  {t_s:7.1f} s  stretch {k}/{n}"
    scale = max(0.4, frame.shape[1] / 900)
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(frame, (0, 0), (w + 12, h + base + 10), (0, 0, 0), thickness=-1)
    cv2.putText(frame, text, (6, h + 5), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return frame


def _card(size: tuple[int, int], line1: str, line2: str) -> np.ndarray:
    w, h = size
    card = np.full((h, w, 3), 30, dtype=np.uint8)
    scale = max(0.5, w / 640)
    for text, y in ((line1, 0.45), (line2, 0.6)):
        (tw, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        cv2.putText(card, text, ((w - tw) // 2, int(h * y)), cv2.FONT_HERSHEY_SIMPLEX, scale, (235, 235, 235), 2,
                    cv2.LINE_AA)  # fmt: skip
    return card
