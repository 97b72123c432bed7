"""The encoding thread: frames reach the writer in order, the writer is released, a failure surfaces as a VideoError."""

from __future__ import annotations

import numpy as np
import pytest

from noscope_core.common.errors import VideoError
from noscope_core.video.writer import QUEUE_FRAMES, encoding_thread


class FakeWriter:
    def __init__(self, fail_at: int | None = None) -> None:
        self.written: list[int] = []
        self.released = False
        self.fail_at = fail_at

    def write(self, frame: np.ndarray) -> None:
        if len(self.written) == self.fail_at:
            raise OSError("No space left on device")
        self.written.append(int(frame[0, 0, 0]))

    def release(self) -> None:
        self.released = True


def frames(n: int):
    return (np.full((2, 2, 3), i, np.uint8) for i in range(n))


def test_every_frame_is_encoded_in_order_and_the_writer_released():
    writer = FakeWriter()
    with encoding_thread(writer, "out.avi", "test-encoder") as put:
        for frame in frames(3 * QUEUE_FRAMES):
            put(frame)
    assert writer.written == list(range(3 * QUEUE_FRAMES)) and writer.released


def test_an_encoding_failure_is_a_video_error_and_the_producer_never_blocks():
    writer = FakeWriter(fail_at=2)
    with pytest.raises(VideoError, match="writing out.avi failed: No space left"):
        with encoding_thread(writer, "out.avi", "test-encoder") as put:
            for frame in frames(5 * QUEUE_FRAMES):  # more than the queue holds: the failed encoder drains it
                put(frame)
    assert writer.written == [0, 1] and writer.released


def test_an_error_while_rendering_propagates_and_still_releases_the_writer():
    writer = FakeWriter()
    with pytest.raises(RuntimeError, match="render"):
        with encoding_thread(writer, "out.avi", "test-encoder") as put:
            put(next(frames(1)))
            raise RuntimeError("render failed")
    assert writer.written == [0] and writer.released
