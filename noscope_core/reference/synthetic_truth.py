"""The ground truth written beside a synthetic video: its record, its sidecar file, and per-frame detections.

The synthetic camera (:mod:`noscope_core.footage.synthetic`) computes it and the synthetic reference detector
(:mod:`noscope_core.reference.detectors.synthetic`) reads it. It lives here, below both, and keeps of the scene
only what a reader needs (classes, fps) plus the scene's own record, so the detector never reaches the camera.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from noscope_core.common.atomic import write_npz
from noscope_core.common.errors import ArtifactError, VideoError
from noscope_core.reference.detection import Detection
from noscope_core.spec.query import ROI
from noscope_core.video.probe import file_fingerprint

TRUTH_SUFFIX = ".truth.npz"
TRUTH_FORMAT = 1


@dataclass(frozen=True)
class SyntheticTruth:
    """Ground truth of a synthetic video: every object's class and per-frame box (fractions of the frame)."""

    classes: tuple[str, ...]
    fps: float
    #: the scene that made the video, as the synthetic camera writes it (``SyntheticScene.to_dict()``)
    scene_dict: dict[str, Any]
    n_frames: int
    track_class: np.ndarray
    track_first: np.ndarray
    track_len: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    video_fingerprint: str = ""
    sha256: str = ""  # of the sidecar file: changes whenever the truth could
    _frame_order: np.ndarray = field(init=False, repr=False, compare=False)
    _frame_ptr: np.ndarray = field(init=False, repr=False, compare=False)
    _box_class: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Boxes are stored track by track; index them by frame once so lookups are a slice.
        offsets = np.concatenate([[0], np.cumsum(self.track_len.astype(np.int64))])
        box_frame = np.empty(len(self.boxes), dtype=np.int64)
        box_class = np.empty(len(self.boxes), dtype=np.int64)
        for k in range(len(self.track_len)):
            a, b = offsets[k], offsets[k + 1]
            box_frame[a:b] = self.track_first[k] + np.arange(b - a)
            box_class[a:b] = self.track_class[k]
        order = np.argsort(box_frame, kind="stable")
        object.__setattr__(self, "_frame_order", order)
        object.__setattr__(self, "_frame_ptr", np.searchsorted(box_frame[order], np.arange(self.n_frames + 1)))
        object.__setattr__(self, "_box_class", box_class)

    @property
    def n_tracks(self) -> int:
        return len(self.track_class)

    def _rows(self, frame: int) -> np.ndarray:
        if not (0 <= frame < self.n_frames):
            raise VideoError(f"frame {frame} outside the synthetic video's frames 0..{self.n_frames - 1}")
        return self._frame_order[self._frame_ptr[frame] : self._frame_ptr[frame + 1]]

    def detections(self, frame_indices: Sequence[int], jitter: bool = True) -> list[list[Detection]]:
        """Objects present in each frame; scores are 1.0, or (``jitter``) a fixed per-box value in [0.6, 1]."""
        out: list[list[Detection]] = []
        for f in np.asarray(frame_indices, dtype=np.int64).reshape(-1).tolist():
            dets = []
            for r in self._rows(f).tolist():
                x, y, w, h = (float(v) for v in self.boxes[r])
                score = float(self.scores[r]) if jitter else 1.0
                dets.append(Detection(self.classes[self._box_class[r]], score, x, y, w, h))
            out.append(dets)
        return out

    def presence(self, class_name: str, roi: ROI | None = None, min_score: float = 0.0) -> np.ndarray:
        """(n_frames,) bool: an object of ``class_name`` whose box centre lies in ``roi`` is present."""
        if class_name not in self.classes:
            raise VideoError(f"class {class_name!r} not in this synthetic scene", f"classes: {', '.join(self.classes)}")
        ci = self.classes.index(class_name)
        sel = (self._box_class == ci) & (self.scores >= min_score)
        if roi is not None:
            cx = self.boxes[:, 0] + self.boxes[:, 2] / 2
            cy = self.boxes[:, 1] + self.boxes[:, 3] / 2
            sel &= (cx >= roi.x0) & (cx < roi.x1) & (cy >= roi.y0) & (cy < roi.y1)
        out = np.zeros(self.n_frames, dtype=bool)
        offsets = np.concatenate([[0], np.cumsum(self.track_len.astype(np.int64))])
        track_of_box = np.repeat(np.arange(len(self.track_len)), self.track_len)
        frame_of_box = self.track_first[track_of_box] + (np.arange(len(self.boxes)) - offsets[track_of_box])
        out[frame_of_box[sel]] = True
        return out


def truth_path(video_path: str | Path) -> Path:
    """Where the ground truth of a synthetic video lies: beside it, named after it."""
    video_path = Path(video_path)
    return video_path.with_name(video_path.name + TRUTH_SUFFIX)


def save_truth(video_path: str | Path, truth: SyntheticTruth) -> Path:
    """Write ``truth`` atomically beside the finished video at ``video_path``, with the video's fingerprint."""
    video_path = Path(video_path)
    path = truth_path(video_path)
    write_npz(
        path,
        format=np.array(TRUTH_FORMAT),
        scene_json=np.array(json.dumps(truth.scene_dict, sort_keys=True)),
        n_frames=np.array(truth.n_frames),
        video_fingerprint=np.array(file_fingerprint(video_path)),
        track_class=truth.track_class,
        track_first=truth.track_first,
        track_len=truth.track_len,
        boxes=truth.boxes,
        scores=truth.scores,
    )
    return path


def load_truth(video_path: str | Path) -> SyntheticTruth:
    """Read the ground-truth sidecar written beside a synthetic video; :class:`ArtifactError` if absent or stale."""
    video_path = Path(video_path).expanduser()
    path = truth_path(video_path)
    if not path.is_file():
        raise ArtifactError(
            f"no synthetic ground truth at {path}",
            "only videos made by write_synthetic_video have one; regenerate the synthetic video",
        )
    blob = path.read_bytes()
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["format"]) != TRUTH_FORMAT:
                raise ArtifactError(f"ground truth {path} has format {int(z['format'])}, expected {TRUTH_FORMAT}")
            scene_dict = json.loads(str(z["scene_json"]))
            classes = tuple(str(c) for c in scene_dict["classes"])
            fps = float(scene_dict["fps"])
            if not classes or not (math.isfinite(fps) and fps > 0):
                raise ValueError(f"its scene has classes {list(classes)} and fps {fps}")
            truth = SyntheticTruth(
                classes=classes,
                fps=fps,
                scene_dict=scene_dict,
                n_frames=int(z["n_frames"]),
                track_class=z["track_class"],
                track_first=z["track_first"],
                track_len=z["track_len"],
                boxes=z["boxes"],
                scores=z["scores"],
                video_fingerprint=str(z["video_fingerprint"]),
                sha256=hashlib.sha256(blob).hexdigest(),
            )
    except ArtifactError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ArtifactError(f"ground truth {path} is unreadable: {err}", "regenerate the synthetic video") from None
    if video_path.is_file() and truth.video_fingerprint and file_fingerprint(video_path) != truth.video_fingerprint:
        raise ArtifactError(
            f"ground truth {path} belongs to another version of {video_path.name}", "regenerate the synthetic video"
        )
    return truth
