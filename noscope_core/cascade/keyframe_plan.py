"""The keyframe-first plan, simulated: what it would answer on a segment and what it would cost there.

The plan scans only the keyframes (I-frames, which decode alone) with the cascade's specialized model, and
reads a group of pictures densely only when it must. GOP ``[k_i, k_{i+1})`` is *settled* when both of its
keyframes got the same confident label (p below ``settle_low`` or above ``settle_high``, a margin inside the
cascade's own band): every frame in it takes that label, and none of it beyond the keyframe is decoded.
Every other GOP is *opened*: decoded densely and run through the ordinary cascade (its skip, DD, model and
reference). Frames before the first keyframe of a range and from its last keyframe on are always opened (their
closing keyframe is not in the range).

What the scan cannot see: an event that starts and ends between two keyframes of a settled GOP. The threshold
segment measures how often that costs errors, frame by frame, so the plan's FNR/FPR (and its confidence bounds,
computed on its per-frame errors by the same block bounds as every dense plan) include those misses.

Opened frames are simulated as the executor runs them: each maximal run of opened frames is one range of the
cascade (evaluated positions from the run's first frame; a "previous" DD cannot decide that first frame), so
:func:`simulate_plan` and ``keyframe_run`` produce the same labels from the same scores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from noscope_core.cascade.costs import StageCosts
from noscope_core.cascade.routing import CascadeConfig, Route, assign_labels, dd_routes, model_routes
from noscope_core.common.errors import ArtifactError, QueryError
from noscope_core.video.decode_costs import DecodeCosts

#: margins the optimizer tries for each dense candidate (0: settle at the cascade's own thresholds)
DEFAULT_MARGINS = (0.0, 0.5, 0.9)


@dataclass(frozen=True)
class KeyframePlan:
    """Scan keyframes; settle a GOP whose two keyframes agree confidently; open the rest densely.

    ``margin`` in [0, 1) moves the settle thresholds away from the cascade's band: a keyframe settles absent
    when p < c_low·(1 − margin) and present when p > c_high + (1 − c_high)·margin.
    """

    margin: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.margin) < 1.0:
            raise QueryError(f"keyframe settle margin must lie in [0, 1), got {self.margin}")
        object.__setattr__(self, "margin", float(self.margin))

    def settle_thresholds(self, config: CascadeConfig) -> tuple[float, float]:
        """(settle_low, settle_high): a keyframe is confidently absent below the first, present above the second."""
        return config.c_low * (1.0 - self.margin), config.c_high + (1.0 - config.c_high) * self.margin

    def describe(self, config: CascadeConfig) -> str:
        low, high = self.settle_thresholds(config)
        return f"keyframes first: settle a GOP when both keyframes have p<{low:.4g} or p>{high:.4g}, else open it"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> KeyframePlan:
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ArtifactError(f"keyframe plan has unknown fields {sorted(unknown)}", "re-run the optimizer")
        return cls(**d)


@dataclass(frozen=True)
class PlanOutcome:
    """What a keyframe-first plan says about a segment, and the work it does there."""

    labels: np.ndarray  # bool (N,)
    routes: np.ndarray  # int8 (N,) Route codes; settled frames are SKIPPED, their keyframes MODEL_ABSENT/PRESENT
    opened: np.ndarray  # bool (N,): decoded densely
    n_keyframes: int  # keyframes scanned (each decoded alone and scored by the model)
    n_ranges: int  # maximal runs of opened frames (one seek each)
    n_evaluated: int  # opened frames the cascade evaluated (shrunk, DD)
    n_model: int  # opened frames that reached the model
    n_reference: int  # frames sent to the reference

    @property
    def n_opened(self) -> int:
        return int(self.opened.sum())

    @property
    def opened_fraction(self) -> float:
        return self.n_opened / len(self.labels) if len(self.labels) else 0.0


def gop_decisions(
    n: int, keyframes: np.ndarray, p_keyframes: np.ndarray, low: float, high: float, breaks: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(opened (N,) bool, settled label (N,) bool) from the keyframes' positions and model probabilities.

    ``breaks``: positions where a new range starts (a segment of several ranges); a GOP across one is opened.
    """
    kp = np.asarray(keyframes, dtype=np.int64)
    p = np.asarray(p_keyframes, dtype=np.float64)
    opened = np.ones(n, dtype=bool)
    label = np.zeros(n, dtype=bool)
    if len(kp) < 2:
        return opened, label
    absent, present = p < low, p > high  # NaN is neither: an unusable score never settles
    settled = (absent[:-1] & absent[1:]) | (present[:-1] & present[1:])
    if breaks is not None and len(breaks):
        b = np.asarray(breaks, dtype=np.int64)
        # a break strictly inside (k_i, k_{i+1}] cuts the GOP: its frames come from two ranges
        crosses = np.searchsorted(b, kp[1:], side="left") > np.searchsorted(b, kp[:-1], side="right")
        settled &= ~crosses
    starts, ends = kp[:-1][settled], kp[1:][settled]
    delta = np.zeros(n + 1, dtype=np.int64)
    np.add.at(delta, starts, 1)
    np.add.at(delta, ends, -1)
    inside = np.cumsum(delta[:-1]) > 0
    opened[inside] = False
    # each settled frame takes its GOP's label: the present ones mark their GOPs
    pdelta = np.zeros(n + 1, dtype=np.int64)
    pres = present[:-1][settled]
    np.add.at(pdelta, starts[pres], 1)
    np.add.at(pdelta, ends[pres], -1)
    label[np.cumsum(pdelta[:-1]) > 0] = True
    return opened, label


