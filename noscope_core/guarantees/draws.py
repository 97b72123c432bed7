"""How many frames a certificate draws from each stratum: the zero-error plan, its looks, and a cap's split."""

from __future__ import annotations

import math
from collections.abc import Sized
from typing import Protocol

#: draws beyond the zero-error minimum at each look's δ (later looks grow by LOOK_GROWTH)
PLAN_SLACK = 1.5

#: looks per round and how the planned draws grow from one look to the next
LOOKS = 2
LOOK_GROWTH = 2.5


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


def look_draws(
    state: StrataSizes, n0: int, n1: int, look: int, max_fnr: float, max_fpr: float, delta: float, cap: float
) -> tuple[int, int]:
    """How many frames of U0 and U1 a look's sample holds (nested: at least the ``n0``, ``n1`` already drawn):
    the plan at the look's δ, grown by LOOK_GROWTH per look, never past a stratum's size (a second look once
    planned 4,065 draws from a 2,440-frame stratum, which skewed the split of ``cap``, the frames the round may
    hold in all, and the recorded counts)."""
    p0, p1 = plan_draws(state, max_fnr, max_fpr, delta)
    grow = LOOK_GROWTH**look
    p0 = min(len(state.u0), max(n0, math.ceil(p0 * grow)))
    p1 = min(len(state.u1), max(n1, math.ceil(p1 * grow)))
    if math.isfinite(cap):
        p0, p1 = _fit(p0, p1, int(cap))
        p0, p1 = max(p0, n0), max(p1, n1)
    return p0, p1


def _fit(n0: int, n1: int, left: int) -> tuple[int, int]:
    """Scale the plan down to the budget left, keeping its proportions."""
    left = max(0, left)
    if n0 + n1 <= left:
        return n0, n1
    if n0 + n1 == 0:
        return 0, 0
    a = int(left * n0 / (n0 + n1))
    return a, min(n1, left - a)
