"""How the camera's look changes over time: the slow daylight drift of every video, and the drift variants.

Variants start at ``start_fraction`` of the video and leave everything before it identical to the plain camera
(same seed, same frames), so a model trained on the first part meets the change only after it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from noscope_core.common.errors import QueryError

#: the drift variants ``make-camera --drift`` accepts
DRIFT_CHOICES = ("evening", "nudge", "rain", "vehicle")


@dataclass(frozen=True)
class DriftSpec:
    kinds: tuple[str, ...] = ()
    start_fraction: float = 0.5
    evening_gain: float = 0.55  # brightness after the evening step (1 = unchanged)
    evening_ramp_s: float = 5.0
    nudge_px: tuple[int, int] = (6, 4)  # (dx, dy) the camera moves by
    vehicle_every_s: float = 120.0

    def __post_init__(self) -> None:
        unknown = [k for k in self.kinds if k not in DRIFT_CHOICES]
        if unknown:
            raise QueryError(f"unknown drift {', '.join(unknown)!s}", hint=f"choose from {', '.join(DRIFT_CHOICES)}")
        if not 0.0 <= self.start_fraction < 1.0:
            raise QueryError(f"drift start {self.start_fraction} must lie in [0, 1)", hint="e.g. 0.5: half-way")
        if not 0.0 < self.evening_gain <= 1.5 or self.vehicle_every_s <= 0:
            raise QueryError("evening gain must lie in (0, 1.5] and the vehicle interval be positive")

    def has(self, kind: str) -> bool:
        return kind in self.kinds


def parse_drift(text: str | None) -> tuple[str, ...]:
    """``"evening,rain"`` -> ``("evening", "rain")``; empty or None -> no drift. Unknown names are refused."""
    kinds = tuple(k.strip().lower() for k in (text or "").split(",") if k.strip())
    DriftSpec(kinds)  # validates
    return kinds


def daylight_gain(t_s: float, duration_s: float, seed: int) -> float:
    """Brightness factor of the plain camera: brighter at midday of the video's day, and slow passing clouds."""
    u = t_s / max(duration_s, 1e-9)
    phases = np.random.default_rng([seed, 7]).uniform(0, 2 * np.pi, 2)
    clouds = 0.03 * np.sin(2 * np.pi * t_s / 420.0 + phases[0]) + 0.02 * np.sin(2 * np.pi * t_s / 170.0 + phases[1])
    return float(0.9 + 0.12 * np.sin(np.pi * u) + clouds)


def gains_bgr(t_s: float, duration_s: float, seed: int, drift: DriftSpec) -> tuple[float, float, float]:
    """Per-channel (B, G, R) gain at ``t_s``: daylight, times the evening step (dimmer and bluer) once it starts."""
    g = daylight_gain(t_s, duration_s, seed)
    if drift.has("evening"):
        start = drift.start_fraction * duration_s
        ramp = float(np.clip((t_s - start) / drift.evening_ramp_s, 0.0, 1.0))
        e = 1.0 + ramp * (drift.evening_gain - 1.0)
        return (g * e * (1 + 0.12 * ramp), g * e, g * e * (1 - 0.12 * ramp))
    return (g, g, g)


def shift_px(t_s: float, duration_s: float, drift: DriftSpec) -> tuple[int, int]:
    """The camera's displacement at ``t_s``: (0, 0) until a nudge, then ``nudge_px`` for good."""
    if drift.has("nudge") and t_s >= drift.start_fraction * duration_s:
        return drift.nudge_px
    return (0, 0)


def raining(t_s: float, duration_s: float, drift: DriftSpec) -> bool:
    return drift.has("rain") and t_s >= drift.start_fraction * duration_s


def apply_light(img: np.ndarray, gains: tuple[float, float, float]) -> np.ndarray:
    if gains[0] == gains[1] == gains[2]:
        return cv2.convertScaleAbs(img, alpha=gains[0])
    return cv2.transform(img, np.diag(np.asarray(gains, dtype=np.float32)))


def apply_shift(img: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """The whole view moved by (dx, dy); the strip uncovered at the border repeats the edge pixels."""
    if dx == 0 and dy == 0:
        return img
    m = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REPLICATE)


def apply_rain(img: np.ndarray, rng: np.random.Generator, n_streaks: int = 350) -> np.ndarray:
    """Rain: a slightly dimmer, flatter image with short bright slanted streaks, new ones every frame."""
    h, w = img.shape[:2]
    x = rng.uniform(0, w, n_streaks)
    y = rng.uniform(0, h, n_streaks)
    length = rng.uniform(8, 22, n_streaks)
    lines = np.stack([np.stack([x, y], 1), np.stack([x + 0.25 * length, y + length], 1)], 1).astype(np.int32)
    layer: np.ndarray = np.zeros((h, w), np.uint8)
    cv2.polylines(layer, list(lines), False, 70, 1, cv2.LINE_AA)
    layer = cv2.blur(layer, (2, 2))
    flat = cv2.addWeighted(img, 0.85, np.full_like(img, 128), 0.1, 0)
    return cv2.add(flat, cv2.merge([layer, layer, layer]))
