"""A synthetic fixed-angle camera of any length, written as a real video file, with exact ground truth.

The scene is a street seen from a fixed camera: buildings, a lawn, a two-lane road and a pavement. Cars drive
along the lanes and persons walk along the pavement or across the lawn (smaller, farther away), with random sizes
and colours, so a small CNN has to learn shapes rather than a colour. What makes it a camera rather than a
slideshow: a textured static background, slow lighting drift, sensor noise, and swaying foliage that moves but is
never an object (difference detectors see motion there; the labels stay negative).

Objects of a class arrive as a Poisson process (mean gap ``mean_gap_s``) and cross the view in about
``mean_stay_s``, so a class is present in roughly ``1 - exp(-stay/gap)`` of frames (about 35% by default).
The first N frames (pixels and truth) do not depend on how many frames are written after them.

Drift (``drift_frame``): from that frame on, the light steps by ``drift_gain`` and/or the camera is nudged by
``drift_shift_px`` (background, foliage and objects move together; the truth boxes move with them), so footage
after it looks unlike anything a model trained on the frames before it saw.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from noscope_core.common.atomic import atomic_path, write_npz
from noscope_core.common.errors import ArtifactError, VideoError
from noscope_core.reference.detection import Detection
from noscope_core.spec.query import ROI
from noscope_core.video.decode import file_fingerprint
from noscope_core.video.writer import encoding_thread

TRUTH_SUFFIX = ".truth.npz"
TRUTH_FORMAT = 1
#: an object counts as present while at least this fraction of its width is inside the frame
MIN_VISIBLE = 0.4

_ROAD_CLASSES = {"car", "truck", "bus", "van", "vehicle", "motorcycle", "motorbike", "bicycle"}
_BIG_VEHICLES = {"truck", "bus", "van"}
_ANIMALS = {"dog", "cat", "animal", "horse", "sheep"}
_CONTAINERS = {".avi": "mp4v", ".mp4": "mp4v", ".mkv": "mp4v"}


@dataclass(frozen=True)
class SyntheticScene:
    """Everything that determines a synthetic video (with ``n_frames``): same scene, same pixels and truth."""

    width: int = 320
    height: int = 240
    fps: float = 10.0
    seed: int = 0
    classes: tuple[str, ...] = ("car", "person")
    mean_gap_s: float = 8.0
    mean_stay_s: float = 4.0
    noise_sigma: float = 3.0
    lighting_drift: float = 0.15
    distractors: int = 2
    drift_frame: int | None = None  # None: no drift
    drift_gain: float = 1.0  # brightness factor from drift_frame on (a lighting step)
    drift_shift_px: tuple[int, int] = (0, 0)  # (dx, dy) the view moves by from drift_frame on (a nudged camera)

    def __post_init__(self) -> None:
        object.__setattr__(self, "drift_shift_px", tuple(int(v) for v in self.drift_shift_px))
        if not (32 <= self.width <= 4096 and 32 <= self.height <= 4096):
            raise VideoError(f"synthetic frame size {self.width}x{self.height} outside 32..4096")
        if self.width % 2 or self.height % 2:
            raise VideoError(
                f"synthetic frame size {self.width}x{self.height} must be even", "video encoders need even sizes"
            )
        if not (0 < self.fps <= 240):
            raise VideoError(f"synthetic fps {self.fps} outside (0, 240]")
        if not self.classes or len(set(self.classes)) != len(self.classes) or not all(c.strip() for c in self.classes):
            raise VideoError(f"synthetic classes must be distinct non-empty names, got {self.classes!r}")
        if self.mean_gap_s <= 0 or self.mean_stay_s <= 0:
            raise VideoError("mean_gap_s and mean_stay_s must be positive")
        if self.noise_sigma < 0 or not (0 <= self.lighting_drift < 1) or self.distractors < 0:
            raise VideoError("noise_sigma >= 0, 0 <= lighting_drift < 1 and distractors >= 0 are required")
        if self.drift_frame is not None and int(self.drift_frame) < 0:
            raise VideoError(f"drift_frame must be a frame index >= 0, got {self.drift_frame}")
        if not (0 < self.drift_gain <= 4):
            raise VideoError(f"drift_gain must be in (0, 4], got {self.drift_gain}")
        if len(self.drift_shift_px) != 2 or not (
            abs(self.drift_shift_px[0]) < self.width // 2 and abs(self.drift_shift_px[1]) < self.height // 2
        ):
            raise VideoError(f"drift_shift_px must be (dx, dy) within half the frame, got {self.drift_shift_px}")

    def shift_at(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(dx, dy) in pixels of the view at each frame: the drift's shift from ``drift_frame`` on, else 0."""
        after = np.zeros(np.shape(frames), bool) if self.drift_frame is None else np.asarray(frames) >= self.drift_frame
        return after * float(self.drift_shift_px[0]), after * float(self.drift_shift_px[1])

    def drifted(self, frame: int) -> bool:
        return self.drift_frame is not None and frame >= self.drift_frame

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["classes"] = list(self.classes)
        d["drift_shift_px"] = list(self.drift_shift_px)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SyntheticScene:
        d = dict(d)
        d["classes"] = tuple(d["classes"])
        d["drift_shift_px"] = tuple(d.get("drift_shift_px", (0, 0)))  # sidecars written before drift existed
        return cls(**d)


