"""The generator's placement truth, written beside the video: every inserted object's box and visible share."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from noscope_core.common.atomic import write_npz
from noscope_core.common.errors import ArtifactError

TRUTH_FORMAT = "noscope-composite-truth/1"


def truth_path(video_path: str | Path) -> Path:
    """``vtest-long.mp4`` -> ``vtest-long.truth.npz`` (same folder)."""
    video_path = Path(video_path)
    return video_path.with_name(video_path.stem + ".truth.npz")


@dataclass(frozen=True)
class PlacementTruth:
    """One row per (frame, object on screen): ``boxes_px`` (x, y, w, h) are the pixels where the cut-out's alpha is
    at least 1/2, clipped to the frame; ``visible`` is the share of its alpha not hidden by nearer objects or the
    frame edge."""

    n_frames: int
    fps: float
    width: int
    height: int
    class_names: tuple[str, ...]
    frame: np.ndarray  # (N,) int32
    object_id: np.ndarray  # (N,) int32
    class_id: np.ndarray  # (N,) int8
    boxes_px: np.ndarray  # (N, 4) float32
    visible: np.ndarray  # (N,) float32
    video_fingerprint: str
    spec_json: str

    def rows_at(self, frame: int) -> np.ndarray:
        """Indices of the rows of ``frame``."""
        lo, hi = np.searchsorted(self.frame, [frame, frame + 1])
        return np.arange(lo, hi)

    def positive(
        self, roi: tuple[float, float, float, float], class_name: str = "person", min_visible: float = 0.5
    ) -> np.ndarray:
        """Per frame: is an object of ``class_name``, at least ``min_visible`` visible, centred inside ``roi``
        (x0, y0, x1, y1 as fractions of the frame)?"""
        if class_name not in self.class_names:
            return np.zeros(self.n_frames, dtype=bool)
        cx = (self.boxes_px[:, 0] + self.boxes_px[:, 2] / 2) / self.width
        cy = (self.boxes_px[:, 1] + self.boxes_px[:, 3] / 2) / self.height
        x0, y0, x1, y1 = roi
        hit = (
            (self.class_id == self.class_names.index(class_name))
            & (self.visible >= min_visible)
            & (cx >= x0)
            & (cx < x1)
            & (cy >= y0)
            & (cy < y1)
        )
        out = np.zeros(self.n_frames, dtype=bool)
        out[self.frame[hit]] = True
        return out


def write_truth(path: Path, truth: PlacementTruth) -> None:
    write_npz(
        path,
        format=np.array(TRUTH_FORMAT),
        n_frames=np.array(truth.n_frames),
        fps=np.array(truth.fps),
        size=np.array([truth.width, truth.height]),
        class_names=np.array(json.dumps(list(truth.class_names))),
        frame=truth.frame.astype(np.int32),
        object_id=truth.object_id.astype(np.int32),
        class_id=truth.class_id.astype(np.int8),
        boxes_px=truth.boxes_px.astype(np.float32).reshape(-1, 4),
        visible=truth.visible.astype(np.float32),
        video_fingerprint=np.array(truth.video_fingerprint),
        spec_json=np.array(truth.spec_json),
    )


def load_truth(path: str | Path) -> PlacementTruth:
    """Read a truth file; a missing or foreign file is an :class:`ArtifactError` with a hint."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["format"]) != TRUTH_FORMAT:
                raise ArtifactError(f"{path.name} is not a long-camera truth file", hint="regenerate the camera")
            width, height = (int(v) for v in z["size"])
            return PlacementTruth(
                int(z["n_frames"]),
                float(z["fps"]),
                width,
                height,
                tuple(json.loads(str(z["class_names"]))),
                z["frame"],
                z["object_id"],
                z["class_id"],
                z["boxes_px"],
                z["visible"],
                str(z["video_fingerprint"]),
                str(z["spec_json"]),
            )
    except (OSError, KeyError, ValueError) as exc:
        raise ArtifactError(
            f"cannot read placement truth {path}: {exc}", hint="run `noscope make-camera` again"
        ) from exc
