"""Human-readable views of the optimizer's frontier: a speed-up-vs-error plot and a markdown table.

Both take the candidate dicts of ``optimizer.Candidate.to_dict`` (keys ``config``, ``fnr``, ``fpr``, ``cost_ms``,
``reference_fraction``, ``speedup``, ``describe``), so they work on a fresh optimization or on a cascade.json
read back from disk.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from noscope_core.common.atomic import atomic_path
from noscope_core.common.errors import ArtifactError
from noscope_core.present import units

_REQUIRED = ("fnr", "fpr", "speedup")

#: intervals a one-line preview shows before " ..."
PREVIEW_INTERVALS = 8


def preview_intervals(intervals: Sequence[Sequence[int]], limit: int = PREVIEW_INTERVALS) -> str:
    """The first ``limit`` positive intervals as ``[start,end)``, then `` ...`` when there are more."""
    shown = ", ".join(f"[{a},{b})" for a, b in list(intervals)[:limit])
    return shown + (" ..." if len(intervals) > limit else "")


def short_name(c: dict) -> str:
    """A cascade's stages in a few words (``skip 5 → DD blocked-previous → cnn-a → reference``); the thresholds
    and the keyframe plan are in its ``describe`` (the details a table shows on demand)."""
    config = c.get("config") or {}
    if not config:
        return _shorten(str(c.get("describe", "")), 48)
    parts = [f"skip {config['skip']}"] if int(config.get("skip", 1)) > 1 else []
    if config.get("dd_name"):
        parts.append(f"DD {config['dd_name']}")
    if config.get("model_name"):
        parts.append(str(config["model_name"]))
    if not config.get("model_name") or float(config.get("c_low", 0.0)) < float(config.get("c_high", 1.0)):
        parts.append("reference" if parts else "reference on every frame")
    if c.get("keyframe_plan"):
        parts.append("keyframes first")
    return " → ".join(parts)


def candidate_error(c: dict) -> float:
    """The worse of a candidate's two error rates: the quantity the frontier trades against speed."""
    return max(float(c["fnr"]), float(c["fpr"]))


def pareto_front(frontier: Sequence[dict]) -> list[dict]:
    """Candidates no other candidate beats on both error (lower) and speed-up (higher), by increasing error."""
    ordered = sorted(frontier, key=lambda c: (candidate_error(c), -float(c["speedup"])))
    front: list[dict] = []
    best_speedup = float("-inf")
    for c in ordered:
        if float(c["speedup"]) > best_speedup:
            front.append(c)
            best_speedup = float(c["speedup"])
    return front