@dataclass(frozen=True)
class _Tracks:
    """Every object of the video: its motion (pixels, seconds) and its appearance."""

    cls: np.ndarray  # (T,) int class index
    t0: np.ndarray  # arrival time, s
    stay: np.ndarray  # time to cross, s
    x_in: np.ndarray  # centre x at arrival / departure, px
    x_out: np.ndarray
    y_in: np.ndarray  # bottom (feet / wheels) y at arrival / departure, px
    y_out: np.ndarray
    w: np.ndarray  # size at perspective scale 1, px
    h: np.ndarray
    base_score: np.ndarray  # in [0.7, 1]
    colour: np.ndarray  # (T, 3) uint8 BGR main colour
    colour2: np.ndarray  # (T, 3) uint8 BGR second colour
    phase: np.ndarray  # walking / wheel phase

    def __len__(self) -> int:
        return len(self.cls)


def _style(name: str) -> str:
    return "road" if name.lower() in _ROAD_CLASSES else "walk"


def _drawing(name: str) -> str:
    name = name.lower()
    if _style(name) == "road":
        return "big" if name in _BIG_VEHICLES else "car"
    return "animal" if name in _ANIMALS else "person"


def _perspective(y_bottom: np.ndarray | float, height: int) -> np.ndarray | float:
    """Apparent size factor of an object standing at ``y_bottom``: farther up the frame is farther away."""
    return 0.2 + 0.85 * np.asarray(y_bottom) / height


def _random_colours(rng: np.random.Generator, n: int) -> np.ndarray:
    hsv = np.stack([rng.integers(0, 180, n), rng.integers(60, 256, n), rng.integers(60, 256, n)], axis=1)
    grey = rng.random(n) < 0.3  # some black / white / grey objects, like real traffic
    hsv[grey, 1] = rng.integers(0, 30, int(grey.sum()))
    hsv[grey, 2] = rng.choice([30, 120, 200, 240], int(grey.sum()))
    return cv2.cvtColor(hsv.astype(np.uint8)[None], cv2.COLOR_HSV2BGR)[0]


