"""The reference-detector interface: full-resolution frames in, detections out, with a measured cost."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from noscope_core.reference.detection import Detection

__all__ = ["Detection", "ReferenceDetector"]


class ReferenceDetector(ABC):
    """An expensive, trusted detector. Subclasses implement :meth:`_detect`.

    ``detect`` times every call so ``cost_ms_per_frame`` is what this machine measured, unless the
    detector declares its cost (precomputed detections have no run time of their own to measure).
    """

    #: short name used in cache keys and reports, e.g. ``"ssd-mobilenet-v3"``
    name: str = "reference"
    #: False when the detector never looks at pixels (precomputed or synthetic ground truth)
    needs_pixels: bool = True

    def __init__(self) -> None:
        self._frames_timed = 0
        self._seconds_timed = 0.0
        self._declared_cost_ms: float | None = None

    @property
    @abstractmethod
    def class_names(self) -> tuple[str, ...]:
        """Every class name this detector can report."""

    @abstractmethod
    def identity(self) -> str:
        """A string that changes whenever the detector's output could change (weights hash, parameters)."""

    @abstractmethod
    def _detect(self, frames: Sequence[np.ndarray], frame_indices: Sequence[int]) -> list[list[Detection]]:
        """Detect objects in BGR uint8 frames (H, W, 3); ``frame_indices`` are the source frame numbers."""

    def detect(self, frames: Sequence[np.ndarray], frame_indices: Sequence[int]) -> list[list[Detection]]:
        """Run the detector on a batch and record its wall time; returns one list per frame."""
        if len(frames) != len(frame_indices) and self.needs_pixels:
            raise ValueError("frames and frame_indices differ in length")
        start = time.perf_counter()
        out = self._detect(frames, frame_indices)
        self._seconds_timed += time.perf_counter() - start
        self._frames_timed += len(frame_indices)
        return out

    def declare_cost(self, cost_ms_per_frame: float) -> None:
        """Fix the per-frame cost (e.g. from ``--reference-fps``) instead of measuring it."""
        if cost_ms_per_frame <= 0:
            raise ValueError("declared cost must be positive")
        self._declared_cost_ms = float(cost_ms_per_frame)

    @property
    def declared_cost_ms(self) -> float | None:
        """The declared per-frame cost, or None when the cost is measured from real runs."""
        return self._declared_cost_ms

    @property
    def cost_ms_per_frame(self) -> float | None:
        """Declared cost, else measured mean wall time per frame so far (None before any call)."""
        if self._declared_cost_ms is not None:
            return self._declared_cost_ms
        if self._frames_timed == 0:
            return None
        return 1000.0 * self._seconds_timed / self._frames_timed
