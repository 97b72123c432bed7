"""Encoding in a writer thread: cv2 releases the GIL while it encodes, so rendering the next frame overlaps it.

Encoding costs about as much as rendering a synthetic frame or composing a long-camera one; both writers use this.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from noscope_core.common.errors import VideoError

#: frames rendered ahead of the encoder (bounded, so memory does not grow with the video's length)
QUEUE_FRAMES = 8


@contextmanager
def encoding_thread(writer: Any, path: str | Path, name: str) -> Iterator[Callable[[np.ndarray], None]]:
    """Yields ``put(frame)``, which hands a BGR frame to ``writer`` (a ``cv2.VideoWriter``) in its own thread.

    On leaving, the thread finishes the queue and the writer is released; an encoding failure is then raised as a
    :class:`VideoError` naming ``path``.
    """
    pending: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=QUEUE_FRAMES)
    failure: list[BaseException] = []

    def encode() -> None:
        try:
            while (frame := pending.get()) is not None:
                writer.write(frame)
        except BaseException as err:  # noqa: BLE001 - surfaced in the caller's thread below
            failure.append(err)
            while pending.get() is not None:  # drain so the producer never blocks
                pass

    thread = threading.Thread(target=encode, name=name, daemon=True)
    thread.start()
    try:
        yield pending.put
    finally:
        pending.put(None)
        thread.join()
        writer.release()
    if failure:
        raise VideoError(f"writing {path} failed: {failure[0]}", "check free disk space")
