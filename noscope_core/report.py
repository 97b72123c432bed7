"""Human-readable views of the optimizer's frontier: a speed-up-vs-error plot and a markdown table.

Both take the candidate dicts of ``optimizer.Candidate.to_dict`` (keys ``config``, ``fnr``, ``fpr``, ``cost_ms``,
``reference_fraction``, ``speedup``, ``describe``), so they work on a fresh optimization or on a cascade.json
read back from disk.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from noscope_core.atomic import atomic_path
from noscope_core.errors import ArtifactError

_REQUIRED = ("fnr", "fpr", "speedup")

#: intervals a one-line preview shows before " ..."
PREVIEW_INTERVALS = 8


def preview_intervals(intervals: Sequence[Sequence[int]], limit: int = PREVIEW_INTERVALS) -> str:
    """The first ``limit`` positive intervals as ``[start,end)``, then `` ...`` when there are more."""
    shown = ", ".join(f"[{a},{b})" for a, b in list(intervals)[:limit])
    return shown + (" ..." if len(intervals) > limit else "")


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
) -> Path:
    """Plot every candidate's speed-up over the reference (log scale) against its error max(FNR, FPR).

    The Pareto front is drawn as a step line, the chosen cascade as a star. Written atomically as PNG.
    """
    _check(frontier)
    import matplotlib

    matplotlib.use("Agg")  # headless: pipelines and tests have no display
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(7.0, 4.5), dpi=110)
    try:
        errors = [100 * candidate_error(c) for c in frontier]
        speedups = [max(float(c["speedup"]), 1e-3) for c in frontier]
        ax.scatter(errors, speedups, s=16, alpha=0.55, color="tab:blue", label="candidate cascades")
        front = pareto_front(frontier)
        if len(front) > 1:
            ax.step(
                [100 * candidate_error(c) for c in front],
                [max(float(c["speedup"]), 1e-3) for c in front],
                where="post",
                color="tab:blue",
                linewidth=1.2,
                label="Pareto front",
            )
        ax.axhline(1.0, color="grey", linestyle="--", linewidth=0.8, label="reference on every frame")
        if chosen is not None:
            _check([chosen])
            ax.scatter(
                [100 * candidate_error(chosen)],
                [max(float(chosen["speedup"]), 1e-3)],
                marker="*",
                s=220,
                color="tab:red",
                zorder=5,
                label="chosen: " + _shorten(str(chosen.get("describe", "")), 60),
            )
        ax.set_yscale("log")
        ax.set_xlabel("error on the threshold segment: max(FNR, FPR) (%)")
        ref = f" ({reference_fps:.1f} frames/s)" if reference_fps else ""
        ax.set_ylabel(f"speed-up over the reference{ref}")
        ax.set_title(f"Cascade frontier: {len(frontier)} candidates")
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=7, loc="best")
        fig.tight_layout()
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return path


def frontier_table_md(frontier: list[dict], limit: int = 20) -> str:
    """A markdown table of the first ``limit`` candidates (in the given order), with a line for the rest."""
    _check(frontier)
    lines = [
        "| # | cascade | FNR % | FPR % | cost ms/frame | speed-up | reference calls % |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for i, c in enumerate(frontier[: max(limit, 0)], start=1):
        describe = str(c.get("describe", "")).replace("|", "\\|")
        cost = c.get("cost_ms")
        frac = c.get("reference_fraction")
        lines.append(
            f"| {i} | {describe} | {100 * float(c['fnr']):.2f} | {100 * float(c['fpr']):.2f} | "
            f"{'' if cost is None else f'{float(cost):.3f}'} | {float(c['speedup']):.1f} | "
            f"{'' if frac is None else f'{100 * float(frac):.2f}'} |"
        )
    rest = len(frontier) - max(limit, 0)
    if rest > 0:
        lines.append(f"\n... and {rest} more candidate{'s' if rest != 1 else ''}.")
    return "\n".join(lines) + "\n"


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
