"""How many frames a certificate draws from each stratum: the zero-error plan, its looks, and a cap's split."""

from __future__ import annotations

import math
from collections.abc import Sized
from typing import Protocol

#: draws beyond the zero-error minimum at each look's δ (later looks grow by LOOK_GROWTH)
PLAN_SLACK = 1.5

#: how the planned draws grow from one look to the next, and the most looks a stratum is drawn at (the last
#: ones reach any stratum: 2.5^11 is over 23,000 times the first look)
LOOK_GROWTH = 2.5
MAX_LOOKS = 12


class StrataSizes(Protocol):
    """What :func:`plan_draws` reads of a round: the two undecided strata (their lengths) and the known classes."""

    @property
    def u0(self) -> Sized: ...
    @property
    def u1(self) -> Sized: ...
    @property
    def pos_known(self) -> int: ...
    @property
    def neg_known(self) -> int: ...


class Strata:
    """A certificate's strata by their sizes alone (what :func:`plan_draws` reads): |U0|, |U1| and the known
    classes."""

    def __init__(self, u0: int, u1: int, pos_known: int, neg_known: int) -> None:
        self.u0, self.u1 = range(max(0, u0)), range(max(0, u1))  # only their lengths are read
        self.pos_known, self.neg_known = pos_known, neg_known


def plan_draws(state: StrataSizes, max_fnr: float, max_fpr: float, delta: float) -> tuple[int, int]:
    """Draws from U0 and U1 that would prove both targets if no error were found, times PLAN_SLACK.

    Zero errors found bounds a stratum's errors by about |U|·ln(2/δ)/draws; the target allows about
    t·P/(1 − t) misses, with P at least the known positives plus U1. Capped at the stratum sizes.
    """
    level = math.log(2.0 / delta)

    def need(size: int, rate: float, other: int) -> int:
        if size == 0:
            return 0
        if rate <= 0:
            return size  # only labelling every frame proves a zero rate
        allowed = rate * other / (1.0 - rate) if rate < 1 else float(size)
        if allowed < 1:
            return size
        return min(size, math.ceil(PLAN_SLACK * size * level / allowed))

    n0 = need(len(state.u0), max_fnr, state.pos_known + len(state.u1))
    n1 = need(len(state.u1), max_fpr, state.neg_known + len(state.u0))
    return n0, n1


def look_delta(delta: float, look: int) -> float:
    """Look ``look``'s (0-based) share of one stratum's δ (half the certificate's): δ/2 · 2^-(look+1), so the
    shares of every look sum to at most δ/2 however many are drawn."""
    return 0.5 * delta * 0.5 ** (look + 1)


def look_sizes(state: StrataSizes, max_fnr: float, max_fpr: float, deltas: list[float]) -> list[list[int]]:
    """Each stratum's draws at each look (U0's list, then U1's), fixed before anything is drawn: the plan at the
    look's δ (``deltas[look]``), grown by LOOK_GROWTH per look, strictly growing, the last one the whole stratum."""
    sizes: list[list[int]] = [[], []]
    for look, delta in enumerate(deltas):
        p0, p1 = plan_draws(state, max_fnr, max_fpr, delta)
        grow = LOOK_GROWTH**look
        for side, (planned, size) in enumerate(((p0, len(state.u0)), (p1, len(state.u1)))):
            want = min(size, math.ceil(planned * grow))
            prior = sizes[side]
            if size and (not prior or (want > prior[-1] and prior[-1] < size)):
                prior.append(want)
    for side, size in enumerate((len(state.u0), len(state.u1))):
        if sizes[side] and sizes[side][-1] < size:
            sizes[side][-1] = size  # the last look labels the stratum in full: its bound is then exact
    return sizes


def fit_budget(n0: int, n1: int, left: int) -> tuple[int, int]:
    """Scale the plan down to the budget left, keeping its proportions."""
    left = max(0, left)
    if n0 + n1 <= left:
        return n0, n1
    if n0 + n1 == 0:
        return 0, 0
    a = int(left * n0 / (n0 + n1))
    return a, min(n1, left - a)
