"""A long answer's memory stays flat: frame-sized buffers are mapped on their own, so freeing one gives its pages
back even while small blocks allocated between them live on (noscope_core.common.memory)."""

from __future__ import annotations

import numpy as np
import pytest

from noscope_core.common import memory

FRAME = (576, 768, 3)  # a full-resolution frame of the composited camera: 1.3 MB


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


needs_glibc = pytest.mark.skipif(memory._glibc() is None, reason="mallopt / malloc_trim are glibc's")


@needs_glibc
def test_freed_frames_go_back_to_the_system_while_small_blocks_between_them_live_on():
    assert memory.streaming_allocator() is True
    assert memory.streaming_allocator() is True  # once per process; later calls are free
    warm = np.empty(FRAME, np.uint8)
    warm.fill(1)
    del warm  # without the pinned threshold, glibc now raises its own past a frame's size
    before = _rss_mib()
    frames, kept = [], []
    for i in range(120):  # ~160 MB of frames, each followed by a small block that outlives it (a detection table)
        f = np.empty(FRAME, np.uint8)
        f.fill(i)  # touched: its pages are resident
        frames.append(f)
        kept.append(np.full(64, i, np.float64))
    peak = _rss_mib()
    del frames
    after = _rss_mib()
    assert peak - before > 100  # the frames were resident
    assert after - before < 20, f"{after - before:.0f} MiB of freed frames still resident"
    assert len(kept) == 120


@needs_glibc
def test_release_free_memory_runs_and_frees_nothing_in_use():
    a = np.arange(1_000_000)
    memory.release_free_memory()
    assert int(a.sum()) == 499_999_500_000
