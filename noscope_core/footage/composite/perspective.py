"""Person height in pixels as a function of the foot row: a fixed camera over flat ground makes it a straight line."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from noscope_core.common.errors import VideoError


@dataclass(frozen=True)
class Perspective:
    """``height_px = slope * foot_row_px + intercept``; the horizon is the row where the height reaches zero."""

    slope: float
    intercept: float

    def height_at(self, foot_row_px: float | np.ndarray) -> float | np.ndarray:
        return self.slope * np.asarray(foot_row_px, dtype=np.float64) + self.intercept

    @property
    def horizon_row_px(self) -> float:
        return -self.intercept / self.slope


def fit_perspective(foot_rows_px: np.ndarray, heights_px: np.ndarray, trim: float = 0.2) -> Perspective:
    """Least-squares line through (foot row, box height), refitted once without the worst ``trim`` share.

    The trimming drops boxes the detector cut short (people half hidden or leaving the frame).
    """
    rows = np.asarray(foot_rows_px, dtype=np.float64)
    heights = np.asarray(heights_px, dtype=np.float64)
    if rows.size < 3 or np.ptp(rows) < 1.0:
        raise VideoError(
            "too few people at different distances to fit the perspective",
            hint="the source video needs people detected at several image rows",
        )
    keep = np.ones(rows.size, dtype=bool)
    for _ in range(2):
        slope, intercept = np.polyfit(rows[keep], heights[keep], 1)
        resid = np.abs(heights - (slope * rows + intercept))
        keep = resid <= np.quantile(resid, 1.0 - trim)
    if not slope > 0:
        raise VideoError(
            "people do not get taller towards the bottom of the frame",
            hint="the source must be a fixed camera looking down at the ground",
        )
    return Perspective(float(slope), float(intercept))
