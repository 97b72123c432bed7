"""The small frames the cheap stages read, and the views a frame store is decoded with."""

from __future__ import annotations

from collections.abc import Iterable

from noscope_core.spec.query import Query
from noscope_core.video.decode import ViewSpec

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
