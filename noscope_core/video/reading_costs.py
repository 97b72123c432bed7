"""What reading a video costs per view and frame skip, measured on the file, and which decoding view to train.

A view decoded at reduced resolution (``lowres``) or without the loop filter reads faster but shows the models
other pixels, so the choice between views is the optimizer's, priced like any stage: by milliseconds measured
here, on this file, at the frame skips a cascade may use (a skip lets the reader leave frames unshrunk and, in
closed GOPs, undecoded). A cheaper view wins only when its own cascade meets the targets (:func:`choose_view`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from noscope_core.common.errors import QueryError
from noscope_core.spec.decodings import DECODINGS

if TYPE_CHECKING:  # the video module loads OpenCV; the spec checks decoding names without it
    from noscope_core.video.views import ViewSpec

#: frame skips the optimizer's plans use; reading costs are measured at these
DEFAULT_SKIPS = (1, 2, 5, 10, 30)


def with_decoding(view: ViewSpec, decoding: str) -> ViewSpec:
    """``view`` decoded the way ``decoding`` (one of :data:`DECODINGS`) names."""
    if decoding not in DECODINGS:
        raise QueryError(f"unknown decoding {decoding!r}", f"choose among {', '.join(DECODINGS)}")
    parts = decoding.split("-") if decoding else []
    lowres = next((int(p[2:]) for p in parts if p.startswith("lr")), 0)
    return replace(view, lowres=lowres, skip_loop_filter="nlf" in parts)


@dataclass(frozen=True)
class ReadingCost:
    """Milliseconds per frame *covered* (decoded or not) of reading one view at one frame skip, and what ran."""

    view: str
    skip: int
    ms_per_frame: float
    frames: int  # frames covered by the measurement
    reader: str
    lowres: int  # the level the decoder really used (0 where the codec ignores it)
    skip_loop_filter: bool  # whether the decoder really skipped a loop filter
    n_dropped: int  # packets never decoded (GOP tails after the last wanted frame)


@dataclass(frozen=True)
class ReadingCosts:
    """Measured :class:`ReadingCost` by ``(view name, skip)``; :meth:`ms` prices any skip from them."""

    costs: Mapping[tuple[str, int], ReadingCost]

    def ms(self, view: str, skip: int) -> float:
        """ms per covered frame at ``skip``; between measured skips, linear in 1/skip (a fixed part + a per-read
        part), beyond them the nearest measured skip's."""
        points = sorted((s, c.ms_per_frame) for (v, s), c in self.costs.items() if v == view)
        if not points:
            raise QueryError(f"no reading cost measured for view {view}", "measure it with measure_reading_costs")
        skips = np.asarray([1.0 / s for s, _ in points])[::-1]
        values = np.asarray([ms for _, ms in points])[::-1]
        return float(np.interp(1.0 / max(1, int(skip)), skips, values))

    def to_dict(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for (view, skip), c in sorted(self.costs.items()):
            out.setdefault(view, {})[str(skip)] = c.ms_per_frame
        return out


def measure_reading_costs(
    path: str | Path,
    views: Sequence[ViewSpec],
    skips: Sequence[int] = DEFAULT_SKIPS,
    frames: int = 600,
    repeats: int = 3,
    reader: str = "auto",
) -> ReadingCosts:
    """Reading cost of each view at each skip over the first ``frames`` frames of ``path`` (median of ``repeats``).

    Each pass reads as :meth:`Cascade.run_video` does with no reference asking for pixels (the chosen reader,
    decoding and shrinking only what the skip wants); the file's opening is included, as a query pays it.
    """
    from noscope_core.video.frames import DecodeStats
    from noscope_core.video.readers import choose_reader, iter_views

    if frames < 1 or repeats < 1 or not skips or min(skips) < 1:
        raise QueryError("frames, repeats and every skip must be positive")
    chosen = choose_reader(path, reader)
    times: dict[tuple[str, int], list[float]] = {}
    last: dict[tuple[str, int], DecodeStats] = {}
    covered: dict[tuple[str, int], int] = {}
    for _ in range(repeats):  # rounds interleave views and skips, so a load spike does not land on one of them
        for view in views:
            for skip in skips:
                stats = DecodeStats()
                t0 = time.perf_counter()
                last_index = -1
                batches = iter_views(
                    path,
                    (view,),
                    stop=frames,
                    step=int(skip),
                    batch_size=256,
                    stats=stats,
                    reader=chosen,
                    keep_full=False,
                )
                for batch in batches:
                    last_index = int(batch.indices[-1]) if len(batch) else last_index
                key = (view.name, int(skip))
                times.setdefault(key, []).append(time.perf_counter() - t0)
                last[key] = stats
                covered[key] = min(frames, last_index + int(skip)) if last_index >= 0 else 0
    costs = {}
    for key, ts in times.items():
        n = covered[key]
        stats = last[key]
        costs[key] = ReadingCost(
            view=key[0],
            skip=key[1],
            ms_per_frame=1000.0 * float(np.median(ts)) / max(n, 1),
            frames=n,
            reader=stats.reader,
            lowres=stats.lowres,
            skip_loop_filter=stats.skip_loop_filter,
            n_dropped=stats.n_dropped,
        )
    return ReadingCosts(costs)


@dataclass(frozen=True)
class ViewOption:
    """One candidate view after the optimizer ran on it: its best cascade's stage cost and whether it met the
    targets (with the camera's confidence bounds), plus the reading cost at that cascade's skip."""

    view: str
    reading_ms: float  # per frame covered, at the cascade's skip (ReadingCosts.ms)
    cascade_ms: float  # per frame covered, the optimizer's own cost of the cascade's stages
    meets_targets: bool

    @property
    def total_ms(self) -> float:
        return self.reading_ms + self.cascade_ms

    @classmethod
    def priced(cls, view: str, skip: int, cascade_ms: float, meets_targets: bool, costs: ReadingCosts) -> ViewOption:
        """The option of ``view`` whose best cascade evaluates every ``skip``-th frame, read at its measured cost."""
        return cls(view, costs.ms(view, skip), float(cascade_ms), bool(meets_targets))


@dataclass(frozen=True)
class ViewChoice:
    view: str
    total_ms: float
    reason: str


def choose_view(options: Sequence[ViewOption], default_view: str) -> ViewChoice:
    """The cheapest view (reading + cascade per frame) whose cascade meets the targets.

    Rules: 1. only options that meet the targets compete; 2. the cheapest total wins; 3. a tie (within 1 %)
    goes to ``default_view``, whose pixels every reader and the reference share; 4. when none meets the targets,
    ``default_view`` is kept (its fallback is the reference, decided elsewhere).
    """
    by_name = {o.view: o for o in options}
    if default_view not in by_name:
        raise QueryError(f"the default view {default_view} is not among the options", "price it with the others")
    ok = [o for o in options if o.meets_targets]
    if not ok:
        return ViewChoice(default_view, by_name[default_view].total_ms, "no view's cascade meets the targets")
    best = min(ok, key=lambda o: o.total_ms)
    default = by_name[default_view]
    if default.meets_targets and default.total_ms <= 1.01 * best.total_ms:
        return ViewChoice(default_view, default.total_ms, "the default view is as cheap as any")
    others = ", ".join(f"{o.view} {o.total_ms:.3f}" for o in sorted(options, key=lambda o: o.total_ms))
    return ViewChoice(best.view, best.total_ms, f"cheapest view meeting the targets (ms/frame: {others})")
