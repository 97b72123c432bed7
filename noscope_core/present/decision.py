"""The optimizer's decision in one line: which cascade was chosen, or that it fell back to the reference, and why.

The same line heads the ``optimized_cascade`` and ``query_results`` asset pages, the Dagster run's tags, the
MLflow run's description and the CLI, so a person reads the decision before any figure. Input: a cascade.json
dict (``CascadeArtifact.to_dict()``) and, after the query, its ``QueryResult.to_dict()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from noscope_core.present import units
from noscope_core.present.frontier import short_name


def decision_line(info: Mapping[str, Any], test: Mapping[str, Any] | None = None) -> str:
    """``Chose skip 5 → DD blocked → cnn-a: expected 3.4× faster …`` or ``Fell back to the reference …: reason``."""
    best, targets = info["best"], info["targets"]
    if info.get("fell_back"):
        line = (
            f"Fell back to the reference on every frame: {info.get('reason') or 'no cheaper cascade met the targets'}"
        )
    else:
        ref_ms = (info.get("costs") or {}).get("reference_ms")
        line = (
            f"Chose {short_name(best)}: expected {units.times(best.get('speedup'))} faster "
            f"({units.ms(best.get('cost_ms'))}/frame vs the reference's {units.ms(ref_ms)}), threshold-segment "
            f"FNR {units.pct(best.get('fnr'))} / FPR {units.pct(best.get('fpr'))} within the targets "
            f"{units.pct(targets.get('max_fnr'))} / {units.pct(targets.get('max_fpr'))}"
        )
        if best.get("fnr_bound") is not None and best.get("fpr_bound") is not None:
            level = f" at {units.pct(targets.get('confidence'), 0)}" if targets.get("confidence") else ""
            line += f", estimates{level} {units.pct(best['fnr_bound'])} / {units.pct(best['fpr_bound'])}"
        if best.get("expected_speedup_certified") is not None:
            frames = best.get("footage_frames") or info.get("footage_frames")
            over = f" for {int(frames):,} frames" if frames else ""
            line += (
                f", {units.times(best['expected_speedup_certified'])} once certified{over} "
                f"(the lowest expected certified cost, {units.ms(best.get('expected_certified_cost_ms'))}/frame)"
            )
    if test:
        line += (
            f"; test segment: {units.times(test.get('speedup'))}, FNR {units.pct(test.get('fnr'))} / "
            f"FPR {units.pct(test.get('fpr'))}"
        )
        if test.get("certified") is not None:
            line += ", certified" if test.get("certified") else ", NOT certified"
    return line
