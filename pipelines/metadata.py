"""Engine figures as Dagster metadata a person reads at a glance: typed, rounded, units in the key.

Typed values (float / int / table) are what the asset page's Plots tab charts across materializations, so
headline figures are never passed as raw Python floats or hidden in markdown, and values that are constant from
run to run (targets, confidence, declared footage) are text, not flat plots. One unit convention with MLflow
and the CLI (``noscope_core.present.units``): rates in percent (``*_pct``), speed-ups ``*_x``, ``*_fps``,
``*_ms``; the frontier and the intervals become Dagster tables. Pure functions (no I/O except reading a PNG to
embed), but for :func:`tag_run`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from noscope_core.present import frontier as report
from noscope_core.present import units


def pct(rate: float | None, digits: int = units.PCT_DIGITS) -> dg.MetadataValue:
    """A rate in [0, 1] as a float percentage (0.0341 → 3.41); null when unknown."""
    value = units.pct_value(rate, digits)
    return dg.MetadataValue.null() if value is None else dg.MetadataValue.float(value)


def times(factor: float | None) -> dg.MetadataValue:
    """A speed-up as a float rounded as people read it (3.2551 → 3.3, 223361.6 → 223362); the key says ``_x``."""
    value = units.times_value(factor)
    return dg.MetadataValue.null() if value is None else dg.MetadataValue.float(value)


#: the same figures as text, for log lines and check descriptions (``noscope_core.present.units``)
pct_text = units.pct
times_text = units.times


def num(value: float | None, digits: int = 3) -> dg.MetadataValue:
    """Any other measured float (seconds...), rounded."""
    return dg.MetadataValue.null() if value is None else dg.MetadataValue.float(round(float(value), digits))


def ms(value: float | None) -> dg.MetadataValue:
    v = units.ms_value(value)
    return dg.MetadataValue.null() if v is None else dg.MetadataValue.float(v)


def fps(value: float | None) -> dg.MetadataValue:
    v = units.fps_value(value)
    return dg.MetadataValue.null() if v is None else dg.MetadataValue.float(v)


def targets_text(targets: Mapping[str, Any]) -> dg.MetadataValue:
    """The camera's targets (and confidence) as one text entry: constant from run to run, so a typed float would
    only draw a flat line on the Plots tab. ``FNR ≤ 1.00 %, FPR ≤ 1.00 % at 95 % confidence``."""
    if targets.get("max_fnr") is None and targets.get("max_fpr") is None:
        return dg.MetadataValue.null()
    conf = targets.get("confidence")
    level = f"at {units.pct(conf, 0)} confidence" if conf is not None else "point rule (no confidence)"
    return dg.MetadataValue.text(
        f"FNR ≤ {units.pct(targets.get('max_fnr'))}, FPR ≤ {units.pct(targets.get('max_fpr'))} {level}"
    )


#: the Dagster run tag that carries the decision (the run page shows tags under its title)
DECISION_RUN_TAG = "noscope/decision"


def decision_entries(decision: str, fell_back: bool, reason: str | None = None) -> dict[str, Any]:
    """The asset page's first entries: the decision in one line, then whether it fell back (and why)."""
    out: dict[str, Any] = {"decision": dg.MetadataValue.text(decision), "fell_back": dg.MetadataValue.bool(fell_back)}
    if fell_back and reason:
        out["fallback_reason"] = dg.MetadataValue.text(reason)
    return out


def tag_run(context, decision: str) -> None:
    """Put the decision on the Dagster run itself (tag :data:`DECISION_RUN_TAG`), where the run list shows it."""
    context.instance.add_run_tags(context.run_id, {DECISION_RUN_TAG: decision[:4000]})


def text(value: str | None) -> dg.MetadataValue:
    return dg.MetadataValue.null() if not value else dg.MetadataValue.text(str(value))


def count(value: int | float | None) -> dg.MetadataValue:
    return dg.MetadataValue.null() if value is None else dg.MetadataValue.int(int(value))