def frontier_plot(
    frontier: list[dict],
    path: str | Path,
    reference_fps: float | None = None,
    chosen: dict | None = None,
    *,
    max_fnr: float | None = None,
    max_fpr: float | None = None,
) -> Path:
    """Plot every candidate's speed-up over the reference (log scale) against its error max(FNR, FPR).

    The error axis is linear from 0 (so error-free candidates show) to :func:`error_axis_limit`; candidates
    beyond it are counted in a note instead of stretching both axes. Candidates that meet the targets are
    filled, the rest hollow; the Pareto front is a step line, the reference (1×) a dashed line, the targets
    vertical lines and the chosen cascade a labelled star. The legend sits below the axes, inside the figure.
    Written atomically as PNG.
    """
    _check(frontier)
    if chosen is not None:
        _check([chosen])
    import matplotlib

    matplotlib.use("Agg")  # headless: pipelines and tests have no display
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    path = Path(path)
    x_max = error_axis_limit(max_fnr, max_fpr)
    certified_rule = priced_for_certification(frontier, chosen)
    error = threshold_error if certified_rule else judged_error
    estimated = not certified_rule and any(c.get("fnr_bound") is not None for c in frontier)
    shown = [c for c in frontier if 100 * error(c) <= x_max]
    hidden = [c for c in frontier if 100 * error(c) > x_max]

    def xy(cs: Sequence[dict]) -> tuple[list[float], list[float]]:
        return [100 * error(c) for c in cs], [_floor_speedup(c) for c in cs]

    def ok(c: dict) -> bool:
        return _within(_rates(c) if certified_rule else _judged(c), max_fnr, max_fpr)

    fig, ax = plt.subplots(figsize=(7.2, 5.0), dpi=100, layout="constrained")
    try:
        meets = [c for c in shown if ok(c)]
        misses = [c for c in shown if not ok(c)]
        judged = "estimates" if estimated else "threshold-segment error"
        if meets:
            ax.scatter(*xy(meets), s=26, color="tab:blue", zorder=3, label=f"candidate, {judged} within the targets")
        if misses:
            ax.scatter(*xy(misses), s=26, facecolors="none", edgecolors="tab:blue", zorder=3,
                       label=f"candidate ruled out: {judged} over a target")  # fmt: skip
        certified = [c for c in shown if c.get("expected_speedup_certified") is not None]
        if certified:
            xs = [100 * error(c) for c in certified]
            lows = [max(float(c["expected_speedup_certified"]), 1e-3) for c in certified]
            ax.vlines(xs, lows, [_floor_speedup(c) for c in certified], color="tab:purple", alpha=0.35, linewidth=1)
            ax.scatter(xs, lows, marker="x", s=28, color="tab:purple", zorder=3,
                       label="the same, once its certificate is paid")  # fmt: skip
        front = _front(frontier, x_max, error)
        if len(front) > 1:
            ax.step(*xy(front), where="post", color="tab:blue", alpha=0.5, linewidth=1.2, label="Pareto front")
        ax.axhline(1.0, color="dimgrey", linestyle="--", linewidth=1.0, label="reference on every frame (1×)")
        for value, name, style in _target_lines(max_fnr, max_fpr):
            ax.axvline(100 * value, color="tab:orange", linestyle=style, linewidth=1.4, label=name)
        if chosen is not None:
            cx, cy = 100 * error(chosen), _floor_speedup(chosen)
            fallback = (
                not (chosen.get("config") or {}).get("model_name")
                and not (chosen.get("config") or {}).get("dd_name")
                and int((chosen.get("config") or {}).get("skip", 1)) == 1
            )
            ax.scatter([min(cx, x_max)], [cy], marker="*", s=320, color="tab:red", edgecolors="black", zorder=5,
                       label="fallback: the reference" if fallback else "chosen cascade")  # fmt: skip
            right = cx > 0.45 * x_max  # keep the label inside the axes
            head = "fell back to the reference on every frame" if fallback else f"chosen: {short_name(chosen)}"
            lines = [head, f"{_speedup_text(float(chosen['speedup']))}, threshold FNR {100 * float(chosen['fnr']):.2f} %, "
                     f"FPR {100 * float(chosen['fpr']):.2f} %"]  # fmt: skip
            if chosen.get("fnr_bound") is not None and chosen.get("fpr_bound") is not None:
                lines.append(
                    f"estimates FNR {100 * float(chosen['fnr_bound']):.2f} %, FPR {100 * float(chosen['fpr_bound']):.2f} %"
                )
            if chosen.get("expected_speedup_certified") is not None:
                lines.append(f"once certified: {_speedup_text(float(chosen['expected_speedup_certified']))}")
            ax.annotate(
                "\n".join(lines),
                (min(cx, x_max), cy),
                xytext=(-30 if right else 30, 40),
                ha="right" if right else "left",
                multialignment="left",
                textcoords="offset points",
                fontsize=8,
                bbox={"boxstyle": "round", "fc": "white", "ec": "tab:red", "alpha": 0.9},
                arrowprops={"arrowstyle": "->", "color": "tab:red"},
                zorder=6,
            )
        ax.set_yscale("log")
        ys = [_floor_speedup(c) for c in shown + ([chosen] if chosen else [])] + [1.0]
        ys += [max(float(c["expected_speedup_certified"]), 1e-3) for c in certified]
        ax.set_ylim(min(ys) / 1.6, max(ys) * 2.5)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _speedup_text(v)))
        ax.set_xlim(-0.02 * x_max, x_max)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g} %"))
        ax.set_xlabel(
            "error on the threshold segment, max(FNR, FPR): the planner's estimate"
            if certified_rule
            else "error judged on the threshold segment (an estimate): max(FNR, FPR)"
        )
        ref = f" ({reference_fps:.1f} frames/s)" if reference_fps else ""
        ax.set_ylabel(f"speed-up over the reference{ref}")
        title = f"Cascade frontier: {len(frontier)} candidates"
        if hidden:
            top = max(float(c["speedup"]) for c in hidden)
            title += f"\n({len(hidden)} with error > {x_max:g} % are off the chart, up to {_speedup_text(top)})"
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        ax.grid(True, which="minor", axis="y", alpha=0.1)
        fig.legend(loc="outside lower center", ncol=2, fontsize=8, frameon=False)
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return path


