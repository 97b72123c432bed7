"""Every frame of a video by plain ``cv2.VideoCapture.read()``: the reference the readers' tests compare against."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def read_sequentially(path: str | Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames
