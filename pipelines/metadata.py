"""Engine figures as Dagster metadata a person reads at a glance: typed, rounded, units in the key.

Typed values (float / int / table) are what the asset page's Plots tab charts across materializations, so
headline figures are never passed as raw Python floats or hidden in markdown. Rates become percent
(``*_pct``), speed-ups ``*_x``; the frontier and the intervals become Dagster tables. Pure functions: no
context, no I/O except reading a PNG to embed.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from noscope_core.present import frontier as report


def pct(rate: float | None, digits: int = 2) -> dg.MetadataValue:
    """A rate in [0, 1] as a float percentage (0.0341 → 3.41); null when unknown."""
    return dg.MetadataValue.null() if rate is None else dg.MetadataValue.float(round(100.0 * float(rate), digits))


def times(factor: float | None, digits: int = 1) -> dg.MetadataValue:
    """A speed-up as a float rounded for reading (3.2551 → 3.3); the key says ``_x``."""
    return dg.MetadataValue.null() if factor is None else dg.MetadataValue.float(round(float(factor), digits))


def pct_text(rate: float | None) -> str:
    """A rate as a percentage in words: ``3.41%``; ``n/a`` when unknown (log lines, check descriptions)."""
    return "n/a" if rate is None else f"{100 * rate:.2f}%"


def times_text(factor: float | None) -> str:
    """A speed-up as people write it: ``3.3×``, ``250×``; ``n/a`` when unknown."""
    if factor is None:
        return "n/a"
    f = float(factor)
    return f"{f:,.0f}×" if f >= 100 else f"{f:.1f}×"


def num(value: float | None, digits: int = 3) -> dg.MetadataValue:
    """Any other measured float (ms, frames/s, seconds), rounded."""
    return dg.MetadataValue.null() if value is None else dg.MetadataValue.float(round(float(value), digits))


def count(value: int | float | None) -> dg.MetadataValue:
    return dg.MetadataValue.null() if value is None else dg.MetadataValue.int(int(value))


def png_markdown(path: str | Path, alt: str) -> dg.MetadataValue:
    """An image embedded in markdown metadata as a data URI, so the UI shows it without serving files."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{data})")


def frontier_table(frontier: list[dict], chosen: dict | None = None, limit: int = 30) -> dg.MetadataValue:
    """The optimizer's frontier as a Dagster table (``chosen`` column marks the choice, kept past ``limit``)."""
    table = report.frontier_table(frontier, chosen=chosen, limit=limit)
    schema = dg.TableSchema(columns=[dg.TableColumn(c.name, c.kind, description=c.description) for c in table.columns])
    return dg.MetadataValue.table(records=[dg.TableRecord(dict(r)) for r in table.rows], schema=schema)


INTERVAL_COLUMNS = (
    ("start_frame", "int", "first positive frame"),
    ("end_frame", "int", "first frame after the interval (excluded)"),
    ("frames", "int", "positive frames in the interval"),
    ("start_s", "float", "start, seconds into the video"),
    ("end_s", "float", "end, seconds into the video"),
)


def intervals_table(intervals: Sequence[Sequence[int]], fps: float | None, limit: int = 100) -> dg.MetadataValue:
    """Positive intervals ``[start, end)`` as a Dagster table of frames and seconds (the first ``limit``)."""
    records = [
        dg.TableRecord(
            {
                "start_frame": int(a),
                "end_frame": int(b),
                "frames": int(b) - int(a),
                "start_s": round(a / fps, 2) if fps else None,
                "end_s": round(b / fps, 2) if fps else None,
            }
        )
        for a, b in list(intervals)[: max(limit, 0)]
    ]
    schema = dg.TableSchema(columns=[dg.TableColumn(n, t, description=d) for n, t, d in INTERVAL_COLUMNS])
    return dg.MetadataValue.table(records=records, schema=schema)


def cascade_headline(best: Mapping[str, Any], targets: Mapping[str, Any], reference_fps: float) -> dict[str, Any]:
    """The ``optimized_cascade`` figures a person looks for first, on the threshold segment.

    Keys: cascade, speedup (text) and speedup_x, threshold_fnr_pct / threshold_fpr_pct against
    max_fnr_pct / max_fpr_pct, reference_calls_pct, cost_ms_per_frame, reference_frames_per_s.
    """
    return {
        "cascade": dg.MetadataValue.text(str(best.get("describe", ""))),
        "speedup": dg.MetadataValue.text(times_text(best.get("speedup"))),
        "speedup_x": times(best.get("speedup")),
        "threshold_fnr_pct": pct(best.get("fnr")),
        "threshold_fpr_pct": pct(best.get("fpr")),
        "max_fnr_pct": pct(targets.get("max_fnr")),
        "max_fpr_pct": pct(targets.get("max_fpr")),
        "reference_calls_pct": pct(best.get("reference_fraction")),
        "cost_ms_per_frame": num(best.get("cost_ms")),
        "reference_frames_per_s": num(reference_fps, 1),
    }


def query_headline(test: Mapping[str, Any], targets: Mapping[str, Any]) -> dict[str, Any]:
    """The ``query_results`` figures measured on the held-out test segment against the reference.

    ``test`` holds the engine's query result keys (fnr, fpr, speedup, speedup_e2e, cascade_fps, reference_fps,
    reference_call_fraction, frames_test, positive_frames, intervals); missing ones become null.
    """
    return {
        "speedup": dg.MetadataValue.text(times_text(test.get("speedup"))),
        "speedup_x": times(test.get("speedup")),
        "speedup_e2e_x": times(test.get("speedup_e2e")),
        "test_fnr_pct": pct(test.get("fnr")),
        "test_fpr_pct": pct(test.get("fpr")),
        "max_fnr_pct": pct(targets.get("max_fnr")),
        "max_fpr_pct": pct(targets.get("max_fpr")),
        "cascade_frames_per_s": num(test.get("cascade_fps"), 1),
        "reference_frames_per_s": num(test.get("reference_fps"), 1),
        "reference_calls_pct": pct(test.get("reference_call_fraction")),
        "test_frames": count(test.get("frames_test")),
        "positive_frames": count(test.get("positive_frames")),
        "n_intervals": count(len(test.get("intervals") or [])),
    }
