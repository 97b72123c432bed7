"""The search's fast path: the error totals of every (c_low, c_high) pair of one (skip, DD, threshold) at once.

For a fixed skip, difference detector and threshold, the frames the DD decides, the frames reaching the model,
and the run of frames each decided frame's label *covers* (itself plus the skipped and carried frames after
it) are all fixed (:func:`coverage`, :func:`dd_plan`). Each decided frame's errors then depend only on its own
route: absent misses the positives it covers, present wrongly claims the negatives it covers, the reference
errs only where its own label differs from the covered frames'. Sorting the model-reaching frames by model
probability (:func:`rank_reaching`) turns every pair of cuts (:func:`model_grid`) into a lookup in prefix sums
(:func:`pair_errors`), so a whole threshold grid costs one sort. The tests check it against the plain simulator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from noscope_core.cascade.routing import PENDING, Route, evaluated_positions


@dataclass(frozen=True)
class Coverage:
    """Per skip: the evaluated positions and how many positives/negatives each one's frames hold."""

    positions: np.ndarray
    cov_pos: np.ndarray  # positives among the frames from this evaluated frame to the next
    cov_neg: np.ndarray
    truth: np.ndarray  # truth of the evaluated frames


@dataclass(frozen=True)
class DDPlan:
    """Per (skip, DD, threshold): what the DD decided and what reaches the model, per evaluated frame."""

    fn_fixed: int  # positives covered by frames the DD called absent
    reach: np.ndarray  # bool: the frame reaches the model (or, without one, the reference)
    pos: np.ndarray  # for reaching frames: positives their label covers (through carried frames); else 0
    neg: np.ndarray
    truth: np.ndarray


@dataclass(frozen=True)
class Ranked:
    """The frames reaching the model, sorted by model probability, with what each one's label covers."""

    p: np.ndarray
    pos: np.ndarray
    neg: np.ndarray
    truth: np.ndarray


def coverage(truth: np.ndarray, skip: int) -> Coverage:
    n = len(truth)
    positions = evaluated_positions(n, skip)
    ends = np.append(positions[1:], n)
    cum = np.concatenate([[0], np.cumsum(truth, dtype=np.int64)])
    cov_pos = cum[ends] - cum[positions]
    return Coverage(positions, cov_pos, (ends - positions) - cov_pos, truth[positions])


def dd_plan(routes: np.ndarray, cov: Coverage) -> DDPlan:
    decided = routes != Route.DD_CARRY
    # a carried frame's frames are covered by the last decided frame's label: group by that frame
    group = np.cumsum(decided) - 1
    n_groups = int(decided.sum())
    pos_g = np.bincount(group, weights=cov.cov_pos, minlength=n_groups).round().astype(np.int64)
    neg_g = np.bincount(group, weights=cov.cov_neg, minlength=n_groups).round().astype(np.int64)
    fn_fixed = int(pos_g[group[routes == Route.DD_ABSENT]].sum())
    reach = routes == PENDING
    pos = np.where(reach, pos_g[group], 0)
    neg = np.where(reach, neg_g[group], 0)
    return DDPlan(fn_fixed, reach, pos, neg, cov.truth)


def rank_reaching(plan: DDPlan, p_eval: np.ndarray, order: np.ndarray) -> Ranked:
    """Reaching frames in the order of ``order`` (an argsort of ``p_eval`` over all evaluated frames)."""
    idx = order[plan.reach[order]]
    return Ranked(p_eval[idx], plan.pos[idx], plan.neg[idx], plan.truth[idx])


def model_grid(sorted_p: np.ndarray, n_thresholds: int) -> np.ndarray:
    """About ``n_thresholds`` cut points at quantiles of the (sorted) scores, plus the extremes 0 and 1.

    Each cut lies halfway between two neighbouring distinct scores, never on a score: then c_low == c_high
    splits the frames cleanly into absent and present with none left for the reference.
    """
    first = np.flatnonzero(np.r_[True, sorted_p[1:] != sorted_p[:-1]])  # first frame of each distinct score
    if len(first) < 2:
        return np.array([0.0, 1.0])
    values = sorted_p[first]
    mids = (values[:-1] + values[1:]) / 2
    below = first[1:]  # frames under each cut
    picks = np.clip(np.searchsorted(below, np.linspace(0, len(sorted_p), n_thresholds)), 0, len(mids) - 1)
    return np.unique(np.concatenate([[0.0, 1.0], mids[picks]]))


def pair_errors(
    fn_fixed: int, ranked: Ranked, c_low: np.ndarray, c_high: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(FN, FP, reference calls) for every pair (c_low[k], c_high[k]), by prefix sums over the ranked frames."""

    def prefix(x: np.ndarray) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(x, dtype=np.int64)])

    t = ranked.truth
    miss_if_absent = prefix(ranked.pos)
    claim_if_present = prefix(ranked.neg)
    ref_fn, ref_fp = prefix(np.where(t, 0, ranked.pos)), prefix(np.where(t, ranked.neg, 0))
    i = np.searchsorted(ranked.p, c_low, side="left")  # ranked[:i] have p < c_low: absent
    j = np.searchsorted(ranked.p, c_high, side="right")  # ranked[j:] have p > c_high: present; [i, j): reference
    fn = fn_fixed + miss_if_absent[i] + ref_fn[j] - ref_fn[i]
    fp = claim_if_present[-1] - claim_if_present[j] + ref_fp[j] - ref_fp[i]
    return fn, fp, j - i


def pair_reference_positives(ranked: Ranked, c_low: np.ndarray, c_high: np.ndarray) -> np.ndarray:
    """Positive frames among those each pair sends to the reference (the answer's exact positives)."""
    truth = np.concatenate([[0], np.cumsum(ranked.truth, dtype=np.int64)])
    i = np.searchsorted(ranked.p, c_low, side="left")
    j = np.searchsorted(ranked.p, c_high, side="right")
    return truth[j] - truth[i]
