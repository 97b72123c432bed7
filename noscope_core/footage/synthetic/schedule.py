"""Who appears when: every object's arrival, path, size and colours, drawn from the scene's seed, and its box at
any frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from noscope_core.footage.synthetic.scene import ANIMALS, BIG_VEHICLES, SyntheticScene, lane_style


@dataclass(frozen=True)
class Tracks:
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


def perspective(y_bottom: np.ndarray | float, height: int) -> np.ndarray | float:
    """Apparent size factor of an object standing at ``y_bottom``: farther up the frame is farther away."""
    return 0.2 + 0.85 * np.asarray(y_bottom) / height


def _random_colours(rng: np.random.Generator, n: int) -> np.ndarray:
    hsv = np.stack([rng.integers(0, 180, n), rng.integers(60, 256, n), rng.integers(60, 256, n)], axis=1)
    grey = rng.random(n) < 0.3  # some black / white / grey objects, like real traffic
    hsv[grey, 1] = rng.integers(0, 30, int(grey.sum()))
    hsv[grey, 2] = rng.choice([30, 120, 200, 240], int(grey.sum()))
    return cv2.cvtColor(hsv.astype(np.uint8)[None], cv2.COLOR_HSV2BGR)[0]


def schedule_tracks(scene: SyntheticScene, n_frames: int) -> Tracks:
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
            if lane_style(name) == "road":
                lane = int(rng.integers(0, 2))
                y0 = y1 = H * (0.66 if lane == 0 else 0.79) + rng.uniform(-0.01, 0.01) * H
                leftward = lane == 0  # far lane drives right-to-left, near lane left-to-right
                big = name.lower() in BIG_VEHICLES
                w = W * rng.uniform(0.22, 0.3) if big else W * rng.uniform(0.15, 0.21)
                h = w * (rng.uniform(0.55, 0.7) if big else rng.uniform(0.4, 0.5))
            else:
                on_lawn = rng.random() < 0.45
                if on_lawn:
                    y0 = H * rng.uniform(0.36, 0.52)
                    y1 = float(np.clip(y0 + H * rng.uniform(-0.12, 0.12), H * 0.33, H * 0.54))
                else:
                    y0 = y1 = H * rng.uniform(0.88, 0.93)
                if name.lower() in ANIMALS:
                    h = H * rng.uniform(0.07, 0.1)
                    w = h * rng.uniform(1.4, 1.8)
                else:
                    h = H * rng.uniform(0.15, 0.2)
                    w = h * rng.uniform(0.34, 0.42)
            wmax = w * float(perspective(max(y0, y1), H))
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
        return Tracks(np.zeros(0, np.int64), f, f, f, f, f, f, f, f, f, c, c, f)
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.argsort(merged["t0"], kind="stable")
    return Tracks(**{k: v[order] for k, v in merged.items()})


def track_boxes(tr: Tracks, k: int, frames: np.ndarray, scene: SyntheticScene) -> tuple[np.ndarray, ...]:
    """Unclipped pixel boxes ``(x0, y0, x1, y1)`` of object ``k`` at ``frames``."""
    p = (frames / scene.fps - tr.t0[k]) / tr.stay[k]
    yb = tr.y_in[k] + p * (tr.y_out[k] - tr.y_in[k])
    s = perspective(yb, scene.height)
    w, h = tr.w[k] * s, tr.h[k] * s
    dx, dy = scene.shift_at(frames)  # a nudged camera moves the objects with the background
    cx = tr.x_in[k] + p * (tr.x_out[k] - tr.x_in[k]) + dx
    yb = yb + dy
    return cx - w / 2, yb - h, cx + w / 2, yb
