"""Keeping a long answer's memory flat: what grows over hours of footage is the C heap, not Python.

A streaming answer decodes full-resolution frames (about 1.3 MB each at 768x576) for the reference, frees them, and
meanwhile keeps small things for good (each reference call's detections, its cache chunk). glibc serves the large
buffers from its heap once its adaptive mmap threshold has risen past their size; a small block kept between them
then pins freed frame memory in place, so the heap only grows. Measured on the composited camera (a keyframe-first
cascade sending 30,019 of 216,000 frames to a reference whose detections are cached;
``benchmarks.stream_memory``): peak RSS 1,496 MiB over six hours against 898 MiB over one (5,722 such frames).
With the threshold pinned at 1 MiB: 791 MiB and 755 MiB. The price is a fresh mapping for each frame-sized buffer: about 1 ms per frame sent to the
reference here (SSD itself takes 70 ms), nothing on the frames the cascade decides alone. Returning free pages
after every chunk (``malloc_trim``) held the six hours near 700 MB too, but cost more (a heap walk per chunk), so
it runs once, when a run's decoding ends.

Elsewhere than glibc (macOS, musl) both calls do nothing.
"""

from __future__ import annotations

import ctypes
import functools
import sys

#: ``mallopt``'s parameter number for the mmap threshold (glibc's malloc.h)
M_MMAP_THRESHOLD = -3
#: blocks at least this large are mapped and unmapped on their own, never carved from the heap: a full-resolution
#: frame's buffer; small frames, detections and Python's objects stay on the heap (a 256 KiB threshold held memory
#: no flatter and mapped more)
MMAP_THRESHOLD = 1024 * 1024


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)  # the C library this process already runs on
        libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.malloc_trim.argtypes = (ctypes.c_size_t,)
    except (OSError, AttributeError):  # not glibc (musl has neither call)
        return None
    return libc


@functools.cache
def streaming_allocator() -> bool:
    """Pin the C heap's mmap threshold at ``MMAP_THRESHOLD`` for this process (once; later calls are free).

    True when it was set. glibc then stops raising the threshold as large blocks are freed, so frame buffers keep
    their own mappings and go back to the system when freed."""
    libc = _glibc()
    return bool(libc is not None and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def release_free_memory() -> None:
    """Return the C heap's free pages to the system (``malloc_trim(0)``: a walk of the whole heap, so called once
    where a run's decoding ends, not per chunk)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
