"""Detections computed elsewhere (a CSV or Parquet file) used as the reference, as NoScope read YOLO's CSV.

Columns (one row per detected object; extra columns are ignored):

=========  ==============================================================================
frame      source frame number, integer >= 0
class      class name, text (a row with an empty class marks a frame with no objects)
score      confidence in [0, 1] (the column may also be called ``confidence``)
x, y       top-left corner of the box
w, h       width and height of the box
=========  ==============================================================================

Boxes are fractions of the frame, unless ``frame_size=(W, H)`` is given and some coordinate exceeds 1.5:
then the whole file is read as pixels and divided by W and H. Frames absent from the file have no
detections. The detector never looks at pixels, so it has no run time of its own: its cost is declared
from ``reference_fps``, the speed of the detector that produced the file (unknown without it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from noscope_core.common.artifacts import sha256_file
from noscope_core.common.errors import DetectorError
from noscope_core.reference.detectors.base import Detection, ReferenceDetector

REQUIRED_COLUMNS: tuple[str, ...] = ("frame", "class", "score", "x", "y", "w", "h")
_PIXEL_THRESHOLD = 1.5  # a fraction never exceeds 1 (plus rounding slack); anything above it is a pixel


class PrecomputedDetector(ReferenceDetector):
    """Look up each frame's detections in a table loaded once from CSV or Parquet."""

    name = "detections"
    needs_pixels = False

    def __init__(
        self,
        path: str | Path,
        reference_fps: float | None = None,
        frame_size: tuple[int, int] | None = None,
        class_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise DetectorError(
                f"detections file {self.path} not found", hint="give detections:PATH to a CSV or Parquet file"
            )
        if reference_fps is not None:
            if not reference_fps > 0:
                raise DetectorError(f"reference fps must be positive, got {reference_fps}")
            self.declare_cost(1000.0 / float(reference_fps))
        self.reference_fps = reference_fps
        self._sha256 = sha256_file(self.path)
        self._frame_size = frame_size
        self._table = _parse_table(_read_table(self.path), self.path, frame_size)
        # Classes in the file, plus any the caller knows the producing detector could report.
        self._class_names = tuple(dict.fromkeys([*self._table.classes, *(str(c) for c in class_names or ())]))

    @property
    def class_names(self) -> tuple[str, ...]:
        return self._class_names

    @property
    def cost_ms_per_frame(self) -> float | None:
        """Declared from ``reference_fps``; None when unknown (a table lookup's time says nothing)."""
        return self._declared_cost_ms

    @property
    def in_pixels(self) -> bool:
        """Whether the file's boxes were pixels (converted with ``frame_size``)."""
        return self._table.in_pixels

    def identity(self) -> str:
        units = f"px{self._frame_size[0]}x{self._frame_size[1]}" if self.in_pixels and self._frame_size else "frac"
        return f"{self.name}|sha256={self._sha256[:16]}|boxes={units}"

    def _detect(self, frames: Sequence[np.ndarray], frame_indices: Sequence[int]) -> list[list[Detection]]:
        t = self._table
        idx = np.asarray(frame_indices, dtype=np.int64)
        lo = np.searchsorted(t.frames, idx, side="left")
        hi = np.searchsorted(t.frames, idx, side="right")
        return [
            [Detection(t.classes[t.codes[r]], *map(float, t.values[r])) for r in range(a, b)]
            for a, b in zip(lo.tolist(), hi.tolist(), strict=True)
        ]


def _read_table(path: Path):
    import pandas as pd  # imported here: pandas is only needed for this detector

    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt"):
            return pd.read_csv(path, skipinitialspace=True)
    except Exception as exc:  # pandas / pyarrow raise many types for unreadable files
        raise DetectorError(f"cannot read detections file {path}: {exc}".splitlines()[0]) from exc
    raise DetectorError(f"detections file {path} must end in .csv or .parquet", hint=_columns_hint())


def _columns_hint() -> str:
    return (
        f"required columns: {', '.join(REQUIRED_COLUMNS)} (frame int, class text, score in [0,1], "
        "box x,y top-left and w,h as fractions of the frame, or pixels with the video's frame size)"
    )


@dataclass(frozen=True)
class _Table:
    """Detections sorted by frame: row r is frame ``frames[r]``, class ``classes[codes[r]]``, ``values[r]``."""

    frames: np.ndarray  # (n,) int64, sorted
    codes: np.ndarray  # (n,) int, index into classes
    values: np.ndarray  # (n, 5) float64: score, x, y, w, h (fractions)
    classes: tuple[str, ...]
    in_pixels: bool


def _parse_table(table, path: Path, frame_size: tuple[int, int] | None) -> _Table:
    """Validate the columns and convert them to sorted arrays with boxes as fractions."""
    import pandas as pd

    table = table.rename(columns={c: str(c).strip().lower() for c in table.columns})
    if "score" not in table.columns and "confidence" in table.columns:
        table = table.rename(columns={"confidence": "score"})
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise DetectorError(f"detections file {path} lacks columns {', '.join(missing)}", hint=_columns_hint())
    for col in ("frame", "score", "x", "y", "w", "h"):
        if not pd.api.types.is_numeric_dtype(table[col]) or pd.api.types.is_bool_dtype(table[col]):
            raise DetectorError(f"column {col!r} of {path} is not numeric", hint=_columns_hint())

    # Rows with an empty class mark frames without objects: they carry no detection.
    names = table["class"]
    table = table[names.notna() & (names.astype(str).str.strip() != "")]
    frames = table["frame"].to_numpy(dtype=np.float64)
    if np.isnan(frames).any() or (frames < 0).any() or (frames != np.round(frames)).any():
        raise DetectorError(f"column 'frame' of {path} must hold integers >= 0", hint=_columns_hint())
    values = table[["score", "x", "y", "w", "h"]].to_numpy(dtype=np.float64)
    if np.isnan(values).any():
        raise DetectorError(f"detections file {path} has empty score or box cells", hint=_columns_hint())
    if ((values[:, 0] < 0) | (values[:, 0] > 1)).any():
        raise DetectorError(f"column 'score' of {path} must lie in [0, 1]", hint=_columns_hint())

    in_pixels = bool((values[:, 1:] > _PIXEL_THRESHOLD).any())
    if in_pixels:
        if frame_size is None:
            raise DetectorError(
                f"boxes in {path} look like pixels (values above {_PIXEL_THRESHOLD})",
                hint="give the video's frame size (W, H) so they can be converted, or write fractions of the frame",
            )
        width, height = frame_size
        values[:, [1, 3]] /= float(width)
        values[:, [2, 4]] /= float(height)

    classes, codes = np.unique(table["class"].astype(str).str.strip().to_numpy(), return_inverse=True)
    order = np.argsort(frames, kind="stable")
    return _Table(
        frames=frames[order].astype(np.int64),
        codes=codes.reshape(-1)[order],
        values=values[order],
        classes=tuple(str(c) for c in classes),
        in_pixels=in_pixels,
    )
