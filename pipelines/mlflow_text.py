"""What MLflow shows a person: the experiment's view, run and registry-version descriptions, UI links.

Pure functions from figures to text; the tracker sets them (run tag ``mlflow.note.content`` is the run's
description in the UI, a model version's ``description`` its page text).

The MLflow 3 UI opens an experiment in its GenAI view unless told otherwise. MLflow's own setting is the
experiment tag ``mlflow.experimentKind`` (``custom_model_development`` for classic training), which the tracker
sets; but the 3.17 UI picks the view from the ``workflowType`` URL parameter, else the browser's remembered
choice (local storage ``mlflow.workflowType``, default ``genai``), and reads the tag only where that switch is
off (mlflow/mlflow#24498). So every link here also carries ``?workflowType=machine_learning``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from noscope_core.present import units

#: the experiment tag MLflow's UI reads for the experiment's kind, and the kind of a classic training experiment
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
CLASSIC_KIND = "custom_model_development"
#: run tag shown as the run's description
RUN_DESCRIPTION_TAG = "mlflow.note.content"
_CLASSIC_VIEW = "workflowType=machine_learning"


#: the few metrics a training run keeps (the rest are child runs, tags, artifacts): the compare page shows them
#: first, and the runs table's headline view makes them its columns
HEADLINE_METRICS = (
    "expected_speedup_x",
    "test_speedup_x",
    "test_fnr_pct",
    "test_fpr_pct",
    "certified_fnr_pct",
    "certified_fpr_pct",
    "reference_fps",
)
#: MLflow's shared view of the runs table: an experiment tag ``mlflow.sharedViewState.<key>`` holding the view's
#: state (its columns), loaded by the runs page whose URL carries ``viewStateShareKey=<key>`` (what the page's
#: "Share" button writes; MLflow 3.17 ``useSharedExperimentViewState``). MLflow keeps no default columns per
#: experiment on the server (mlflow/mlflow#4713, #12764), so the links this project prints carry the key.
SHARED_VIEW_TAG_PREFIX = "mlflow.sharedViewState."
HEADLINE_VIEW_KEY = "noscope-headline"


def headline_view_state() -> str:
    """The runs table's headline view: the decision and each headline metric as a column (MLflow's column keys:
    ``tags.`decision``` / ``metrics.`name```)."""
    columns = ["tags.`decision`", *(f"metrics.`{m}`" for m in HEADLINE_METRICS)]
    return json.dumps({"selectedColumns": columns}, separators=(",", ":"))


def classic_view_tags() -> dict[str, str]:
    """Experiment tags that make the UI open the experiment on its training-runs view, not the GenAI one, and
    the shared view whose runs table shows the headline metrics as columns."""
    return {EXPERIMENT_KIND_TAG: CLASSIC_KIND, SHARED_VIEW_TAG_PREFIX + HEADLINE_VIEW_KEY: headline_view_state()}


def experiment_url(ui: str, experiment_id: str) -> str:
    """The experiment's runs table in the classic (machine learning) view, with the headline metrics as columns."""
    return f"{ui.rstrip('/')}/#/experiments/{experiment_id}/runs?viewStateShareKey={HEADLINE_VIEW_KEY}&{_CLASSIC_VIEW}"


def run_url(ui: str, experiment_id: str, run_id: str) -> str:
    return f"{ui.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}?{_CLASSIC_VIEW}"


def compare_url(ui: str, run_ids: Sequence[str], experiment_ids: Sequence[str]) -> str:
    """MLflow's compare page for ``run_ids`` (what "tick runs → Compare" opens), in the classic view; compact JSON,
    so a terminal keeps the link in one piece."""
    compact = {"separators": (",", ":")}
    runs = json.dumps(list(run_ids), **compact)
    exps = json.dumps(list(dict.fromkeys(experiment_ids)), **compact)
    return f"{ui.rstrip('/')}/#/compare-runs?runs={runs}&experiments={exps}&{_CLASSIC_VIEW}"


