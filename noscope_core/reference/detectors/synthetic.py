"""A reference detector for synthetic videos: it reads the exact ground truth written beside the video.

It never looks at pixels, so its run time says nothing about a real detector; it declares a realistic cost
instead (50 ms/frame by default, about a YOLO-class model on a CPU), which is what the optimizer prices.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from noscope_core.common.errors import ArtifactError, DetectorError, VideoError
from noscope_core.reference.detectors.base import Detection, ReferenceDetector
from noscope_core.reference.synthetic_truth import SyntheticTruth, load_truth, truth_path


class SyntheticDetector(ReferenceDetector):
    """Ground truth of a video made by :func:`noscope_core.footage.synthetic.write.write_synthetic_video`, as detections.

    ``jitter_scores`` reports each box's fixed confidence in [0.6, 1] (lower for objects half out of view),
    so confidence thresholds matter as with a real detector; False reports 1.0 for every box.
    """

    name = "synthetic"
    needs_pixels = False

    def __init__(self, video_path: str | Path, cost_ms_per_frame: float = 50.0, jitter_scores: bool = True) -> None:
        super().__init__()
        self.video_path = Path(video_path).expanduser()
        self.jitter_scores = bool(jitter_scores)
        if not truth_path(self.video_path).is_file():
            raise DetectorError(
                f"no synthetic ground truth beside {self.video_path} (looked for {truth_path(self.video_path).name})",
                "the synthetic detector only works on videos made by write_synthetic_video; pick a real detector",
            )
        self.declare_cost(cost_ms_per_frame)
        self._truth: SyntheticTruth | None = None

    @property
    def truth(self) -> SyntheticTruth:
        if self._truth is None:
            try:
                self._truth = load_truth(self.video_path)
            except ArtifactError as err:
                raise DetectorError(err.message, err.hint) from None
        return self._truth

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.truth.classes

    def identity(self) -> str:
        return f"synthetic:{self.truth.sha256[:16]}:jitter={int(self.jitter_scores)}"

    def _detect(self, frames: Sequence[np.ndarray], frame_indices: Sequence[int]) -> list[list[Detection]]:
        try:
            return self.truth.detections(frame_indices, jitter=self.jitter_scores)
        except VideoError as err:
            raise DetectorError(err.message, err.hint) from None