def judged_error(c: dict) -> float:
    """The error the optimizer judged a candidate by: the worse of its estimates when it carries them, else of
    its threshold-segment rates (what the plot's error axis shows, against the targets)."""
    return max(_judged(c))


def priced_for_certification(frontier: Sequence[dict], chosen: dict | None = None) -> bool:
    """Whether the candidates were priced for a certified answer (the default planner): then each is chosen by its
    expected certified cost, estimated from its threshold-segment rates, and its block-bound estimates gate nothing
    (the certificate proves the answer; they sit far off a 10 % axis), so the plot's error axis shows the rates.
    Otherwise it shows what the rule judged by (:func:`judged_error`)."""
    return any(c.get("expected_speedup_certified") is not None for c in [*frontier, *([chosen] if chosen else [])])


def threshold_error(c: dict) -> float:
    """The worse of a candidate's threshold-segment rates (what the certified planner prices it from)."""
    return max(_rates(c))


def _front(frontier: Sequence[dict], x_max: float, error=judged_error) -> list[dict]:
    ordered = sorted(frontier, key=lambda c: (error(c), -float(c["speedup"])))
    front, best = [], float("-inf")
    for c in ordered:
        if float(c["speedup"]) > best and 100 * error(c) <= x_max:
            front.append(c)
            best = float(c["speedup"])
    return front


def error_axis_limit(max_fnr: float | None, max_fpr: float | None) -> float:
    """The error axis' right end in percent: 10 %, or twice the loosest target when that is wider (max 100 %)."""
    targets = [100 * float(t) for t in (max_fnr, max_fpr) if t is not None]
    return float(min(100.0, max([10.0, *(2 * t for t in targets)])))