def _schedule(scene: SyntheticScene, n_frames: int) -> _Tracks:
    """All objects arriving before the end of ``n_frames`` (and from a little before frame 0, so frame 0 is typical)."""
    W, H = scene.width, scene.height
    t_end = n_frames / scene.fps
    parts: list[dict[str, np.ndarray]] = []
    for ci, name in enumerate(scene.classes):
        # One stream per class for motion and one for colours, drawn per arrival: the first N frames look the
        # same and have the same truth whatever the video's length.
        rng = np.random.default_rng([scene.seed, 2, ci])
        crng = np.random.default_rng([scene.seed, 3, ci])
        t = -2.0 * scene.mean_stay_s
        rows: list[tuple] = []
        colours: list[np.ndarray] = []
        while True:
            t += rng.exponential(scene.mean_gap_s)
            if t >= t_end:
                break
            stay = float(
                np.clip(rng.gamma(4.0, scene.mean_stay_s / 4.0), 0.3 * scene.mean_stay_s, 4 * scene.mean_stay_s)
            )
            leftward = rng.random() < 0.5
            if _style(name) == "road":
                lane = int(rng.integers(0, 2))
                y0 = y1 = H * (0.66 if lane == 0 else 0.79) + rng.uniform(-0.01, 0.01) * H
                leftward = lane == 0  # far lane drives right-to-left, near lane left-to-right
                big = name.lower() in _BIG_VEHICLES
                w = W * rng.uniform(0.22, 0.3) if big else W * rng.uniform(0.15, 0.21)
                h = w * (rng.uniform(0.55, 0.7) if big else rng.uniform(0.4, 0.5))
            else:
                on_lawn = rng.random() < 0.45
                if on_lawn:
                    y0 = H * rng.uniform(0.36, 0.52)
                    y1 = float(np.clip(y0 + H * rng.uniform(-0.12, 0.12), H * 0.33, H * 0.54))
                else:
                    y0 = y1 = H * rng.uniform(0.88, 0.93)
                if name.lower() in _ANIMALS:
                    h = H * rng.uniform(0.07, 0.1)
                    w = h * rng.uniform(1.4, 1.8)
                else:
                    h = H * rng.uniform(0.15, 0.2)
                    w = h * rng.uniform(0.34, 0.42)
            wmax = w * float(_perspective(max(y0, y1), H))
            xa, xb = -wmax / 2, W + wmax / 2
            x_in, x_out = (xb, xa) if leftward else (xa, xb)
            rows.append((ci, t, stay, x_in, x_out, y0, y1, w, h, rng.uniform(0.7, 1.0), rng.uniform(0, 2 * np.pi)))
            colours.append(_random_colours(crng, 2))  # main and second colour
        if not rows:
            continue
        arr = np.array(rows, dtype=np.float64)
        pal = np.stack(colours)
        parts.append(
            {
                "cls": arr[:, 0].astype(np.int64),
                "t0": arr[:, 1],
                "stay": arr[:, 2],
                "x_in": arr[:, 3],
                "x_out": arr[:, 4],
                "y_in": arr[:, 5],
                "y_out": arr[:, 6],
                "w": arr[:, 7],
                "h": arr[:, 8],
                "base_score": arr[:, 9],
                "phase": arr[:, 10],
                "colour": pal[:, 0],
                "colour2": pal[:, 1],
            }
        )
    if not parts:
        f = np.zeros(0)
        c = np.zeros((0, 3), np.uint8)
        return _Tracks(np.zeros(0, np.int64), f, f, f, f, f, f, f, f, f, c, c, f)
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.argsort(merged["t0"], kind="stable")
    return _Tracks(**{k: v[order] for k, v in merged.items()})


def _geometry(tr: _Tracks, k: int, frames: np.ndarray, scene: SyntheticScene) -> tuple[np.ndarray, ...]:
    """Unclipped pixel boxes ``(x0, y0, x1, y1)`` of object ``k`` at ``frames``."""
    p = (frames / scene.fps - tr.t0[k]) / tr.stay[k]
    yb = tr.y_in[k] + p * (tr.y_out[k] - tr.y_in[k])
    s = _perspective(yb, scene.height)
    w, h = tr.w[k] * s, tr.h[k] * s
    dx, dy = scene.shift_at(frames)  # a nudged camera moves the objects with the background
    cx = tr.x_in[k] + p * (tr.x_out[k] - tr.x_in[k]) + dx
    yb = yb + dy
    return cx - w / 2, yb - h, cx + w / 2, yb


@dataclass(frozen=True)
class _TruthArrays:
    track_class: np.ndarray  # (T,) int16
    track_first: np.ndarray  # (T,) int64 first frame where present
    track_len: np.ndarray  # (T,) int32
    boxes: np.ndarray  # (B, 4) float32 x, y, w, h as fractions, clipped to the frame
    scores: np.ndarray  # (B,) float32 deterministic jittered confidence in [0.6, 1]
    track_id: np.ndarray  # (T,) int64 index into the full schedule (for rendering)


def _truth_arrays(tr: _Tracks, scene: SyntheticScene, n_frames: int) -> _TruthArrays:
    W, H = scene.width, scene.height
    cls_l, first_l, len_l, id_l, boxes_l, scores_l = [], [], [], [], [], []
    for k in range(len(tr)):
        f0 = max(0, math.ceil(tr.t0[k] * scene.fps))
        f1 = min(n_frames - 1, math.floor((tr.t0[k] + tr.stay[k]) * scene.fps))
        if f1 < f0:
            continue
        frames = np.arange(f0, f1 + 1, dtype=np.float64)
        x0, y0, x1, y1 = _geometry(tr, k, frames, scene)
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
    return _TruthArrays(
        track_class=np.asarray(cls_l, dtype=np.int16),
        track_first=np.asarray(first_l, dtype=np.int64),
        track_len=np.asarray(len_l, dtype=np.int32),
        boxes=np.concatenate(boxes_l).astype(np.float32) if boxes_l else np.zeros((0, 4), np.float32),
        scores=np.concatenate(scores_l).astype(np.float32) if scores_l else np.zeros(0, np.float32),
        track_id=np.asarray(id_l, dtype=np.int64),
    )