def opened_ranges(opened: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs ``[a, b)`` of opened frames."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], opened.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def range_positions(ranges: list[tuple[int, int]], skip: int) -> tuple[np.ndarray, np.ndarray]:
    """(evaluated positions, True where a range starts) of the cascade run on each range separately."""
    if not ranges:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    a = np.array([r[0] for r in ranges], dtype=np.int64)
    b = np.array([r[1] for r in ranges], dtype=np.int64)
    counts = -(-(b - a) // skip)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    j = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(first, counts)
    pos = np.repeat(a, counts) + skip * j
    return pos, j == 0


def simulate_plan(
    plan: KeyframePlan,
    config: CascadeConfig,
    keyframes: np.ndarray,
    truth: np.ndarray,
    dd_scores: np.ndarray | None,
    model_scores: np.ndarray,
    breaks: np.ndarray | None = None,
) -> PlanOutcome:
    """Labels and work of ``plan`` with ``config`` on a segment (positions 0..N−1), from per-frame scores.

    ``keyframes``: positions of the keyframes in the segment; ``dd_scores`` as for
    :func:`noscope_core.cascade.routing.simulate` (this config's skip); ``truth``: the reference's labels, used where the
    plan asks the reference.
    """
    if config.model_name is None:
        raise QueryError("a keyframe-first plan needs a specialized model to settle GOPs", "use a dense plan")
    truth = np.asarray(truth, dtype=bool).reshape(-1)
    n = len(truth)
    p = np.asarray(model_scores, dtype=np.float64).reshape(-1)
    if len(p) != n or (dd_scores is not None and len(dd_scores) != n):
        raise ValueError("scores and truth cover different numbers of frames")
    kp = np.asarray(keyframes, dtype=np.int64)
    low, high = plan.settle_thresholds(config)
    opened, label = gop_decisions(n, kp, p[kp], low, high, breaks)
    ranges = opened_ranges(opened)
    pos, starts = range_positions(ranges, config.skip)
    dd = np.full(len(pos), np.nan)
    if config.dd_name is not None:
        if dd_scores is None:
            raise ValueError(f"config uses difference detector {config.dd_name!r} but no DD scores were given")
        dd = np.asarray(dd_scores, dtype=np.float64)[pos]
        if config.dd_reference == "previous":
            dd[starts] = np.nan  # the first frame of a range has no previous frame
    routes_eval = model_routes(config, dd_routes(config, dd), p[pos])
    # a range's first frame is never DD_CARRY, so carrying never crosses from one range into the next
    labels_eval = assign_labels(routes_eval, truth[pos])
    labels, routes = label.copy(), np.full(n, Route.SKIPPED, dtype=np.int8)
    if len(pos):
        frames = np.flatnonzero(opened)
        owner = np.searchsorted(pos, frames, side="right") - 1
        labels[frames] = labels_eval[owner]
        routes[pos] = routes_eval
    settled_keys = kp[~opened[kp]] if len(kp) else kp
    routes[settled_keys] = np.where(label[settled_keys], Route.MODEL_PRESENT, Route.MODEL_ABSENT)
    return PlanOutcome(
        labels=labels,
        routes=routes,
        opened=opened,
        n_keyframes=len(kp),
        n_ranges=len(ranges),
        n_evaluated=len(pos),
        n_model=int(np.count_nonzero(routes_eval >= Route.MODEL_ABSENT)),
        n_reference=int(np.count_nonzero(routes_eval == Route.REFERENCE)),
    )


@dataclass(frozen=True)
class PlanCost:
    """Expected per-frame cost (ms) of a plan, split into the cascade's stages and reading the video."""

    stage_ms: float
    decode_ms: float

    @property
    def total_ms(self) -> float:
        return self.stage_ms + self.decode_ms


def plan_cost(outcome: PlanOutcome, config: CascadeConfig, costs: StageCosts, decode: DecodeCosts) -> PlanCost:
    """Keyframes: decoded alone and scored; opened frames: decoded densely, the evaluated ones shrunk and run
    through the cascade; one seek per opened range."""
    n = len(outcome.labels)
    model_ms = costs.model_ms[config.model_name] if config.model_name else 0.0
    stage = outcome.n_keyframes * model_ms + outcome.n_model * model_ms + outcome.n_reference * costs.reference_ms
    if config.dd_name is not None:
        stage += outcome.n_evaluated * costs.dd_ms[config.dd_name]
    read = (
        outcome.n_keyframes * decode.keyframe_ms
        + outcome.n_opened * decode.frame_ms
        + outcome.n_evaluated * decode.shrink_ms
        + outcome.n_ranges * decode.seek_ms
    )
    return PlanCost(stage / n, read / n)


def keyframe_positions(segment_frames: np.ndarray, keyframes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions of keyframes, positions where a new range starts) in a segment of source frame numbers."""
    idx = np.asarray(segment_frames, dtype=np.int64)
    kp = np.flatnonzero(np.isin(idx, np.asarray(keyframes, dtype=np.int64)))
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1 if len(idx) > 1 else np.zeros(0, np.int64)
    return kp, breaks
