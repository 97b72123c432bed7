"""Turn a ``--reference`` string into a reference detector.

Imports are lazy so choosing one detector never loads another's runtime (onnxruntime, pandas).
"""

from __future__ import annotations

from pathlib import Path

from noscope_core.common.errors import DetectorError, QueryError
from noscope_core.reference.detectors.base import ReferenceDetector
from noscope_core.spec.camera import DEFAULT_REFERENCE

#: every accepted form of the detector spec, for help texts and error messages
DETECTOR_CHOICES: tuple[str, ...] = (
    "ssd-mobilenet-v3",
    "yolov3-tiny",
    "onnx:PATH",
    "detections:PATH",
    "synthetic",
    "synthetic:PATH",
)


def make_detector(
    spec: str = DEFAULT_REFERENCE,
    reference_fps: float | None = None,
    frame_size: tuple[int, int] | None = None,
    *,
    video_path: str | Path | None = None,
) -> ReferenceDetector:
    """Build the detector named by ``spec`` (one of :data:`DETECTOR_CHOICES`).

    ``reference_fps`` declares the detector's speed instead of measuring it: for a real detector this
    makes costs reproducible across machines (or stands for a faster GPU reference); precomputed
    detections require it because a table lookup has no cost of its own. ``frame_size`` (W, H) lets a
    detections file give boxes in pixels. ``video_path`` is the video a bare ``synthetic`` reads its
    ground truth for.
    """
    if reference_fps is not None and not reference_fps > 0:
        raise QueryError(f"--reference-fps must be positive, got {reference_fps}")
    spec = (spec or DEFAULT_REFERENCE).strip()
    kind, sep, arg = spec.partition(":")
    kind = kind.lower()
    if sep and not arg.strip():
        raise QueryError(f"detector spec {spec!r} names no file", hint=f"valid forms: {', '.join(DETECTOR_CHOICES)}")

    detector: ReferenceDetector
    if kind in ("ssd-mobilenet-v3", "ssd") and not sep:
        from noscope_core.reference.detectors.ssd import SSDMobileNetV3Detector

        detector = SSDMobileNetV3Detector()
    elif kind == "yolov3-tiny" and not sep:
        from noscope_core.reference.detectors.darknet import YoloV3TinyDetector

        detector = YoloV3TinyDetector()
    elif kind == "onnx" and sep:
        from noscope_core.reference.detectors.onnx import OnnxYoloDetector

        detector = OnnxYoloDetector(arg)
    elif kind == "detections" and sep:
        if reference_fps is None:
            raise DetectorError(
                "precomputed detections have no run time of their own to measure",
                hint="give --reference-fps, the frames/s of the detector that produced the file",
            )
        from noscope_core.reference.detectors.precomputed import PrecomputedDetector

        return PrecomputedDetector(arg, reference_fps=reference_fps, frame_size=frame_size)
    elif kind == "synthetic":
        path = arg if sep else video_path
        if path is None:
            raise QueryError(
                "detector 'synthetic' needs the synthetic video it reads ground truth for", hint="use synthetic:PATH"
            )
        from noscope_core.reference.detectors.synthetic import SyntheticDetector

        if reference_fps is not None:
            return SyntheticDetector(path, cost_ms_per_frame=1000.0 / reference_fps)
        return SyntheticDetector(path)
    else:
        raise QueryError(f"unknown reference detector {spec!r}", hint=f"valid forms: {', '.join(DETECTOR_CHOICES)}")

    if reference_fps is not None:
        detector.declare_cost(1000.0 / reference_fps)
    return detector
