"""Shared by the pixel-reading detectors: input checks, letterboxing, thread counts, YOLO-style NMS."""

from __future__ import annotations

import os

import cv2
import numpy as np

from noscope_core.common.errors import DetectorError
from noscope_core.reference.detection import Detection


def default_num_threads() -> int:
    """Threads for one detector's inference: all cores, up to 4.

    A 320-640 px detector gains little past 4 threads, and leaving the rest free keeps the decode and
    training work beside it responsive.
    """
    return max(1, min(4, os.cpu_count() or 1))


def as_bgr(frame: np.ndarray) -> np.ndarray:
    """The frame as a uint8 BGR (H, W, 3) array; grey frames are expanded, anything else refused."""
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise DetectorError(f"expected BGR frames of shape (H, W, 3), got {frame.shape}")
    if frame.dtype != np.uint8:
        raise DetectorError(f"expected uint8 frames, got {frame.dtype}")
    return frame


def letterbox(frame: np.ndarray, width: int, height: int, pad_value: int = 114) -> tuple[np.ndarray, float, int, int]:
    """Resize keeping the aspect ratio and pad to ``width`` x ``height`` (centred, grey as YOLO trains).

    Returns the padded image, the scale applied, and the left / top padding in pixels, so that a point
    ``(u, v)`` of the padded image is ``((u - left) / scale, (v - top) / scale)`` in the frame.
    """
    h, w = frame.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
    left, top = (width - nw) // 2, (height - nh) // 2
    out = np.full((height, width, 3), pad_value, dtype=np.uint8)
    out[top : top + nh, left : left + nw] = resized
    return out, scale, left, top


def nms_detections(
    boxes_cxcywh: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray,
    class_names: tuple[str, ...],
    conf_threshold: float,
    nms_threshold: float,
) -> list[Detection]:
    """Per-class non-maximum suppression of candidate boxes given as fractions (cx, cy, w, h).

    IoU is unchanged by scaling the axes, so suppressing in frame fractions equals suppressing in pixels.
    """
    keep = scores >= conf_threshold
    if not np.any(keep):
        return []
    boxes_cxcywh, scores, class_ids = boxes_cxcywh[keep], scores[keep], class_ids[keep]
    x0 = np.clip(boxes_cxcywh[:, 0] - boxes_cxcywh[:, 2] / 2, 0.0, 1.0)
    y0 = np.clip(boxes_cxcywh[:, 1] - boxes_cxcywh[:, 3] / 2, 0.0, 1.0)
    x1 = np.clip(boxes_cxcywh[:, 0] + boxes_cxcywh[:, 2] / 2, 0.0, 1.0)
    y1 = np.clip(boxes_cxcywh[:, 1] + boxes_cxcywh[:, 3] / 2, 0.0, 1.0)
    xywh = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1).astype(np.float64)
    kept = cv2.dnn.NMSBoxesBatched(
        xywh.tolist(), scores.astype(float).tolist(), class_ids.astype(int).tolist(), conf_threshold, nms_threshold
    )
    out = []
    for i in np.asarray(kept, dtype=int).reshape(-1):
        x, y, w, h = xywh[i]
        if w > 0 and h > 0:
            out.append(
                Detection(class_names[int(class_ids[i])], float(scores[i]), float(x), float(y), float(w), float(h))
            )
    out.sort(key=lambda d: -d.score)
    return out
