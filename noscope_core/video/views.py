"""Views: how a full frame becomes a cheap model's input (:class:`ViewSpec`), and the views a query's cheap stages
read and its frame store is decoded with.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from noscope_core.common.errors import VideoError
from noscope_core.spec.query import ROI, Query


@dataclass(frozen=True)
class ViewSpec:
    """How a full frame becomes a cheap model's input: optional crop to a region (plus margin), then size×size RGB.

    ``lowres`` > 0 decodes at 1/2**lowres of the resolution first (FFmpeg's reduced-resolution decoding, PyAV
    only, ignored by codecs without it such as H.264): cheaper, but other pixels, so it is part of the view.
    ``skip_loop_filter`` decodes without the in-loop deblocking filter (FFmpeg's ``skip_loop_filter=all``, PyAV
    only; H.264/HEVC/VP8 have one, MPEG-4 part 2 and MS-MPEG4 do not): for the same reason part of the view.
    """

    size: int = 50
    roi: ROI | None = None
    margin: float = 0.1  # fractions of the frame added around the ROI on each side (clipped to the frame)
    lowres: int = 0
    skip_loop_filter: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.size, (int, np.integer)) or not (4 <= int(self.size) <= 4096):
            raise VideoError(f"view size must be an integer in [4, 4096], got {self.size!r}")
        if not (math.isfinite(self.margin) and 0.0 <= self.margin <= 1.0):
            raise VideoError(f"view margin must lie in [0, 1], got {self.margin!r}")
        if isinstance(self.lowres, bool) or self.lowres not in (0, 1, 2, 3):
            raise VideoError(f"view lowres must be 0, 1, 2 or 3, got {self.lowres!r}", "0 decodes at full resolution")
        if not isinstance(self.skip_loop_filter, (bool, np.bool_)):
            raise VideoError(f"view skip_loop_filter must be True or False, got {self.skip_loop_filter!r}")
        object.__setattr__(self, "skip_loop_filter", bool(self.skip_loop_filter))

    @property
    def exact_decode(self) -> bool:
        """Whether frames are decoded as every player decodes them (no reduced resolution, loop filter on)."""
        return not self.lowres and not self.skip_loop_filter

    @property
    def decode_key(self) -> tuple[int, bool]:
        """``(lowres, skip_loop_filter)``: views with the same key can be shrunk from one decoding pass."""
        return int(self.lowres), bool(self.skip_loop_filter)

    @property
    def name(self) -> str:
        suffix = (f"-lr{self.lowres}" if self.lowres else "") + ("-nlf" if self.skip_loop_filter else "")
        if self.roi is None:
            return f"full{self.size}{suffix}"
        blob = json.dumps([round(v, 6) for v in (*self.roi.as_tuple(), self.margin)]).encode()
        return f"roi{self.size}-{hashlib.sha256(blob).hexdigest()[:8]}{suffix}"

    def crop_box(self, width: int, height: int) -> tuple[int, int, int, int]:
        """Pixel box ``(x0, y0, x1, y1)`` (exclusive ends) of a ``width``×``height`` frame this view keeps."""
        if self.roi is None:
            return 0, 0, width, height
        r = self.roi
        x0 = math.floor(max(0.0, r.x0 - self.margin) * width)
        y0 = math.floor(max(0.0, r.y0 - self.margin) * height)
        x1 = math.ceil(min(1.0, r.x1 + self.margin) * width)
        y1 = math.ceil(min(1.0, r.y1 + self.margin) * height)
        return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "size": int(self.size),
            "roi": list(self.roi.as_tuple()) if self.roi else None,
            "margin": float(self.margin),
        }
        if self.lowres:  # absent at 0, so full-resolution views keep the dicts they always had
            d["lowres"] = int(self.lowres)
        if self.skip_loop_filter:  # likewise absent when off
            d["skip_loop_filter"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ViewSpec:
        return cls(
            size=int(d["size"]),
            roi=ROI.parse(d.get("roi")),
            margin=float(d.get("margin", 0.1)),
            lowres=int(d.get("lowres", 0)),
            skip_loop_filter=bool(d.get("skip_loop_filter", False)),
        )


#: side in pixels of the small square frames the difference detectors and specialized models read
MODEL_VIEW_SIZE = 50


def model_view(query: Query) -> ViewSpec:
    """The small-frame input of the cheap models: the ROI crop when the query has one, else the whole frame."""
    return ViewSpec(MODEL_VIEW_SIZE, roi=query.roi) if query.roi is not None else ViewSpec(MODEL_VIEW_SIZE)


def store_views(query: Query) -> list[ViewSpec]:
    """The views a query's frame store holds: the whole small frame, and the ROI crop when there is one."""
    views = [ViewSpec(MODEL_VIEW_SIZE)]
    if query.roi is not None:
        views.append(model_view(query))
    return views


def decoding_views(query: Query, decodings: Iterable[str]) -> list[ViewSpec]:
    """The cheap models' view under each candidate decoding (e.g. ``("lr2", "nlf")``), the exact one first.

    What a training flow that lets the optimizer choose the decoding trains on: one frame store pass and one
    model family per view, priced with :mod:`noscope_core.video.reading_costs`.
    """
    from noscope_core.spec.decodings import parse_decodings
    from noscope_core.video.reading_costs import with_decoding

    return [with_decoding(model_view(query), d) for d in parse_decodings(decodings)]
