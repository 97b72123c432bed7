"""What the user asks: an object class, an optional region of interest and a confidence threshold."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from noscope_core.common.errors import QueryError


@dataclass(frozen=True)
class ROI:
    """Region of interest as fractions of the frame: ``x0 < x1`` and ``y0 < y1``, all in [0, 1]."""

    x0: float
    y0: float
    x1: float
    y1: float

    def __post_init__(self) -> None:
        vals = (self.x0, self.y0, self.x1, self.y1)
        if any(not (0.0 <= v <= 1.0) for v in vals):
            raise QueryError(
                f"region of interest {vals} lies outside [0,1]", "give X0,Y0,X1,Y1 as fractions of the frame"
            )
        if self.x1 <= self.x0 or self.y1 <= self.y0:
            raise QueryError(f"region of interest {vals} is empty", "need X0 < X1 and Y0 < Y1")

    @classmethod
    def parse(cls, text: str | Sequence[float] | None) -> ROI | None:
        """Parse ``"X0,Y0,X1,Y1"`` (or a 4-sequence); ``None``/empty means the whole frame."""
        if text is None or text == "":
            return None
        if isinstance(text, str):
            parts = [p.strip() for p in text.split(",")]
            try:
                vals = [float(p) for p in parts]
            except ValueError:
                raise QueryError(
                    f"cannot parse region of interest {text!r}", "expected X0,Y0,X1,Y1, e.g. 0,0.5,0.5,1"
                ) from None
        else:
            vals = [float(v) for v in text]
        if len(vals) != 4:
            raise QueryError(f"region of interest needs 4 numbers, got {len(vals)}", "expected X0,Y0,X1,Y1")
        return cls(*vals)

    def contains(self, cx: float, cy: float) -> bool:
        return self.x0 <= cx < self.x1 and self.y0 <= cy < self.y1

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0, self.x1, self.y1)


@dataclass(frozen=True)
class Query:
    """``object_class`` anywhere in ``roi`` (box centre inside) with score >= ``min_score``.

    ``smooth_frames`` is NoScope's temporal label smoothing: a centred majority vote over that many
    frames removes one-frame flicker of the reference (1 disables it).
    """

    object_class: str
    roi: ROI | None = None
    min_score: float = 0.5
    smooth_frames: int = 1

    def __post_init__(self) -> None:
        if not self.object_class or not self.object_class.strip():
            raise QueryError("empty object class")
        if not (0.0 < self.min_score <= 1.0):
            raise QueryError(f"confidence threshold {self.min_score} must lie in (0, 1]")
        if self.smooth_frames < 1 or self.smooth_frames % 2 == 0:
            raise QueryError(f"smooth_frames must be a positive odd number, got {self.smooth_frames}")

    def validate_class(self, class_names: Sequence[str]) -> None:
        if self.object_class not in class_names:
            valid = ", ".join(sorted(set(class_names)))
            raise QueryError(f"unknown object class {self.object_class!r}", f"valid classes: {valid}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["roi"] = list(self.roi.as_tuple()) if self.roi else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Query:
        return cls(
            object_class=d["object_class"],
            roi=ROI.parse(d.get("roi")),
            min_score=float(d.get("min_score", 0.5)),
            smooth_frames=int(d.get("smooth_frames", 1)),
        )

    def key(self) -> str:
        """A short stable hash identifying this query, for cache keys and staleness checks."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def describe(self) -> str:
        where = "anywhere" if self.roi is None else "in region " + ",".join(f"{v:g}" for v in self.roi.as_tuple())
        return f"{self.object_class} {where} (score >= {self.min_score:g})"


def parse_split(text: str | Sequence[float]) -> tuple[float, float, float]:
    """Parse ``"0.5,0.25,0.25"`` into train/threshold/test fractions that are positive and sum to <= 1."""
    if isinstance(text, str):
        try:
            vals = tuple(float(p) for p in text.split(","))
        except ValueError:
            raise QueryError(
                f"cannot parse split {text!r}", "expected TRAIN,THRESHOLD,TEST fractions, e.g. 0.5,0.25,0.25"
            ) from None
    else:
        vals = tuple(float(v) for v in text)
    if len(vals) != 3 or any(v <= 0 for v in vals) or sum(vals) > 1.0 + 1e-9:
        raise QueryError(
            f"invalid split {vals}", "need three positive fractions TRAIN,THRESHOLD,TEST summing to at most 1"
        )
    return vals


def parse_target(name: str, value: float) -> float:
    if not (0.0 <= value < 1.0):
        raise QueryError(f"{name} must lie in [0, 1), got {value}")
    return float(value)
