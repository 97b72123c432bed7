"""The empty scene of a fixed camera: a per-pixel temporal median that ignores the pixels inside people's boxes.

Things that never move (the parked vans of ``vtest.avi``) are background by this definition and stay in it.
"""

from __future__ import annotations

import numpy as np


def median_background(frames: np.ndarray, hidden: np.ndarray | None = None) -> np.ndarray:
    """Median over ``frames`` (N, H, W, 3) uint8; ``hidden`` (N, H, W) bool marks pixels covered by a person.

    Hidden samples are replaced alternately by 0 and 255 along time, pixel by pixel: pairs of one low and one high
    value leave the median of the visible samples where it was, so no slow NaN-median is needed. Where a pixel
    is hidden in most frames, the result is the median of whatever is left, which is the best there is.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"frames must be a non-empty (N, H, W, 3) uint8 array, got {frames.shape} {frames.dtype}")
    if hidden is None:
        return np.median(frames, axis=0).round().astype(np.uint8)
    hidden = np.asarray(hidden, dtype=bool)
    if hidden.shape != frames.shape[:3]:
        raise ValueError(f"hidden mask {hidden.shape} does not match frames {frames.shape[:3]}")
    parity = (np.cumsum(hidden, axis=0, dtype=np.int32) % 2).astype(bool)
    filled = frames.copy()
    filled[hidden & parity] = 255
    filled[hidden & ~parity] = 0
    return np.median(filled, axis=0).round().astype(np.uint8)


def boxes_mask(shape_hw: tuple[int, int], boxes_px: np.ndarray, margin: float = 0.15) -> np.ndarray:
    """A (H, W) mask of the pixel boxes (x, y, w, h), each grown by ``margin`` of its size (shadows, loose boxes)."""
    h_img, w_img = shape_hw
    mask = np.zeros((h_img, w_img), dtype=bool)
    for x, y, w, h in np.asarray(boxes_px, dtype=np.float64).reshape(-1, 4):
        x0, y0 = int(max(0, x - margin * w)), int(max(0, y - margin * h))
        x1, y1 = int(min(w_img, x + w * (1 + margin))), int(min(h_img, y + h * (1 + margin)))
        mask[y0:y1, x0:x1] = True
    return mask
