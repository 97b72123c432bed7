"""The training run's figures: a handful of headline metrics, the decision as the run's description, and the
details where MLflow keeps details (tags as rounded text, child runs per answered query, JSON artifacts).

MLflow's compare page lists a run's metrics in a short box and its parallel-coordinates plot picks from them,
so the parent run keeps only ``mlflow_text.HEADLINE_METRICS``, each rounded and named with its unit (``_pct``, ``_x``,
``_fps``, ``_ms``). Stage costs live in the ``variant`` / ``difference`` child runs, each query's full figures in
a ``query`` child run, the optimizer's figures as ``optimizer.*`` tags and in ``cascade.json``.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from noscope_core.present import units
from noscope_core.present.decision import decision_line
from pipelines.mlflow_client import finish_run, is_finite, log_batch, now_ms, tag_values
from pipelines.mlflow_runs import fresh_child, log_params
from pipelines.mlflow_text import RUN_DESCRIPTION_TAG, CascadeFigures, run_description

if TYPE_CHECKING:  # the engine's artifact types load torch: imported where a cascade is actually read
    from noscope_core.optimizer.cascade_artifact import CascadeArtifact

#: the parent run's only metrics, in the order a person asks for them: what the optimizer expects, then what the
#: test segment measured and certified; one reference speed (the labelling's measurement) for the run
#: the tag that holds the one-line decision (also the first line of the run's description)
DECISION_TAG = "decision"


def log_cascade(
    client,
    parent_run_id: str,
    artifact: CascadeArtifact,
    frontier_png: Path | None,
    reference_timing: str | None = None,
) -> None:
    """The choice: two headline metrics, the decision (tag and description), the optimizer's figures as rounded
    ``optimizer.*`` tags, the cascade as ``cascade.*`` tags, cascade.json and the frontier (JSON, markdown, PNG).

    The choice goes into metrics and tags (not params, which MLflow never lets change), so re-optimizing under the
    same parent run overwrites it instead of failing."""
    from mlflow.entities import Metric, RunTag

    from noscope_core.present import frontier as report

    art, info = artifact, artifact.to_dict()
    best, targets, ref_ms = art.best, art.targets, art.costs.reference_ms
    frontier = [c.to_dict() for c in art.frontier]
    config = best.config.to_dict()
    reference_fps = 1000.0 / ref_ms if ref_ms > 0 else None
    values = {"expected_speedup_x": units.times_value(best.speedup), "reference_fps": units.fps_value(reference_fps)}
    tags = {
        DECISION_TAG: decision_line(info),
        "cascade": report.short_name(best.to_dict()),
        "cascade.describe": best.describe(),
        "cascade.config": json.dumps(config, sort_keys=True),
        **{f"cascade.{k}": "" if v is None else v for k, v in config.items() if k != "view"},
        "fell_back": str(art.fell_back).lower(),
        "fallback_reason": art.reason or "",
        "reference": art.reference_name,
        "reference_identity": art.reference_identity,
        "reference_speed": reference_speed(reference_fps, reference_timing or "timed when labelling"),
        "skips": ",".join(str(s) for s in art.skips),
        **optimizer_tags(info),
    }
    now = now_ms()
    log_batch(
        client,
        parent_run_id,
        metrics=[Metric(k, float(v), now, 0) for k, v in values.items() if is_finite(v)],
        tags=[RunTag(k, v) for k, v in tag_values(tags).items()],
    )
    log_params(client, parent_run_id, {"targets.max_fnr": targets.max_fnr, "targets.max_fpr": targets.max_fpr}, True)
    camera_id = client.get_run(parent_run_id).data.tags.get("camera", "")
    client.set_tag(parent_run_id, RUN_DESCRIPTION_TAG, run_description(CascadeFigures.from_cascade(camera_id, info)))
    client.log_dict(parent_run_id, info, "cascade.json")
    if frontier:
        client.log_dict(parent_run_id, {"frontier": frontier}, "frontier/frontier.json")
        client.log_text(
            parent_run_id,
            report.frontier_table_md(
                frontier,
                limit=len(frontier),
                chosen=best.to_dict(),
                details=True,
                max_fnr=targets.max_fnr,
                max_fpr=targets.max_fpr,
            ),
            "frontier/frontier.md",
        )
        if frontier_png is not None and Path(frontier_png).is_file():
            client.log_artifact(parent_run_id, str(frontier_png), "frontier")
        else:
            with tempfile.TemporaryDirectory() as tmp:
                png = report.frontier_plot(
                    frontier, Path(tmp) / "frontier.png", reference_fps, best.to_dict(),
                    max_fnr=targets.max_fnr, max_fpr=targets.max_fpr,
                )  # fmt: skip
                client.log_artifact(parent_run_id, str(png), "frontier")


def optimizer_tags(info: dict[str, Any]) -> dict[str, str]:
    """The optimizer's figures of the chosen cascade as rounded text with units (tags, not metrics: they are
    details, and the compare page's metric box has room for the headline only)."""
    best, targets = info["best"], info["targets"]
    tags = {
        "optimizer.threshold_fnr": units.pct(best.get("fnr")),
        "optimizer.threshold_fpr": units.pct(best.get("fpr")),
        "optimizer.fnr_bound": units.pct(best.get("fnr_bound")),
        "optimizer.fpr_bound": units.pct(best.get("fpr_bound")),
        "optimizer.expected_cost": units.ms(best.get("cost_ms")),
        "optimizer.reference_calls": units.pct(best.get("reference_fraction")),
        "optimizer.confidence": units.pct(targets.get("confidence"), 0),
        "optimizer.candidates_scored": str(info.get("n_evaluated", "")),
        "optimizer.frontier_size": str(len(info.get("frontier") or [])),
        "optimizer.seconds": units.seconds(info.get("optimize_seconds")),
        "target.max_fnr": units.pct(targets.get("max_fnr")),
        "target.max_fpr": units.pct(targets.get("max_fpr")),
    }
    return {k: v for k, v in tags.items() if v != units.NA}


