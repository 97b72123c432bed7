"""Reference detectors behind one interface; :func:`make_detector` builds one from a ``--reference`` spec."""

from noscope_core.reference.detectors.base import Detection, ReferenceDetector
from noscope_core.reference.detectors.factory import DETECTOR_CHOICES, make_detector

__all__ = ["DETECTOR_CHOICES", "Detection", "ReferenceDetector", "make_detector"]
