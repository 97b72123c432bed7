"""Shrinking full-resolution BGR frames into a view's small RGB frames, as OpenCV-decoded frames are shrunk.

:func:`preprocess` serves the OpenCV reader and every caller that holds full frames already. It is not the only
shrink path: the PyAV reader shrinks while decoding (:class:`noscope_core.video.readers.pyav_reader.Shrinker`,
FFmpeg's AREA scaler on the YUV planes), so its small frames differ slightly. A frame store records the reader
that built it, and queries read with the same one, so the cheap models see the pixels they were trained on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import cv2
import numpy as np

from noscope_core.common.errors import VideoError
from noscope_core.video.views import ViewSpec


def _prescale(n: int, size: int) -> int:
    """Largest ``size * 2**k <= n`` with ``2**k <= 4`` (or ``size`` when upscaling)."""
    m = size
    while m * 2 <= n and m < 4 * size:
        m *= 2
    return m


def _shrink(img: np.ndarray, size: int) -> np.ndarray:
    """size×size BGR from any BGR image, close to a full INTER_AREA resize at a fraction of its cost.

    A bilinear resize to at most 4×size per axis (cheap, mild aliasing), then exact 2× box halvings with
    INTER_AREA, which OpenCV runs on a fast path. Full-resolution INTER_AREA costs more than decoding.
    """
    h, w = img.shape[:2]
    mw, mh = _prescale(w, size), _prescale(h, size)
    if (mw, mh) != (w, h):
        img = cv2.resize(img, (mw, mh), interpolation=cv2.INTER_LINEAR)
    while mw > size or mh > size:
        mw, mh = max(size, mw // 2), max(size, mh // 2)
        img = cv2.resize(img, (mw, mh), interpolation=cv2.INTER_AREA)
    return img


def preprocess(frames_bgr: Sequence[np.ndarray], view: ViewSpec) -> np.ndarray:
    """``(B, size, size, 3)`` uint8 RGB for ``view`` from full-resolution BGR uint8 frames.

    The OpenCV reader's shrink path, used alike to build a frame store and on new footage at query time, so that
    cheap models read with this reader always see identical inputs.
    """
    s = view.size
    out = np.empty((len(frames_bgr), s, s, 3), dtype=np.uint8)
    for i, frame in enumerate(frames_bgr):
        check_bgr_frame(i, frame)
        x0, y0, x1, y1 = view.crop_box(frame.shape[1], frame.shape[0])
        small = _shrink(frame[y0:y1, x0:x1], s)
        out[i] = small[:, :, ::-1]  # BGR -> RGB on the small image, not the full one
    return out


def check_bgr_frame(i: int, frame: object) -> None:
    """:class:`VideoError` unless frame ``i`` is a BGR uint8 (H, W, 3) array, as OpenCV decodes it."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        shape = getattr(frame, "shape", None)
        dtype = getattr(frame, "dtype", type(frame).__name__)
        raise VideoError(
            f"frame {i} has shape {shape} and dtype {dtype}", "expected BGR uint8 (H, W, 3) as decoded by OpenCV"
        )


def measure_preprocess_fps(frames_bgr: Sequence[np.ndarray], view: ViewSpec, repeats: int = 3) -> float:
    """Best-of-``repeats`` frames/s of :func:`preprocess` on these frames (for reports and benchmarks)."""
    best = 0.0
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        preprocess(frames_bgr, view)
        dt = time.perf_counter() - t0
        best = max(best, len(frames_bgr) / dt if dt > 0 else 0.0)
    return best
