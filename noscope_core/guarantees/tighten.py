"""A failing stratum's next step: draw its next look, or send its riskiest unlabelled frames to the reference.

A certificate bounds the errors of a whole stratum from one uniform sample of it, so the errors it cannot yet rule
out are that bound minus every error the reference has already found in the stratum, drawn or chosen
(:mod:`noscope_core.guarantees.certificate`). Two steps shrink them: more draws (the next look: a tighter bound)
or tightening (the riskiest unlabelled frames to the reference: errors found there are corrected and subtracted).
Which is cheaper depends on where the errors sit in the cascade's risk order, and the sample says that: each
error a uniform draw found is a sample of the stratum's errors, at its risk. This module prices both steps from
those errors and picks the cheaper. It chooses which frames are labelled, never a bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from noscope_core.guarantees.hypergeom import hypergeom_upper


@dataclass(frozen=True)
class Step:
    """``tighten`` riskiest unlabelled frames to the reference now; or (``tighten`` 0) draw on, because the look
    ``look`` of the remaining ones (an index into the looks offered) is expected to cost less (the certificate
    then draws the next look: nested draws make passing through the smaller ones free); -1: no look."""

    tighten: int
    look: int
    reason: str


@dataclass(frozen=True)
class StratumView:
    """What the plan reads of one failing stratum.

    ``size``: frames in the stratum; ``drawn``: uniform draws so far, which found ``found`` errors;
    ``pool_rate``: for each frame not yet labelled, riskiest first, the errors it is expected to hold (see
    :func:`pool_rates`); ``known_errors``: errors the reference has found in the stratum (drawn or chosen);
    ``upper``: the stratum's error bound now; ``allowed``: the errors the target allows to be left."""

    size: int
    drawn: int
    found: int
    pool_rate: np.ndarray
    known_errors: int
    upper: int
    allowed: float


def pool_rates(drawn: np.ndarray, wrong: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """The errors each unlabelled frame is expected to hold, from the uniform draws near it in the risk order.

    Ranks are places in the stratum's risk order (0 = riskiest; ties broken at random, so a tie shares its errors
    evenly). ``drawn`` / ``wrong``: the ranks of the drawn frames and whether each was an error; ``pool``: the
    ranks of the unlabelled frames. The drawn frames, in rank order, are cut into groups of about
    √(draws) (at least 10); each group's error share holds for the unlabelled frames whose ranks fall in its
    span. Coarse where the draws are few, finer as they grow."""
    if len(drawn) == 0:
        return np.zeros(len(pool))
    order = np.argsort(drawn, kind="stable")
    ranks, errors = np.asarray(drawn)[order], np.asarray(wrong, dtype=np.float64)[order]
    group = max(10, math.isqrt(len(ranks)))
    starts = np.arange(0, len(ranks), group)
    if len(starts) > 1 and len(ranks) - starts[-1] < group // 2:
        starts = starts[:-1]  # a short last group joins the one before
    shares = np.add.reduceat(errors, starts) / np.diff(np.append(starts, len(ranks)))
    # a frame belongs to the group whose drawn ranks its rank falls among (before the first: the first group)
    edges = ranks[starts[1:]]
    return shares[np.searchsorted(edges, np.asarray(pool), side="right")]


def tie_means(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``values`` with each run of equal ``keys`` (ties, contiguous: ``keys`` sorted) replaced by its mean."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return values
    keys = np.asarray(keys)
    starts = np.concatenate([[0], np.flatnonzero(keys[1:] != keys[:-1]) + 1])
    lengths = np.diff(np.append(starts, len(values)))
    return np.repeat(np.add.reduceat(values, starts) / lengths, lengths)


def errors_in_top(view: StratumView, k: np.ndarray) -> np.ndarray:
    """The errors the ``k`` riskiest unlabelled frames are expected to hold (for each k)."""
    k = np.clip(np.asarray(k, dtype=np.int64), 0, len(view.pool_rate))
    total = np.concatenate([[0.0], np.cumsum(view.pool_rate)])
    return total[k]


def frames_to_find(view: StratumView, errors: float) -> int | None:
    """The fewest riskiest unlabelled frames expected to hold ``errors`` errors; None when all of them are not
    expected to (only labelling the stratum in full would settle it)."""
    if errors <= 0:
        return 0
    total = np.cumsum(view.pool_rate)
    if len(total) == 0 or total[-1] < errors:
        return None
    return int(np.searchsorted(total, errors, side="left")) + 1


def next_step(view: StratumView, looks: list[tuple[int, float]]) -> Step:
    """Tighten now, or draw on to one of the stratum's remaining ``looks`` (each: its draws and its δ)?

    Tightening now must find ``upper − known − allowed`` more errors. A later look is expected to leave a smaller
    bound (its hits at the draws' error rate) and so a smaller tightening after it, for the price of its new
    draws. The cheapest in reference frames wins. A stratum whose draws found no error is not ranked by them, so
    it draws on (or, with no look left, is labelled in full)."""
    pool = len(view.pool_rate)
    found = view.found
    if found == 0 or view.drawn <= 0:
        if looks:
            return Step(0, 0, "no error found yet: more draws")
        return Step(pool, -1, "no look left: every unlabelled frame to the reference")
    need_now = view.upper - view.known_errors - view.allowed
    k_now = frames_to_find(view, need_now)
    best = Step(
        pool if k_now is None else max(1, k_now),
        -1,
        "the errors left are not expected among fewer frames: every unlabelled frame"
        if k_now is None
        else f"about {need_now:,.0f} more errors expected among the {k_now:,} riskiest",
    )
    best_cost = float(pool if k_now is None else k_now)
    rate = found / view.drawn
    for j, (draws, delta) in enumerate(looks):
        if draws <= view.drawn:
            continue
        upper = hypergeom_upper(math.floor(rate * draws), view.size, draws, delta)
        new_errors = rate * (draws - view.drawn)  # the errors the new draws find and correct
        k = frames_to_find(view, upper - view.known_errors - new_errors - view.allowed)
        cost = (draws - view.drawn) + (pool if k is None else k)
        if cost < best_cost:
            best, best_cost = Step(0, j, f"look {j + 1} ahead is expected to cost less than tightening now"), cost
    return best
