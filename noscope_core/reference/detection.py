"""One detected object, the record the reference detectors, the labels and the synthetic camera share.

It lives outside ``detectors/`` so that the synthetic camera can describe its ground truth as detections
without importing the detectors, one of which (``detectors/synthetic.py``) reads that ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Detection:
    """One detected object. The box ``(x, y, w, h)`` is in fractions of the frame, ``(x, y)`` its top-left."""

    class_name: str
    score: float
    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2