@dataclass(frozen=True)
class CascadeFigures:
    """A cascade's headline figures: chosen on the threshold segment, measured on the test segment (None until
    queried) and certified as upper bounds (None unless the optimizer certified them)."""

    camera_id: str
    cascade: str
    max_fnr: float
    max_fpr: float
    threshold_fnr: float
    threshold_fpr: float
    expected_speedup: float
    expected_cost_ms: float
    reference_ms: float | None = None
    test_fnr: float | None = None
    test_fpr: float | None = None
    test_speedup: float | None = None
    certified_fnr: float | None = None
    certified_fpr: float | None = None
    confidence: float | None = None
    fell_back: bool = False
    reason: str | None = None

    @classmethod
    def from_cascade(
        cls, camera_id: str, info: Mapping[str, Any], test: Mapping[str, Any] | None = None
    ) -> CascadeFigures:
        """From a cascade.json dict (``best``, ``targets``, ``costs``) and optionally the test query's result
        (``fnr``, ``fpr``, ``speedup``; ``certified_fnr`` / ``certified_fpr`` when the result carries bounds)."""
        best, targets, test = info["best"], info["targets"], test or {}
        return cls(
            camera_id=camera_id,
            cascade=str(best.get("describe", "")),
            max_fnr=float(targets["max_fnr"]),
            max_fpr=float(targets["max_fpr"]),
            threshold_fnr=float(best["fnr"]),
            threshold_fpr=float(best["fpr"]),
            expected_speedup=float(best["speedup"]),
            expected_cost_ms=float(best["cost_ms"]),
            reference_ms=_opt((info.get("costs") or {}).get("reference_ms")),
            test_fnr=_opt(test.get("fnr")),
            test_fpr=_opt(test.get("fpr")),
            test_speedup=_opt(test.get("speedup")),
            certified_fnr=_first(test, best, ("certified_fnr", "fnr_bound")),
            certified_fpr=_first(test, best, ("certified_fpr", "fpr_bound")),
            confidence=_opt(targets.get("confidence")),
            fell_back=bool(info.get("fell_back")),
            reason=info.get("reason"),
        )

    def meets_on_test(self) -> bool | None:
        """Whether the measured test error is within the targets; None before the test query."""
        if self.test_fnr is None or self.test_fpr is None:
            return None
        return self.test_fnr <= self.max_fnr + 1e-12 and self.test_fpr <= self.max_fpr + 1e-12


def run_description(f: CascadeFigures, decision: str | None = None) -> str:
    """Markdown for the training run's description: the decision first (one line), then speed, the error
    figures as a list (MLflow's renderer draws tables without column spacing), the cascade and the verdict."""
    lines = [f"**{decision}**", ""] if decision else []
    lines += [f"**Camera `{f.camera_id}`**: {_speed_sentence(f)}", "", f"Cascade: {f.cascade}", "", *_error_list(f)]
    if f.fell_back and not decision:
        lines.append(f"\nFell back to the reference on every frame: {f.reason or 'no cheaper cascade met the targets'}")
    verdict = f.meets_on_test()
    if verdict is not None:
        lines.append(
            "\nMeets the targets on the test segment."
            if verdict
            else f"\n**Misses the targets on the test segment** "
            f"(FNR {units.pct(f.test_fnr)}, FPR {units.pct(f.test_fpr)} vs {units.pct(f.max_fnr)} / "
            f"{units.pct(f.max_fpr)})."
        )
    return "\n".join(lines) + "\n"


def version_description(f: CascadeFigures, moved: bool | None, reason: str, champion_version: int | None = None) -> str:
    """Markdown for a registered cascade version: the figures and why it did or did not become champion
    (``moved`` None: the decision is still pending)."""
    if moved is None:
        decision = f"**Champion decision pending**: {reason}."
    elif moved:
        decision = f"**Became champion**: {reason}."
    else:
        kept = f" (v{champion_version} stays champion)" if champion_version is not None else ""
        decision = f"**Not champion**{kept}: {reason}."
    return "\n".join([decision, "", run_description(f).rstrip("\n")]) + "\n"


def _speed_sentence(f: CascadeFigures) -> str:
    cost = f"{units.ms(f.expected_cost_ms)}/frame"
    if f.reference_ms:
        cost += f" vs the reference's {units.ms(f.reference_ms)}"
    text = f"expected {units.times(f.expected_speedup)} faster than the reference ({cost})"
    if f.test_speedup is not None:
        text += f", measured {units.times(f.test_speedup)} on the test segment"
    return text + "."


def _error_list(f: CascadeFigures) -> list[str]:
    rows = [
        ("target (at most)", f.max_fnr, f.max_fpr),
        ("threshold segment (chosen on)", f.threshold_fnr, f.threshold_fpr),
    ]
    if f.test_fnr is not None or f.test_fpr is not None:
        rows.append(("test segment (measured, footage not used to choose)", f.test_fnr, f.test_fpr))
    if f.certified_fnr is not None or f.certified_fpr is not None:
        level = f" at {units.pct(f.confidence, 0)} confidence" if f.confidence else ""
        rows.append((f"certified upper bound{level}", f.certified_fnr, f.certified_fpr))
    return [f"- {name}: FNR {units.pct(a)}, FPR {units.pct(b)}" for name, a, b in rows]


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)


def _first(test: Mapping[str, Any], best: Mapping[str, Any], keys: Sequence[str]) -> float | None:
    """The first figure present under ``keys``, the test result's before the chosen candidate's (a bound measured
    on the test segment outranks the one the optimizer searched with)."""
    for source in (test, best):
        for key in keys:
            if source.get(key) is not None:
                return float(source[key])
    return None