@dataclass(frozen=True)
class SyntheticTruth:
    """Ground truth of a synthetic video: every object's class and per-frame box (fractions of the frame)."""

    scene: SyntheticScene
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
    def classes(self) -> tuple[str, ...]:
        return self.scene.classes

    @property
    def fps(self) -> float:
        return self.scene.fps

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
    video_path = Path(video_path)
    return video_path.with_name(video_path.name + TRUTH_SUFFIX)


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
            scene = SyntheticScene.from_dict(json.loads(str(z["scene_json"])))
            truth = SyntheticTruth(
                scene=scene,
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


class _Renderer:
    """Draws frame ``f`` of a scene: background, foliage, objects, lighting, noise. All state fixed by the seed."""

    def __init__(self, scene: SyntheticScene, tracks: _Tracks) -> None:
        self.scene = scene
        self.tracks = tracks
        self.background = self._background()
        self.foliage = self._foliage()
        self.background_drifted = self.background
        if scene.drift_frame is not None and any(scene.drift_shift_px):
            shift = np.array([[1, 0, scene.drift_shift_px[0]], [0, 1, scene.drift_shift_px[1]]], np.float32)
            size = (scene.width, scene.height)
            # what enters the view at the edge is more of the same street, not a black band
            self.background_drifted = cv2.warpAffine(self.background, shift, size, borderMode=cv2.BORDER_REFLECT)
        rng = np.random.default_rng([scene.seed, 6])
        self.light_phase = rng.uniform(0, 2 * np.pi, 2)
        pad = 16
        bank = rng.normal(0, scene.noise_sigma, (8, scene.height + pad, scene.width + pad, 3))
        bank = np.rint(bank).clip(-255, 255).astype(np.int16)
        # Saturating add/subtract of two unsigned parts is much faster than int16 arithmetic per frame.
        self.noise_pos = np.maximum(bank, 0).astype(np.uint8)
        self.noise_neg = np.maximum(-bank, 0).astype(np.uint8)
        self.noise_pick = rng.integers(0, [8, pad, pad], size=(4096, 3))
        kinds = [_drawing(c) for c in scene.classes]
        # Classes drawn alike (e.g. "car" and "taxi") get 1, 2, ... white stripes, so they stay separable.
        self.stripes = [kinds[:i].count(kind) for i, kind in enumerate(kinds)]

    def _background(self) -> np.ndarray:
        s = self.scene
        W, H = s.width, s.height
        rng = np.random.default_rng([s.seed, 1])
        img = np.zeros((H, W, 3), np.uint8)

        def texture(h: int, w: int, base: tuple[int, int, int], amp: float, blur: float) -> np.ndarray:
            n: np.ndarray = rng.normal(0, 1, (h, w, 1)).astype(np.float32)
            n = cv2.GaussianBlur(n, (0, 0), blur)[..., None]
            n = n / max(float(n.std()), 1e-6)
            return np.clip(np.asarray(base, np.float32) + amp * n, 0, 255).astype(np.uint8)

        y_lawn, y_road, y_walk, y_grass = int(0.28 * H), int(0.57 * H), int(0.84 * H), int(0.96 * H)
        img[:y_lawn] = texture(y_lawn, W, (150, 160, 170), 10, 2)  # wall / sky
        for _ in range(3 + W // 120):  # buildings with window grids
            bx0, bw = int(rng.uniform(0, W * 0.85)), int(rng.uniform(0.12, 0.3) * W)
            by0 = int(rng.uniform(0, 0.12) * H)
            col = tuple(int(c) for c in rng.integers(70, 200, 3))
            cv2.rectangle(img, (bx0, by0), (bx0 + bw, y_lawn), col, -1)
            for wy in range(by0 + 4, y_lawn - 6, max(6, H // 30)):
                for wx in range(bx0 + 4, bx0 + bw - 6, max(7, W // 35)):
                    cv2.rectangle(img, (wx, wy), (wx + max(2, W // 100), wy + max(2, H // 80)), (60, 50, 40), -1)
        img[y_lawn:y_road] = texture(y_road - y_lawn, W, (60, 130, 70), 18, 1.2)  # lawn
        img[y_road:y_walk] = texture(y_walk - y_road, W, (90, 90, 92), 7, 0.8)  # asphalt
        mid = (y_road + y_walk) // 2 + int(0.01 * H)
        for x in range(0, W, max(16, W // 12)):  # lane dashes
            cv2.rectangle(img, (x, mid - 1), (x + max(6, W // 30), mid + 1), (200, 210, 215), -1)
        img[y_walk:y_grass] = texture(y_grass - y_walk, W, (150, 155, 160), 9, 0.7)  # pavement
        for x in range(0, W, max(10, W // 20)):
            cv2.line(img, (x, y_walk), (x, y_grass), (125, 128, 132), 1)
        img[y_grass:] = texture(H - y_grass, W, (55, 120, 65), 15, 1.0)
        return img

    def _foliage(self) -> list[tuple[np.ndarray, np.ndarray, int, int, float, float, float]]:
        """Bushes / tree crowns on the lawn's edges: (sprite, mask, x, y, amplitude px, frequency Hz, phase)."""
        s = self.scene
        W, H = s.width, s.height
        rng = np.random.default_rng([s.seed, 5])
        out = []
        for _ in range(s.distractors):
            r = int(rng.uniform(0.06, 0.1) * H)
            size = 2 * r + 1
            mask = np.zeros((size, size), np.uint8)
            for _ in range(6):  # a lumpy crown from overlapping discs
                cx, cy = rng.integers(r // 2, size - r // 2, 2)
                cv2.circle(mask, (int(cx), int(cy)), int(rng.uniform(0.45, 0.7) * r), 1, -1)
            tex: np.ndarray = rng.normal(0, 1, (size, size, 1)).astype(np.float32)
            tex = cv2.GaussianBlur(tex, (0, 0), 0.8)[..., None]
            sprite = np.clip(np.array([35, 95, 40], np.float32) + 28 * tex / max(float(tex.std()), 1e-6), 0, 255)
            x = int(rng.choice([rng.uniform(0.0, 0.25), rng.uniform(0.75, 1.0)]) * W) - r
            y = int(rng.uniform(0.26, 0.5) * H) - r
            out.append(
                (
                    sprite.astype(np.uint8),
                    mask,
                    x,
                    y,
                    rng.uniform(2, 5),
                    rng.uniform(0.15, 0.6),
                    rng.uniform(0, 6.3),
                )
            )
        return out

    def render(self, f: int, active: Sequence[int]) -> np.ndarray:
        s = self.scene
        t = f / s.fps
        drifted = s.drifted(f)
        img = (self.background_drifted if drifted else self.background).copy()
        sx, sy = s.drift_shift_px if drifted else (0, 0)
        for sprite, mask, x, y, amp, freq, ph in self.foliage:
            dx = int(round(amp * math.sin(2 * math.pi * freq * t + ph)))
            dy = int(round(0.4 * amp * math.sin(2 * math.pi * freq * 1.3 * t + 2 * ph)))
            _paste(img, sprite, mask, x + dx + sx, y + dy + sy)
        tr = self.tracks
        for k in sorted(active, key=lambda k: tr.y_in[k] + tr.y_out[k]):  # far objects first, near ones occlude them
            x0, y0, x1, y1 = (float(v[0]) for v in _geometry(tr, k, np.array([float(f)]), s))
            ci = int(tr.cls[k])
            kind = _drawing(s.classes[ci])
            colour = tuple(int(c) for c in tr.colour[k])
            colour2 = tuple(int(c) for c in tr.colour2[k])
            moving_left = tr.x_out[k] < tr.x_in[k]
            if kind in ("car", "big"):
                _draw_vehicle(img, x0, y0, x1, y1, colour, big=kind == "big", left=moving_left)
            elif kind == "animal":
                _draw_animal(img, x0, y0, x1, y1, colour, t * 3.0 + tr.phase[k], left=moving_left)
            else:
                skin = _SKIN[k % len(_SKIN)]
                _draw_person(img, x0, y0, x1, y1, colour, colour2, skin, t * 0.9 + tr.phase[k])
            n_stripes = self.stripes[ci]
            for j in range(n_stripes):
                yy = int(y0 + (j + 1) * (y1 - y0) / (n_stripes + 1))
                cv2.line(img, _pt(x0 + 2, yy), _pt(x1 - 2, yy), (255, 255, 255), 1)
        gain = s.drift_gain if drifted else 1.0
        if s.lighting_drift > 0:
            a, b = self.light_phase
            gain *= 1 + s.lighting_drift * (
                0.75 * math.sin(2 * math.pi * t / 300 + a) + 0.25 * math.sin(2 * math.pi * t / 41 + b)
            )
        if gain != 1.0:
            img = cv2.convertScaleAbs(img, alpha=gain)
        if s.noise_sigma > 0:
            bi, oy, ox = self.noise_pick[f % len(self.noise_pick)]
            oy = (oy + f // len(self.noise_pick)) % 16  # never the same noise twice in a row, nor periodic
            sl = (bi, slice(oy, oy + s.height), slice(ox, ox + s.width))
            img = cv2.subtract(cv2.add(img, self.noise_pos[sl]), self.noise_neg[sl])
        return img


def _paste(img: np.ndarray, sprite: np.ndarray, mask: np.ndarray, x: int, y: int) -> None:
    H, W = img.shape[:2]
    h, w = mask.shape
    ax0, ay0, ax1, ay1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if ax1 <= ax0 or ay1 <= ay0:
        return
    sub = (slice(ay0 - y, ay1 - y), slice(ax0 - x, ax1 - x))
    cv2.copyTo(sprite[sub], mask[sub], img[ay0:ay1, ax0:ax1])  # writes into the view of img


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(x)), int(round(y))


def _draw_vehicle(img, x0, y0, x1, y1, colour, big: bool, left: bool) -> None:
    w, h = x1 - x0, y1 - y0
    dark = tuple(int(c * 0.55) for c in colour)
    wheel_r = max(1, int(h * 0.17))
    body_top = y0 + h * (0.05 if big else 0.38)
    cv2.rectangle(img, _pt(x0, body_top), _pt(x1, y1 - wheel_r * 0.6), colour, -1)
    if big:  # box truck / bus: tall body with a cab window at the front and a row of windows
        front = x0 if left else x1 - w * 0.2
        cv2.rectangle(img, _pt(front + w * 0.03, y0 + h * 0.15), _pt(front + w * 0.17, y0 + h * 0.45), (50, 40, 35), -1)
        cv2.line(img, _pt(x0, y0 + h * 0.6), _pt(x1, y0 + h * 0.6), dark, max(1, int(h * 0.04)))
    else:  # car: cabin with windows on top of a long body
        cx0, cx1 = x0 + w * (0.18 if left else 0.25), x1 - w * (0.25 if left else 0.18)
        cv2.rectangle(img, _pt(cx0, y0), _pt(cx1, body_top), colour, -1)
        cv2.rectangle(img, _pt(cx0 + w * 0.04, y0 + h * 0.07), _pt(cx1 - w * 0.04, body_top), (60, 45, 40), -1)
        cv2.line(
            img, _pt((cx0 + cx1) / 2, y0 + h * 0.07), _pt((cx0 + cx1) / 2, body_top), colour, max(1, int(w * 0.02))
        )
    light = x0 + 1 if left else x1 - 2
    cv2.circle(img, _pt(light, body_top + h * 0.12), max(1, int(h * 0.06)), (170, 230, 250), -1)
    for wx in (x0 + w * 0.2, x1 - w * 0.2):
        cv2.circle(img, _pt(wx, y1 - wheel_r), wheel_r, (20, 20, 20), -1)
        cv2.circle(img, _pt(wx, y1 - wheel_r), max(1, wheel_r // 2), (130, 130, 130), -1)


_SKIN = ((60, 90, 140), (90, 130, 180), (130, 165, 215), (45, 65, 100))


def _draw_person(img, x0, y0, x1, y1, shirt, trousers, skin, phase: float) -> None:
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    head_r = max(1, int(h * 0.09))
    swing = math.sin(phase * 2 * math.pi) * w * 0.35
    leg_t = max(1, int(w * 0.22))
    hip_y = y0 + h * 0.55
    cv2.line(img, _pt(cx, hip_y), _pt(cx + swing, y1), trousers, leg_t)
    cv2.line(img, _pt(cx, hip_y), _pt(cx - swing, y1), trousers, leg_t)
    cv2.ellipse(img, _pt(cx, y0 + h * 0.38), (max(1, int(w * 0.45)), max(1, int(h * 0.2))), 0, 0, 360, shirt, -1)
    cv2.line(img, _pt(cx, y0 + h * 0.25), _pt(cx - swing * 0.6, hip_y), shirt, max(1, int(w * 0.15)))
    cv2.circle(img, _pt(cx, y0 + head_r), head_r, skin, -1)


def _draw_animal(img, x0, y0, x1, y1, fur, phase: float, left: bool) -> None:
    w, h = x1 - x0, y1 - y0
    body_y = y0 + h * 0.45
    cv2.ellipse(img, _pt((x0 + x1) / 2, body_y), (max(1, int(w * 0.35)), max(1, int(h * 0.22))), 0, 0, 360, fur, -1)
    hx = x0 + w * 0.1 if left else x1 - w * 0.1
    cv2.circle(img, _pt(hx, y0 + h * 0.25), max(1, int(h * 0.2)), fur, -1)
    swing = math.sin(phase * 2 * math.pi) * w * 0.08
    for lx in (x0 + w * 0.28, x1 - w * 0.28):
        cv2.line(img, _pt(lx, body_y), _pt(lx + swing, y1), fur, max(1, int(w * 0.06)))


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(
        total=total, disable=not enabled or not sys.stderr.isatty(), unit="frame", desc="synthesise", leave=False
    )


def write_synthetic_video(
    path: str | Path, n_frames: int, scene: SyntheticScene = SyntheticScene(), progress: bool = False
) -> Path:
    """Render ``n_frames`` of ``scene`` to ``path`` (.avi, .mp4 or .mkv; MPEG-4 Part 2) plus ``<path>.truth.npz``.

    Streams frame by frame (memory does not grow with length). Both files are written atomically, video first;
    the truth records the video's fingerprint, so a sidecar never silently describes another video.
    """
    path = Path(path).expanduser()
    if n_frames < 1:
        raise VideoError(f"n_frames must be >= 1, got {n_frames}")
    ext = path.suffix.lower()
    if ext not in _CONTAINERS:
        raise VideoError(
            f"unsupported synthetic video extension {ext!r}", f"use one of {', '.join(sorted(_CONTAINERS))}"
        )
    tracks = _schedule(scene, n_frames)
    truth = _truth_arrays(tracks, scene, n_frames)
    renderer = _Renderer(scene, tracks)
    # Objects in the order they appear; an active list swept forward keeps per-frame work small.
    first = truth.track_first
    last = truth.track_first + truth.track_len - 1
    order = np.argsort(first, kind="stable")
    nxt = 0
    active: list[int] = []
    with atomic_path(path, suffix=ext) as tmp:
        writer = cv2.VideoWriter(
            str(tmp), cv2.VideoWriter.fourcc(*_CONTAINERS[ext]), scene.fps, (scene.width, scene.height)
        )
        if not writer.isOpened():
            raise VideoError(
                f"OpenCV cannot write {ext} video here",
                "this OpenCV build lacks an FFmpeg writer; use opencv-python-headless",
            )
        with encoding_thread(writer, path, "synthetic-encoder") as put, _progress(n_frames, progress) as bar:
            for f in range(n_frames):
                while nxt < len(order) and first[order[nxt]] <= f:
                    active.append(int(order[nxt]))
                    nxt += 1
                active = [j for j in active if last[j] >= f]
                put(renderer.render(f, [int(truth.track_id[j]) for j in active]))
                if f % 256 == 255:
                    bar.update(256)
            bar.update(n_frames % 256)
    write_npz(
        truth_path(path),
        format=np.array(TRUTH_FORMAT),
        scene_json=np.array(json.dumps(scene.to_dict(), sort_keys=True)),
        n_frames=np.array(n_frames),
        video_fingerprint=np.array(file_fingerprint(path)),
        track_class=truth.track_class,
        track_first=truth.track_first,
        track_len=truth.track_len,
        boxes=truth.boxes,
        scores=truth.scores,
    )
    return path


def synthetic_truth(scene: SyntheticScene, n_frames: int) -> SyntheticTruth:
    """The ground truth :func:`write_synthetic_video` would record, without rendering (cheap, for planning/tests)."""
    arr = _truth_arrays(_schedule(scene, n_frames), scene, n_frames)
    return SyntheticTruth(scene, n_frames, arr.track_class, arr.track_first, arr.track_len, arr.boxes, arr.scores)
