"""``noscope compare``: the registered cascades of every camera, version by version, from the MLflow registry.

Speed-up, FNR, FPR and the reference-call fraction are the test-segment measurements of the version's training
run (its ``query test`` child run, ``mlflow_cascade.log_query``) when they exist, else the optimizer's
threshold-segment estimates kept as version tags; the ``on`` column says which. Figures are written in the
project's one unit convention (``noscope_core.present.units``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from noscope_core.common.errors import ArtifactError
from noscope_core.present import units
from pipelines.champion import CHAMPION, MODEL_PREFIX
from pipelines.mlflow_client import sqlite_path
from pipelines.tracking import MlflowTracker


@dataclass(frozen=True)
class VersionRecord:
    """One registered version as read from the registry: its tags, aliases and its run's metrics."""

    model_name: str
    version: int
    created_ms: int
    aliases: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    run_metrics: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ComparisonRow:
    camera: str
    version: int
    champion: bool
    speedup: float | None
    fnr: float | None
    fpr: float | None
    reference_call_fraction: float | None
    measured_on: str  # "test" (measured by running the cascade) or "threshold" (optimizer's estimate)
    registered: str  # UTC date and time of the version
    cascade: str


def comparison_rows(records: Sequence[VersionRecord]) -> list[ComparisonRow]:
    """Table rows, by camera then version; test-segment numbers win over threshold-segment estimates."""
    rows = []
    for r in records:
        m, t = r.run_metrics, r.tags
        tested = "test_fnr_pct" in m or "test_speedup_x" in m
        if tested:
            numbers = (
                m.get("test_speedup_x"),
                _rate(m.get("test_fnr_pct")),
                _rate(m.get("test_fpr_pct")),
                _rate(m.get("test_reference_calls_pct")),
            )
        else:
            ref_ms, cost_ms = _float(t.get("reference_ms")), _float(t.get("expected_cost_ms"))
            numbers = (
                ref_ms / cost_ms if ref_ms and cost_ms else None,
                _float(t.get("threshold_fnr")),
                _float(t.get("threshold_fpr")),
                _float(t.get("stage.reference_share")),
            )
        rows.append(
            ComparisonRow(
                camera=t.get("camera") or r.model_name.removeprefix(MODEL_PREFIX),
                version=r.version,
                champion=CHAMPION in r.aliases,
                speedup=numbers[0],
                fnr=numbers[1],
                fpr=numbers[2],
                reference_call_fraction=numbers[3],
                measured_on="test" if tested else "threshold",
                registered=dt.datetime.fromtimestamp(r.created_ms / 1000, tz=dt.timezone.utc).strftime(
                    "%Y-%m-%d %H:%M"
                ),
                cascade=t.get("cascade", ""),
            )
        )
    return sorted(rows, key=lambda row: (row.camera, row.version))


def format_table(rows: Sequence[ComparisonRow], cascade_width: int = 70) -> str:
    """Fixed-width text table; the champion of each camera is marked with ``*``."""
    header = ("camera", "version", "champion", "speed-up", "FNR", "FPR", "ref calls", "on", "registered (UTC)")
    body = [
        (
            r.camera,
            str(r.version),
            "*" if r.champion else "",
            "" if r.speedup is None else units.times(r.speedup),
            _pct(r.fnr),
            _pct(r.fpr),
            _pct(r.reference_call_fraction),
            r.measured_on,
            r.registered,
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
    right = {1, 3, 4, 5, 6}

    def line(cells: Sequence[str]) -> str:
        return (
            "  ".join(
                c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            + "  "
        )

    out = [line(header) + "cascade", line(["-" * w for w in widths]) + "-" * 7]
    for r, b in zip(rows, body, strict=True):
        text = r.cascade if len(r.cascade) <= cascade_width else r.cascade[: cascade_width - 1] + "…"
        out.append(line(b) + text)
    return "\n".join(line.rstrip() for line in out)


def read_versions(client, prefix: str = MODEL_PREFIX) -> list[VersionRecord]:
    """Every version of every registered model named ``<prefix><camera>``, with its run's metrics."""
    from mlflow.exceptions import MlflowException

    records = []
    for rm in client.search_registered_models(filter_string=f"name LIKE '{prefix}%'"):
        aliases_of: dict[str, list[str]] = {}
        for alias, version in (rm.aliases or {}).items():
            aliases_of.setdefault(str(version), []).append(alias)
        for mv in client.search_model_versions(f"name = '{rm.name}'"):
            metrics: dict[str, float] = {}
            if mv.run_id:
                try:
                    metrics = dict(client.get_run(mv.run_id).data.metrics)
                    metrics.update(_test_child_metrics(client, mv.run_id))
                except MlflowException:  # the run was deleted: fall back to the version's tags
                    metrics = {}
            records.append(
                VersionRecord(
                    model_name=rm.name,
                    version=int(mv.version),
                    created_ms=int(mv.creation_timestamp or 0),
                    aliases=tuple(aliases_of.get(str(mv.version), ())),
                    tags=dict(mv.tags or {}),
                    run_metrics=dict(metrics),
                )
            )
    return records


def print_comparison(tracking_uri: str | None = None) -> int:
    """Print the comparison table of the registered cascades; 0 on success."""
    tracker = MlflowTracker(tracking_uri=tracking_uri)
    uri = tracker.uri(create_dirs=False)
    db = sqlite_path(uri)
    if db is not None and not db.is_file():
        # opening a missing SQLite store would create (and migrate) an empty one
        raise ArtifactError(f"no MLflow store at {db}", "train a camera first: `noscope demo` or `make demo`")
    rows = comparison_rows(read_versions(tracker.client()))
    if not rows:
        raise ArtifactError(f"no registered cascades in {uri}", "train a camera first: `noscope demo` or `make demo`")
    print(f"registered cascades in {uri}\n")
    print(format_table(rows))
    print("\n* = champion (the version `models:/noscope-cascade-<camera>@champion` loads).")
    print("on = test: measured on the test segment; threshold: the optimizer's estimate on the threshold segment.")
    return 0


def _test_child_metrics(client, run_id: str) -> dict[str, float]:
    """The test query's child run's figures, ``test_``-prefixed (the parent keeps only the headline)."""
    exp = client.get_run(run_id).info.experiment_id
    flt = f"tags.mlflow.parentRunId = '{run_id}' and tags.kind = 'query' and tags.component = 'test'"
    runs = client.search_runs([exp], flt, max_results=1, order_by=["attributes.start_time DESC"])
    return {f"test_{k}": v for k, v in runs[0].data.metrics.items()} if runs else {}


def _rate(pct: float | None) -> float | None:
    return None if pct is None else pct / 100.0


def _float(v: str | None) -> float | None:
    try:
        return float(v) if v not in (None, "") else None
    except ValueError:
        return None


def _pct(v: float | None) -> str:
    return "" if v is None else units.pct(v)
