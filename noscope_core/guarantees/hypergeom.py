"""The exact hypergeometric bound a certificate rests on: how many marked frames a population can hold, given
what a uniform draw without replacement found (its CDF from scipy.stats.hypergeom: exact, constant memory and
fast at any size — a sum of terms in numpy would need an array of hits × candidates, gigabytes when the planner
prices a day of footage with thousands of expected errors; tests check it against exact integer sums)."""

from __future__ import annotations

import numpy as np
from scipy.stats import hypergeom


def hypergeom_upper(hits: int, population: int, draws: int, delta: float) -> int:
    """Exact upper bound at 1 − δ of the number of marked frames in a population, from ``hits`` among
    ``draws`` drawn uniformly without replacement: the largest K with P(X ≤ hits | K) > δ."""
    if draws >= population:
        return hits
    lo = hits  # P(X <= hits | K = hits) = 1 > δ
    hi = population - (draws - hits)  # the most marked frames consistent with the draws
    if hypergeom_cdf(hits, population, np.array([hi]), draws)[0] > delta:
        return hi
    # the cdf falls as K grows: bracket the crossing on a coarse grid, then scan the bracket (two scipy calls)
    while hi - lo > 1:
        grid = np.unique(np.linspace(lo, hi, min(hi - lo + 1, 257)).round().astype(np.int64))
        above = hypergeom_cdf(hits, population, grid, draws) > delta
        last = int(np.flatnonzero(above)[-1])  # grid[0] = lo is above, grid[-1] = hi is not
        lo, hi = int(grid[last]), int(grid[last + 1])
    return lo


def hypergeom_cdf(hits: int, population: int, marked: np.ndarray, draws: int) -> np.ndarray:
    """P(X <= hits) for X ~ Hypergeometric(population, marked, draws), elementwise over ``marked``."""
    marked = np.asarray(marked, dtype=np.int64)
    return np.minimum(1.0, hypergeom.cdf(int(hits), int(population), marked, int(draws)))
