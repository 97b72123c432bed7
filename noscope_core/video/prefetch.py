"""Decoding in a background thread, a few batches ahead of their consumer, with batches sized to bound memory."""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable
from typing import Any, TypeVar

from noscope_core.video.probe import VideoInfo

T = TypeVar("T")


#: bytes of full-resolution frames in one decoded batch (about three are in flight with :func:`prefetch`)
BATCH_BYTES = 64 << 20


def decode_batch_size(info: VideoInfo, batch_size: int) -> int:
    """``batch_size`` capped so the ~3 full-resolution batches in flight (decoding, queued, in use) stay near 200 MB."""
    frame_bytes = max(1, info.width * info.height * 3)
    return max(1, min(batch_size, max(4, BATCH_BYTES // frame_bytes)))


def prefetch(batches: Iterable[T], depth: int = 2) -> Generator[T, None, None]:
    """Run ``batches`` (e.g. :func:`noscope_core.video.frames.iter_frames`) in a background thread, ``depth`` items ahead.

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
