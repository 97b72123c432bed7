"""Compose one frame: cut-outs scaled to their row (perspective), drawn far to near, their visibility measured,
then the camera's look (light, nudge, rain) and sensor noise."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from noscope_core.footage.composite.bank import SourceBank
from noscope_core.footage.composite.scene import Appearance
from noscope_core.footage.composite.sprites import SpriteTrack


@dataclass(frozen=True)
class Placed:
    """One object as drawn in one frame: its box where alpha >= 1/2 (pixels, clipped) and its visible share."""

    object_id: int
    class_name: str
    box_px: tuple[float, float, float, float]
    visible: float
    foot_row_px: float


def scale_for(perspective, foot_row_px: float, source_row_px: float) -> float:
    """Size factor of a cut-out moved from ``source_row_px`` to ``foot_row_px``."""
    return float(perspective.height_at(foot_row_px) / max(perspective.height_at(source_row_px), 1.0))


def _sprite(track: SpriteTrack, view: int, foot: np.ndarray, flip: bool, perspective) -> tuple[np.ndarray, int, int]:
    """The view scaled for its row (RGB float32, alpha float32) and its top-left corner in the frame."""
    rgba = track.rgba[view]
    ax, ay = (float(v) for v in track.anchors_px[view])
    s = scale_for(perspective, float(foot[1]), float(track.source_feet_px[view, 1]))
    h0, w0 = rgba.shape[:2]
    w1, h1 = max(1, round(w0 * s)), max(1, round(h0 * s))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    img = cv2.resize(rgba, (w1, h1), interpolation=interp)
    if flip:
        img = img[:, ::-1]
        ax = w0 - ax
    x0 = int(round(float(foot[0]) - ax * w1 / w0))
    y0 = int(round(float(foot[1]) - ay * h1 / h0))
    return img, x0, y0


def compose(
    background: np.ndarray, bank: SourceBank, active: list[tuple[Appearance, int]]
) -> tuple[np.ndarray, list[Placed]]:
    """Draw the active appearances (each with its frame offset) on a copy of ``background``.

    Depth order is the foot row: lower in the image is nearer. Visibility is counted near to far (what nearer ones
    already cover), drawing goes far to near.
    """
    img = background.copy()
    height, width = img.shape[:2]
    items = []
    for app, k in active:
        track = bank.vehicle if app.track_index < 0 else bank.people[app.track_index]
        assert track is not None, "a vehicle appearance is scheduled only when the bank has a vehicle"
        foot = app.feet_px[k]
        rgba, x0, y0 = _sprite(track, int(app.view[k]), foot, app.flip, bank.perspective)
        items.append((float(foot[1]), app, rgba, x0, y0))
    items.sort(key=lambda it: (it[0], it[1].object_id))
    cover = np.zeros((height, width), np.float32)
    placed: list[Placed] = []
    for row, app, rgba, x0, y0 in reversed(items):
        alpha = rgba[:, :, 3].astype(np.float32) / 255.0
        total = float(alpha.sum())
        fx0, fy0 = max(x0, 0), max(y0, 0)
        fx1, fy1 = min(x0 + rgba.shape[1], width), min(y0 + rgba.shape[0], height)
        if total <= 0 or fx1 <= fx0 or fy1 <= fy0:
            continue
        a = alpha[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
        c = cover[fy0:fy1, fx0:fx1]
        visible = float((a * (1.0 - c)).sum()) / total
        cover[fy0:fy1, fx0:fx1] = c + a * (1.0 - c)
        ys, xs = np.nonzero(a >= 0.5)
        if len(xs) == 0:
            continue
        box = (
            float(fx0 + xs.min()),
            float(fy0 + ys.min()),
            float(xs.max() - xs.min() + 1),
            float(ys.max() - ys.min() + 1),
        )
        placed.append(Placed(app.object_id, app.class_name, box, visible, row))
    for _, _, rgba, x0, y0 in items:
        fx0, fy0 = max(x0, 0), max(y0, 0)
        fx1, fy1 = min(x0 + rgba.shape[1], width), min(y0 + rgba.shape[0], height)
        if fx1 <= fx0 or fy1 <= fy0:
            continue
        part = rgba[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
        a = part[:, :, 3:4].astype(np.float32) / 255.0
        roi = img[fy0:fy1, fx0:fx1].astype(np.float32)
        img[fy0:fy1, fx0:fx1] = (roi + a * (part[:, :, :3].astype(np.float32) - roi) + 0.5).astype(np.uint8)
    placed.sort(key=lambda p: p.object_id)
    return img, placed


class SensorNoise:
    """Gaussian sensor noise from a fixed bank of noise frames (drawing 1.3 M normals per frame costs more than the
    rest of the frame); which frame and where it starts is drawn per frame, so the noise does not repeat visibly."""

    def __init__(self, shape: tuple[int, int, int], sigma: float, seed: int, bank_size: int = 8) -> None:
        rng = np.random.default_rng([seed, 11])
        self.sigma = float(sigma)
        self._pos, self._neg = [], []
        h, w, c = shape
        for _ in range(bank_size if sigma > 0 else 0):
            n = rng.normal(0.0, sigma, (h + 16, w + 16, c))
            self._pos.append(np.clip(n, 0, 255).astype(np.uint8))
            self._neg.append(np.clip(-n, 0, 255).astype(np.uint8))

    def apply(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if not self._pos:
            return img
        i = int(rng.integers(len(self._pos)))
        dy, dx = (int(v) for v in rng.integers(0, 16, 2))
        h, w = img.shape[:2]
        img = cv2.add(img, self._pos[i][dy : dy + h, dx : dx + w])
        return cv2.subtract(img, self._neg[i][dy : dy + h, dx : dx + w])
