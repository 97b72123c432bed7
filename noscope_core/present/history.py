"""A camera's life on one picture: its certified speed-up per day, the labels its store holds, its champions.

Top panel: the speed-up of each day's answers over the reference on the same frames (filled where every file of
the day was certified, hollow where one was not, a cross where the day had no answered footage), with the day's
weakest FNR / FPR bound on a second axis. Bottom panel: frames in the label store after the day, split into
the unbiased (random draws, whole segments) and the chosen (risky, routed). A vertical line marks each day the
champion changed, labelled with its version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from noscope_core.common.atomic import atomic_path
from noscope_core.common.errors import ArtifactError


@dataclass(frozen=True)
class DayPoint:
    """One day of one camera, as the history chart shows it."""

    day: str  # YYYY-MM-DD
    frames: int
    speedup: float | None
    certified: bool
    fnr_bound: float | None
    fpr_bound: float | None
    labels_in_store: int
    unbiased_labels: int | None = None
    champion_version: int | None = None

    @classmethod
    def from_record(cls, r: dict) -> DayPoint:
        """From a day record (``day.json`` of the ``day_answers`` asset, or a row of the days demo)."""
        return cls(
            day=str(r["day"]),
            frames=int(r.get("frames") or 0),
            speedup=None if r.get("speedup") is None else float(r["speedup"]),
            certified=bool(r.get("certified")),
            fnr_bound=None if r.get("fnr_bound") is None else float(r["fnr_bound"]),
            fpr_bound=None if r.get("fpr_bound") is None else float(r["fpr_bound"]),
            labels_in_store=int(r.get("labels_in_store") or 0),
            unbiased_labels=None if r.get("unbiased_labels") is None else int(r["unbiased_labels"]),
            champion_version=None if r.get("champion_version") is None else int(r["champion_version"]),
        )


def champion_changes(points: Sequence[DayPoint]) -> list[tuple[int, int]]:
    """(position, version) of each day whose champion differs from the day before's (the first day counts)."""
    out, last = [], None
    for i, p in enumerate(points):
        if p.champion_version is not None and p.champion_version != last:
            out.append((i, p.champion_version))
            last = p.champion_version
    return out


def history_chart(points: Sequence[DayPoint], out: str | Path, title: str = "") -> Path:
    """Draw the history of ``points`` (one per day, any order) into the PNG ``out`` (written atomically)."""
    if not points:
        raise ArtifactError("no day has been answered yet, so there is no history to draw", "answer a day first")
    import matplotlib

    matplotlib.use("Agg")  # headless: pipelines and tests have no display
    import matplotlib.pyplot as plt

    points = sorted(points, key=lambda p: p.day)
    x = list(range(len(points)))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    try:
        for i, p in zip(x, points, strict=True):
            if p.speedup is None:
                top.plot(i, 1.0, "x", color="grey", markersize=9)
            else:
                face = "tab:blue" if p.certified else "white"
                top.plot(i, p.speedup, "o", color="tab:blue", markerfacecolor=face, markersize=9)
        ys = [(i, p.speedup) for i, p in zip(x, points, strict=True) if p.speedup is not None]
        if ys:
            top.plot([i for i, _ in ys], [v for _, v in ys], "-", color="tab:blue", alpha=0.5, label="speed-up")
        top.axhline(1.0, color="grey", lw=0.8, ls=":")
        top.set_ylabel("speed-up over the reference (x)\nfilled: certified")
        bounds = top.twinx()
        for key, color, name in (("fnr_bound", "tab:red", "FNR bound"), ("fpr_bound", "tab:orange", "FPR bound")):
            vals = [(i, getattr(p, key)) for i, p in zip(x, points, strict=True) if getattr(p, key) is not None]
            if vals:
                bounds.plot([i for i, _ in vals], [100 * v for _, v in vals], "s--", color=color, ms=4, label=name)
        bounds.set_ylabel("bound (%)")
        bounds.set_ylim(bottom=0)
        handles = top.get_legend_handles_labels()[0] + bounds.get_legend_handles_labels()[0]
        if handles:
            top.legend(handles=handles, loc="upper left", fontsize=8)
        total = [p.labels_in_store for p in points]
        unbiased = [p.unbiased_labels if p.unbiased_labels is not None else 0 for p in points]
        bottom.bar(x, unbiased, color="tab:green", label="unbiased (random, segments)")
        bottom.bar(x, [t - u for t, u in zip(total, unbiased, strict=True)], bottom=unbiased, color="tab:gray",
                   label="chosen (risky, routed, certification)")  # fmt: skip
        bottom.set_ylabel("labels in the store")
        bottom.legend(loc="upper left", fontsize=8)
        for i, version in champion_changes(points):
            for ax in (top, bottom):
                ax.axvline(i, color="tab:purple", lw=1, alpha=0.6)
            top.annotate(f"champion v{version}", (i, 1.0), xytext=(3, 3), textcoords="offset points", fontsize=8,
                         color="tab:purple")  # fmt: skip
        bottom.set_xticks(x, [p.day for p in points], rotation=30, ha="right", fontsize=8)
        top.set_title(f"{title}: certified speed-up, bounds and labels per day".lstrip(": "))
        fig.tight_layout()
        out = Path(out)
        with atomic_path(out, suffix=".png") as tmp:
            fig.savefig(tmp, format="png", dpi=90)
    finally:
        plt.close(fig)
    return out
