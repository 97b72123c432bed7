"""A long fixed camera composited from a short real one: its background, its own people cut out and walked again.

``make.make_long_camera`` is the entry point; the modules each do one step: ``background`` (the empty scene),
``perspective`` (person height by image row), ``sprites`` (cut-outs linked into tracks, cached), ``scene`` (the
timeline), ``drift`` (lighting, nudge, rain, a second class), ``render`` (one frame) and ``truth`` (the placement
record written beside the video).
"""

from noscope_core.footage.composite.make import LongCameraResult, LongCameraSpec, existing_camera, make_long_camera
from noscope_core.footage.composite.truth import PlacementTruth, load_truth, truth_path

__all__ = [
    "LongCameraResult",
    "LongCameraSpec",
    "PlacementTruth",
    "existing_camera",
    "load_truth",
    "make_long_camera",
    "truth_path",
]
