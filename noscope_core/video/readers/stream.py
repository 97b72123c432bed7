"""The one entry point for streaming small views of a video: checks, reader choice, then the reader's batches."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from noscope_core.common.errors import VideoError
from noscope_core.video.frames import DecodeStats
from noscope_core.video.probe import check_file, check_range
from noscope_core.video.readers.base import VideoReader, ViewBatch
from noscope_core.video.readers.choose import choose_reader
from noscope_core.video.views import ViewSpec


def iter_views(
    path: str | Path,
    views: Sequence[ViewSpec],
    start: int = 0,
    stop: int | None = None,
    step: int = 1,
    batch_size: int = 32,
    stats: DecodeStats | None = None,
    reader: str | VideoReader = "auto",
    keep_full: bool = True,
) -> Iterator[ViewBatch]:
    """Frames ``start, start+step, … < stop`` of ``path`` shrunk into ``views``, in batches; ``stats.reader``
    says which reader ran ("auto": PyAV with the codec's best options, OpenCV where PyAV cannot read the file;
    or a reader :func:`~noscope_core.video.readers.choose_reader` already chose).

    Same frame numbers, failure accounting and truncation handling as :func:`noscope_core.video.frames.iter_frames`.
    """
    path = Path(path).expanduser()
    check_file(path)
    check_range(start, stop, step, batch_size)
    if not views:
        raise VideoError("no views to shrink frames into", "e.g. views=(ViewSpec(50),)")
    chosen = choose_reader(path, reader) if isinstance(reader, str) else reader
    yield from chosen.iter_views(
        path, views, start=start, stop=stop, step=step, batch_size=batch_size, stats=stats, keep_full=keep_full
    )
