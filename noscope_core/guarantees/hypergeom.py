"""The exact hypergeometric bound a certificate rests on: how many marked frames a population can hold, given
what a uniform draw without replacement found (its CDF from scipy.special.gammaln; scipy.stats.hypergeom agrees,
see tests, but is 70× slower on arrays)."""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln


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

    def log_choose(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
        return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)

    x = np.arange(hits + 1, dtype=np.float64)[:, None]
    k = np.asarray(marked, dtype=np.float64)[None, :]
    possible = (x <= k) & (draws - x <= population - k)
    with np.errstate(invalid="ignore"):
        log_p = log_choose(k, x) + log_choose(population - k, draws - x) - log_choose(population, draws)
    return np.minimum(1.0, np.where(possible, np.exp(log_p), 0.0).sum(axis=0))