def frontier_table_md(
    frontier: list[dict],
    limit: int = 20,
    chosen: dict | None = None,
    details: bool = False,
    *,
    max_fnr: float | None = None,
    max_fpr: float | None = None,
) -> str:
    """A markdown table of the first ``limit`` candidates (in the given order), with a line for the rest.

    With ``chosen``, its row is marked ★ (and listed even when it lies beyond ``limit``). ``details``: each row's
    full description (thresholds, keyframe plan) follows the table, by rank.
    """
    table = frontier_table(frontier, chosen=chosen, limit=limit, max_fnr=max_fnr, max_fpr=max_fpr)
    lines = [
        "| # | cascade | FNR % | FPR % | cost ms/frame | speed-up | reference calls % | verdict |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in table.rows:
        describe = str(r["cascade"]).replace("|", "\\|")
        lines.append(
            f"| {'★ ' if r['chosen'] else ''}{r['rank']} | {describe} | {r['fnr_pct']:.2f} | {r['fpr_pct']:.2f} | "
            f"{_cell(r['cost_ms'], '.2f')} | {units.times(r['speedup'])} | {_cell(r['reference_calls_pct'], '.2f')} | {r['verdict']} |"
        )
    if table.n_left_out:
        lines.append(f"\n... and {table.n_left_out} more candidate{'s' if table.n_left_out != 1 else ''}.")
    if details:
        lines.append("\nDetails:\n")
        lines += [f"- #{r['rank']}: {r['details']}" for r in table.rows]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class TableColumn:
    """One column of :class:`FrontierTable`: ``kind`` is one of Dagster's table types (string, int, float, bool)."""

    name: str
    kind: str
    description: str


#: the frontier table's columns, in order; rates and fractions in percent, rounded for reading
FRONTIER_COLUMNS: tuple[TableColumn, ...] = (
    TableColumn("rank", "int", "position on the frontier (by increasing cost); 0: the fallback, not on it"),
    TableColumn("chosen", "bool", "the cascade the optimizer chose"),
    TableColumn("cascade", "string", "the cascade's stages, in short (thresholds: the details)"),
    TableColumn(
        "verdict",
        "string",
        "what decided: chosen, an estimate over a target, or dearer than the choice (certified: its expected cost)",
    ),
    TableColumn("fnr_pct", "float", "false-negative rate measured on the threshold segment, %"),
    TableColumn("fpr_pct", "float", "false-positive rate measured on the threshold segment, %"),
    TableColumn(
        "fnr_estimate_pct", "float", "block-bound estimate of the FNR on new footage (judged by the targets), %"
    ),
    TableColumn(
        "fpr_estimate_pct", "float", "block-bound estimate of the FPR on new footage (judged by the targets), %"
    ),
    TableColumn("speedup", "float", "estimated speed-up over the reference, the certificate's frames not charged, ×"),
    TableColumn("certified_speedup", "float", "expected speed-up once the certificate's reference frames are paid, ×"),
    TableColumn("cost_ms", "float", "estimated cost per frame (the cascade's own stages), ms"),
    TableColumn("certified_cost_ms", "float", "expected cost per answered frame, the certificate included, ms"),
    TableColumn("reference_calls_pct", "float", "frames the reference detector still sees, %"),
    TableColumn("details", "string", "the cascade in full: thresholds, keyframe plan"),
)


@dataclass(frozen=True)
class FrontierTable:
    """The frontier as plain rows (dicts keyed by :data:`FRONTIER_COLUMNS` names), the chosen row marked;
    ``n_left_out`` candidates past the limit are not in ``rows``."""

    columns: tuple[TableColumn, ...]
    rows: tuple[dict, ...]
    n_left_out: int


def frontier_table(
    frontier: list[dict],
    chosen: dict | None = None,
    limit: int = 20,
    *,
    max_fnr: float | None = None,
    max_fpr: float | None = None,
) -> FrontierTable:
    """The first ``limit`` candidates as rounded table rows, with what decided each (:func:`verdict`); the
    chosen one is marked and always included, as rank 0 when it is not on the frontier (the fallback)."""
    _check(frontier)
    limit = max(limit, 0)
    key = None if chosen is None else _identity(chosen)
    picked = [(i, c) for i, c in enumerate(frontier, start=1) if i <= limit]
    if key is not None and not any(_identity(c) == key for _, c in picked):
        picked += [(i, c) for i, c in enumerate(frontier, start=1) if _identity(c) == key][:1]
    n_from_frontier = len(picked)
    if chosen is not None and not any(_identity(c) == key for _, c in picked):
        picked.insert(0, (0, chosen))
    certified_rule = priced_for_certification(frontier, chosen)
    rows = tuple(
        {
            "rank": i,
            "chosen": key is not None and _identity(c) == key,
            "cascade": short_name(c),
            "verdict": verdict(c, chosen, max_fnr, max_fpr, certified_rule=certified_rule),
            "fnr_pct": round(100 * float(c["fnr"]), 2),
            "fpr_pct": round(100 * float(c["fpr"]), 2),
            "fnr_estimate_pct": units.pct_value(c.get("fnr_bound")),
            "fpr_estimate_pct": units.pct_value(c.get("fpr_bound")),
            "speedup": units.times_value(float(c["speedup"])),
            "certified_speedup": units.times_value(c.get("expected_speedup_certified")),
            "cost_ms": units.ms_value(c.get("cost_ms")),
            "certified_cost_ms": units.ms_value(c.get("expected_certified_cost_ms")),
            "reference_calls_pct": None
            if c.get("reference_fraction") is None
            else round(100 * float(c["reference_fraction"]), 2),
            "details": str(c.get("describe", "")),
        }
        for i, c in picked
    )
    return FrontierTable(FRONTIER_COLUMNS, rows, len(frontier) - n_from_frontier)


def _identity(c: dict) -> str:
    """What tells two candidate dicts apart: config, description and figures (equal for a dict read back)."""
    fields = (c.get("config"), c.get("describe"), *(round(float(c[k]), 12) for k in _REQUIRED))
    return json.dumps(fields, sort_keys=True, default=str)


def _cell(value: float | None, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def meets_targets(c: dict, max_fnr: float | None, max_fpr: float | None) -> bool:
    """Whether the candidate passes the targets the way the optimizer judged it: by its block-bound estimates
    when it carries them (the bound and certified rules), else by its threshold-segment rates (NoScope's rule)."""
    return _within(_judged(c), max_fnr, max_fpr)


def _within(rates: tuple[float, float], max_fnr: float | None, max_fpr: float | None) -> bool:
    fnr, fpr = rates
    return (max_fnr is None or fnr <= max_fnr + 1e-12) and (max_fpr is None or fpr <= max_fpr + 1e-12)


def _rates(c: dict) -> tuple[float, float]:
    """A candidate's threshold-segment FNR and FPR."""
    return float(c["fnr"]), float(c["fpr"])


def _judged(c: dict) -> tuple[float, float]:
    if c.get("fnr_bound") is not None and c.get("fpr_bound") is not None:
        return float(c["fnr_bound"]), float(c["fpr_bound"])
    return _rates(c)


def verdict(
    c: dict, chosen: dict | None, max_fnr: float | None, max_fpr: float | None, *, certified_rule: bool = False
) -> str:
    """What decided about one candidate, in a few words: chosen, ruled out by its estimates (or rates), or
    passed but dearer than the choice. Under the certified planner (``certified_rule``) no estimate rules a
    candidate out -- the certificate proves the answer, and the errors only price it -- so a candidate lost on its
    expected certified cost, or was not priced (only the frontier's cheapest are)."""
    if chosen is not None and _identity(c) == _identity(chosen):
        return "chosen"
    if certified_rule:
        if c.get("expected_certified_cost_ms") is None:
            return "not priced for a certificate"
        if chosen is not None and chosen.get("expected_certified_cost_ms") is not None:
            return "dearer once certified"
        return "certificate dearer than the reference"
    if not meets_targets(c, max_fnr, max_fpr):
        judged = "estimate" if c.get("fnr_bound") is not None else "threshold error"
        return f"{judged} over a target"
    if c.get("expected_certified_cost_ms") is not None and chosen is not None:
        if chosen.get("expected_certified_cost_ms") is not None:
            return "dearer once certified"
        return "certificate dearer than the reference"
    return "dearer than the choice"


def _target_lines(max_fnr: float | None, max_fpr: float | None) -> list[tuple[float, str, str]]:
    """(value, legend label, line style) per target; one line when both targets are equal."""
    if max_fnr is not None and max_fpr is not None and math.isclose(max_fnr, max_fpr):
        return [(max_fnr, f"target: FNR and FPR ≤ {100 * max_fnr:g} %", "-")]
    lines = []
    if max_fnr is not None:
        lines.append((max_fnr, f"target: FNR ≤ {100 * max_fnr:g} %", "-"))
    if max_fpr is not None:
        lines.append((max_fpr, f"target: FPR ≤ {100 * max_fpr:g} %", ":"))
    return lines


def _floor_speedup(c: dict) -> float:
    return max(float(c["speedup"]), 1e-3)  # a log axis has no 0


def _speedup_text(v: float) -> str:
    """1×, 3.2×, 250×, 194,134× - the way a person reads a speed-up."""
    if v >= 10 or float(v).is_integer():
        return f"{v:,.0f}×"
    return f"{v:.2g}×" if v < 1 else f"{v:.1f}×"


def _check(frontier: Sequence[dict]) -> None:
    for c in frontier:
        missing = [k for k in _REQUIRED if k not in c]
        if missing:
            raise ArtifactError(
                f"frontier entry lacks {', '.join(missing)}",
                "pass the candidate dicts of optimizer.Candidate.to_dict (cascade.json 'frontier')",
            )


def _shorten(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
