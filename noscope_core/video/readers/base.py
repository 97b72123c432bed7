"""What every video reader hands the cascade and the frame store: small views of decoded frames, in batches.

A reader decodes a video and shrinks each wanted frame straight into the cheap models' views, so the two
readers (OpenCV's and PyAV's) are interchangeable behind :class:`VideoReader`. Full-resolution frames, needed
only by the reference detector, are produced on demand for the few frames that reach it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from noscope_core.common.errors import VideoError
from noscope_core.video.frames import DecodeStats
from noscope_core.video.views import ViewSpec

READER_NAMES = ("auto", "opencv", "pyav")


def no_full_frames(sel: Sequence[int] | np.ndarray) -> list[np.ndarray]:
    """``ViewBatch.full`` of a batch read with ``keep_full=False``."""
    raise VideoError("this batch was read without full-resolution frames", "read it with keep_full=True")


@dataclass(frozen=True)
class ReaderChoice:
    """Which reader runs on a file and with which options; recorded in stores and query results."""

    name: str  # "opencv" or "pyav"
    codec: str = ""  # FFmpeg decoder name, "" when unknown (OpenCV)
    threads: str = "default"  # "AUTO" (frame + slice threading) or "default" (the decoder's own)
    reason: str = ""  # why this reader (e.g. why PyAV fell back to OpenCV)

    @property
    def shrink(self) -> str:
        """The resize path small frames take: part of a frame store's identity ("train on the path you query")."""
        return "pyav-area" if self.name == "pyav" else "opencv-pyramid"

    def to_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "codec": self.codec,
            "threads": self.threads,
            "reason": self.reason,
            "shrink": self.shrink,
        }


@dataclass(frozen=True)
class ViewBatch:
    """Consecutive wanted frames of one stream, already shrunk into every requested view.

    ``small[view.name]`` is ``(B, size, size, 3)`` uint8 RGB; ``full(sel)`` gives full-resolution BGR uint8
    frames for positions ``sel`` of this batch (decoded again when the reader decoded at reduced resolution).
    """

    indices: np.ndarray  # int64 source frame numbers
    small: dict[str, np.ndarray]
    timestamps_ms: np.ndarray  # float64 container time, NaN if unknown
    full: Callable[[Sequence[int] | np.ndarray], list[np.ndarray]] = field(repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.indices)


class VideoReader(Protocol):
    """Decodes ``path`` and yields :class:`ViewBatch` es of frames ``start, start+step, … < stop``.

    ``keep_full=False`` promises that ``ViewBatch.full`` is never called (no reference needs pixels, or a frame
    store is being built): decoded frames are then released as soon as they are shrunk.
    """

    choice: ReaderChoice

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
    ) -> Iterator[ViewBatch]: ...
