"""The ground truth a schedule implies: each object's visible run, its boxes clipped to the frame, its scores.

The record itself (its sidecar file, its reader, per-frame detections) is
:class:`noscope_core.reference.synthetic_truth.SyntheticTruth`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from noscope_core.footage.synthetic.scene import SyntheticScene
from noscope_core.footage.synthetic.schedule import Tracks, schedule_tracks, track_boxes
from noscope_core.reference.synthetic_truth import SyntheticTruth

#: an object counts as present while at least this fraction of its width is inside the frame
MIN_VISIBLE = 0.4


@dataclass(frozen=True)
class TruthArrays:
    track_class: np.ndarray  # (T,) int16
    track_first: np.ndarray  # (T,) int64 first frame where present
    track_len: np.ndarray  # (T,) int32
    boxes: np.ndarray  # (B, 4) float32 x, y, w, h as fractions, clipped to the frame
    scores: np.ndarray  # (B,) float32 deterministic jittered confidence in [0.6, 1]
    track_id: np.ndarray  # (T,) int64 index into the full schedule (for rendering)


def truth_arrays(tr: Tracks, scene: SyntheticScene, n_frames: int) -> TruthArrays:
    """The visible run, boxes and scores of every object of ``tr`` within the first ``n_frames`` frames."""
    W, H = scene.width, scene.height
    cls_l, first_l, len_l, id_l, boxes_l, scores_l = [], [], [], [], [], []
    for k in range(len(tr)):
        f0 = max(0, math.ceil(tr.t0[k] * scene.fps))
        f1 = min(n_frames - 1, math.floor((tr.t0[k] + tr.stay[k]) * scene.fps))
        if f1 < f0:
            continue
        frames = np.arange(f0, f1 + 1, dtype=np.float64)
        x0, y0, x1, y1 = track_boxes(tr, k, frames, scene)
        cx0, cy0, cx1, cy1 = np.clip(x0, 0, W), np.clip(y0, 0, H), np.clip(x1, 0, W), np.clip(y1, 0, H)
        vis_w = (cx1 - cx0) / np.maximum(x1 - x0, 1e-9)
        keep = np.nonzero(vis_w >= MIN_VISIBLE)[0]
        if len(keep) == 0:
            continue
        sl = slice(keep[0], keep[-1] + 1)  # visibility rises then falls along a straight pass: one run
        rng = np.random.default_rng([scene.seed, 4, k])
        vis = vis_w[sl] * np.clip((cy1 - cy0)[sl] / np.maximum((y1 - y0)[sl], 1e-9), 0, 1)
        score = 0.6 + 0.4 * (0.55 * tr.base_score[k] + 0.45 * vis) + rng.normal(0, 0.02, len(vis))
        cls_l.append(tr.cls[k])
        first_l.append(f0 + keep[0])
        len_l.append(keep[-1] - keep[0] + 1)
        id_l.append(k)
        boxes_l.append(np.stack([cx0[sl] / W, cy0[sl] / H, (cx1 - cx0)[sl] / W, (cy1 - cy0)[sl] / H], axis=1))
        scores_l.append(np.clip(score, 0.6, 1.0))
    return TruthArrays(
        track_class=np.asarray(cls_l, dtype=np.int16),
        track_first=np.asarray(first_l, dtype=np.int64),
        track_len=np.asarray(len_l, dtype=np.int32),
        boxes=np.concatenate(boxes_l).astype(np.float32) if boxes_l else np.zeros((0, 4), np.float32),
        scores=np.concatenate(scores_l).astype(np.float32) if scores_l else np.zeros(0, np.float32),
        track_id=np.asarray(id_l, dtype=np.int64),
    )


def synthetic_truth(scene: SyntheticScene, n_frames: int) -> SyntheticTruth:
    """The ground truth :func:`~noscope_core.footage.synthetic.write.write_synthetic_video` would record, without
    rendering (cheap, for planning/tests)."""
    arr = truth_arrays(schedule_tracks(scene, n_frames), scene, n_frames)
    return truth_record(scene, n_frames, arr)


def truth_record(scene: SyntheticScene, n_frames: int, arr: TruthArrays) -> SyntheticTruth:
    """The record of ``arr``: what the synthetic detector needs of the scene (classes, fps) and the whole scene."""
    return SyntheticTruth(
        classes=scene.classes,
        fps=scene.fps,
        scene_dict=scene.to_dict(),
        n_frames=n_frames,
        track_class=arr.track_class,
        track_first=arr.track_first,
        track_len=arr.track_len,
        boxes=arr.boxes,
        scores=arr.scores,
    )
