"""What determines a synthetic video (:class:`SyntheticScene`), and how each of its classes moves and is drawn."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from noscope_core.common.errors import VideoError

ROAD_CLASSES = {"car", "truck", "bus", "van", "vehicle", "motorcycle", "motorbike", "bicycle"}
BIG_VEHICLES = {"truck", "bus", "van"}
ANIMALS = {"dog", "cat", "animal", "horse", "sheep"}


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


def lane_style(name: str) -> str:
    """ "road" for vehicles (they drive the lanes), else "walk" (the pavement or across the lawn)."""
    return "road" if name.lower() in ROAD_CLASSES else "walk"


def drawing_kind(name: str) -> str:
    """How objects of class ``name`` are drawn: "car", "big" (truck, bus, van), "animal" or "person"."""
    name = name.lower()
    if lane_style(name) == "road":
        return "big" if name in BIG_VEHICLES else "car"
    return "animal" if name in ANIMALS else "person"