def png_markdown(path: str | Path, alt: str) -> dg.MetadataValue:
    """An image embedded in markdown metadata as a data URI, so the UI shows it without serving files."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{data})")


def frontier_table(
    frontier: list[dict], chosen: dict | None = None, limit: int = 30, targets: Mapping[str, Any] | None = None
) -> dg.MetadataValue:
    """The optimizer's frontier as a Dagster table, one line per row: the chosen row marked (kept past ``limit``;
    the fallback as rank 0), what decided each row (``verdict``, the estimates and the certified cost beside the
    threshold-segment error), short cascade names; the full descriptions in :func:`frontier_details`."""
    t = targets or {}
    table = report.frontier_table(
        frontier, chosen=chosen, limit=limit, max_fnr=t.get("max_fnr"), max_fpr=t.get("max_fpr")
    )
    columns = [c for c in table.columns if c.name != "details"]
    schema = dg.TableSchema(columns=[dg.TableColumn(c.name, c.kind, description=c.description) for c in columns])
    records = [dg.TableRecord({c.name: r[c.name] for c in columns}) for r in table.rows]
    return dg.MetadataValue.table(records=records, schema=schema)


def frontier_details(
    frontier: list[dict], chosen: dict | None = None, limit: int = 30, targets: Mapping[str, Any] | None = None
) -> dg.MetadataValue:
    """Each frontier row's full description by rank, as markdown the asset page opens on demand."""
    t = targets or {}
    table = report.frontier_table(
        frontier, chosen=chosen, limit=limit, max_fnr=t.get("max_fnr"), max_fpr=t.get("max_fpr")
    )
    lines = [
        f"- **#{r['rank']}**{' (chosen)' if r['chosen'] else ''} {r['cascade']}: {r['details']}" for r in table.rows
    ]
    return dg.MetadataValue.md("\n".join(lines) or "no candidates")


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


def cascade_headline(
    best: Mapping[str, Any], targets: Mapping[str, Any], reference_fps: float, reference_timing: str | None = None
) -> dict[str, Any]:
    """The ``optimized_cascade`` figures a person looks for first, on the threshold segment.

    Keys: cascade, speedup (text) and speedup_x, threshold_fnr_pct / threshold_fpr_pct against ``targets``
    (text: a constant), reference_calls_pct, cost_ms_per_frame, reference_fps and how it was measured
    (``reference_timing``, the run's one measurement).
    """
    return {
        "cascade": dg.MetadataValue.text(report.short_name(best) if best else ""),
        "speedup": dg.MetadataValue.text(times_text(best.get("speedup"))),
        "speedup_x": times(best.get("speedup")),
        "threshold_fnr_pct": pct(best.get("fnr")),
        "threshold_fpr_pct": pct(best.get("fpr")),
        "targets": targets_text(targets),
        "reference_calls_pct": pct(best.get("reference_fraction")),
        "cost_ms_per_frame": ms(best.get("cost_ms")),
        "reference_fps": fps(reference_fps),
        "reference_timing": text(reference_timing),
    }


def query_headline(test: Mapping[str, Any], targets: Mapping[str, Any]) -> dict[str, Any]:
    """The ``query_results`` figures measured on the held-out test segment against the reference.

    ``test`` holds the engine's query result keys (fnr, fpr, speedup, speedup_e2e, cascade_fps, reference_fps,
    reference_timing, reference_call_fraction, frames_test, positive_frames, intervals); missing ones become null.
    """
    return {
        "speedup": dg.MetadataValue.text(times_text(test.get("speedup"))),
        "speedup_x": times(test.get("speedup")),
        "speedup_e2e_x": times(test.get("speedup_e2e")),
        "test_fnr_pct": pct(test.get("fnr")),
        "test_fpr_pct": pct(test.get("fpr")),
        "targets": targets_text(targets),
        "cascade_fps": fps(test.get("cascade_fps")),
        "reference_fps": fps(test.get("reference_fps")),
        "reference_timing": text(test.get("reference_timing")),
        "reference_calls_pct": pct(test.get("reference_call_fraction")),
        "test_frames": count(test.get("frames_test")),
        "positive_frames": count(test.get("positive_frames")),
        "n_intervals": count(len(test.get("intervals") or [])),
    }