#: a query's figures in the query's child run, each rounded and named with its unit
def reference_speed(fps: float | None, how: str | None) -> str:
    """The reference's speed and how it was measured, as the tag ``reference_speed`` reads:
    ``10.9 frames/s (91.95 ms/frame), averaged over the 600 frames detected while labelling, …``."""
    cost = f" ({units.ms(1000.0 / fps)}/frame)" if fps else ""
    return f"{units.fps(fps)}{cost}" + (f", {how}" if how else "")


def query_metrics(result: dict[str, Any]) -> dict[str, float | None]:
    intervals = result.get("intervals")
    certified = result.get("certified")
    return {
        "fnr_pct": units.pct_value(result.get("fnr")),
        "fpr_pct": units.pct_value(result.get("fpr")),
        "speedup_x": units.times_value(result.get("speedup")),
        "speedup_e2e_x": units.times_value(result.get("speedup_e2e")),
        "reference_calls_pct": units.pct_value(result.get("reference_call_fraction")),
        "cascade_fps": units.fps_value(result.get("cascade_fps")),
        "cascade_e2e_fps": units.fps_value(result.get("cascade_fps_e2e")),
        "reference_fps": units.fps_value(result.get("reference_fps")),
        "frames": result.get("frames_test"),
        "positive_frames": result.get("positive_frames"),
        "intervals": None if intervals is None else len(intervals),
        "threshold_fnr_bound_pct": units.pct_value(result.get("threshold_fnr_bound")),
        "threshold_fpr_bound_pct": units.pct_value(result.get("threshold_fpr_bound")),
        "certified_fnr_pct": units.pct_value(result.get("fnr_bound")),
        "certified_fpr_pct": units.pct_value(result.get("fpr_bound")),
        "certified": None if certified is None else float(bool(certified)),
        "certify_frames": result.get("certify_frames"),
    }


def log_query(client, parent_run_id: str, result: dict, name: str = "test") -> None:
    """One answered query (``QueryResult.to_dict()``): every figure in a ``query <name>`` child run (a re-run
    replaces it) with the result as JSON, and the reference speed its speed-ups divide by, with how it was taken
    (tag ``reference_speed``); the test segment's headline figures on the parent run too."""
    from mlflow.entities import Metric, RunTag

    metrics = query_metrics(result)
    now = now_ms()
    child = fresh_child(client, parent_run_id, "query", name)
    speed = reference_speed(result.get("reference_fps"), result.get("reference_timing"))
    log_batch(
        client,
        child,
        metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items() if is_finite(v)],
        tags=[RunTag("reference_speed", speed)],
    )
    slim = {k: v for k, v in result.items() if k != "frontier"}
    client.log_dict(child, slim, f"{artifact_name(name)}.json")
    finish_run(client, child)
    if name == "test":
        headline = {
            "test_speedup_x": metrics["speedup_x"],
            "test_fnr_pct": metrics["fnr_pct"],
            "test_fpr_pct": metrics["fpr_pct"],
            "certified_fnr_pct": metrics["certified_fnr_pct"],
            "certified_fpr_pct": metrics["certified_fpr_pct"],
        }
        log_batch(
            client, parent_run_id, metrics=[Metric(k, float(v), now, 0) for k, v in headline.items() if is_finite(v)]
        )
        client.log_dict(parent_run_id, slim, "query/test.json")


def artifact_name(name: str) -> str:
    """``name`` restricted to the characters MLflow artifact names accept (a footage file name may hold any)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:64]
