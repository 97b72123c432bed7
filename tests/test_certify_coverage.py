"""The certificate's coverage is the promise: tests with the power to catch a bound that is too loose.

* Exact: for small populations every possible count K of marked frames is enumerated with the exact
  hypergeometric law, and P(K > hypergeom_upper(X)) ≤ δ must hold for every K; a bound computed at 10·δ breaks it.
* Adversarial: the misses are clumped in time on the frames the cascade is surest about (lowest risk), where
  tightening never looks, so only the random draws stand between the adversary and a broken promise; a bound
  shaved by a margin is broken in many runs.
* Drifting footage with the default (no cap): every answer is certified, and its realized FNR / FPR exceed the
  certified bounds in at most δ of the runs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from noscope_core.cascade.evaluate import error_rates
from noscope_core.guarantees import certificate
from noscope_core.guarantees.certificate import Decisions, certify
from noscope_core.guarantees.hypergeom import hypergeom_upper
from tests.test_certify import Reference, _drifting


def _miss_probability(upper, population: int, draws: int, delta: float) -> float:
    """max over K of P(K > upper(X)), X ~ Hypergeometric(population, K, draws), by exact enumeration."""
    worst = 0.0
    total = math.comb(population, draws)
    bounds = [upper(x, population, draws, delta) for x in range(draws + 1)]
    for k in range(population + 1):
        p = sum(
            math.comb(k, x) * math.comb(population - k, draws - x)
            for x in range(max(0, draws - population + k), min(k, draws) + 1)
            if bounds[x] < k
        )
        worst = max(worst, p / total)
    return worst


@pytest.mark.parametrize("delta", [0.05, 0.2])
@pytest.mark.parametrize("population", [12, 30, 60])
def test_the_hypergeometric_bound_covers_every_possible_count_exactly(population, delta):
    for draws in sorted({1, 3, population // 4, population // 2, population - 1}):
        assert _miss_probability(hypergeom_upper, population, draws, delta) <= delta + 1e-12


def test_the_enumeration_catches_a_bound_computed_at_ten_times_delta():
    loose = [
        _miss_probability(lambda x, n, d, delta: hypergeom_upper(x, n, d, 10 * delta), 60, draws, 0.05)
        for draws in (5, 15, 30)
    ]
    assert max(loose) > 0.05, loose


def _adversarial(n: int = 10_000, positives: int = 2000, misses: int = 300, seed: int = 0):
    """Positives in one stretch; the answer misses a clump of them, on the frames it is surest about."""
    truth = np.zeros(n, dtype=bool)
    truth[3000 : 3000 + positives] = True
    labels = truth.copy()
    labels[3000 : 3000 + misses] = False
    risk = np.random.default_rng(seed).uniform(0.2, 1.0, n)
    risk[3000 : 3000 + misses] = 0.0  # tightening sends the riskiest frames first: these last
    return truth, Decisions(labels, np.zeros(n, dtype=bool), risk)


def _broken_share(truth: np.ndarray, answer: Decisions, runs: int, **kw) -> float:
    broken = 0
    for seed in range(runs):
        cert = certify(answer, Reference(truth), 0.05, 0.05, 0.95, seed=seed, **kw)
        real = error_rates(cert.labels, truth)
        broken += real.fnr > cert.fnr_bound or real.fpr > cert.fpr_bound
    return broken / runs


@pytest.mark.slow  # many adversarial certifications
def test_misses_clumped_where_the_cascade_is_surest_stay_within_the_certified_bound(monkeypatch):
    """Observed (seeds 0-399): the exact bound broken in 0.25 % of runs, shaved to 70 % of itself in 68.5 %
    (computed at 10·δ: 6.5 %, too close to δ to assert here; the enumeration above catches that one exactly)."""
    truth, answer = _adversarial()
    assert error_rates(answer.labels, truth).fnr > 0.05  # the promise the adversary wants certified
    capped = {"budget_frames": 1500, "tighten": False, "max_looks": 1}  # only the first look's draws decide
    assert _broken_share(truth, answer, 400, **capped) <= 0.05

    exact = certificate.hypergeom_upper
    monkeypatch.setattr(
        certificate, "hypergeom_upper", lambda hits, n, draws, delta: max(hits, int(0.7 * exact(hits, n, draws, delta)))
    )
    assert _broken_share(truth, answer, 400, **capped) > 0.15  # the same test catches a loosened bound


@pytest.mark.slow  # many simulated drifting answers
def test_unbounded_tightening_certifies_every_drifting_answer_and_its_bounds_hold():
    """Observed (200 videos of 6,000 frames, 8 % of positives missed before certification): all certified at
    5 %/5 %, realized error above the bound in 1 (0.5 %), spending 61 % of the frames on average (short videos
    are where certifying costs most: about ln(2/δ)/(t·p) frames whatever the length)."""
    rng = np.random.default_rng(11)
    runs, broken = 200, 0
    for v in range(runs):
        truth, answer = _drifting(rng, n=6000)
        cert = certify(answer, Reference(truth), 0.05, 0.05, 0.95, seed=v)
        assert cert.certified, cert.reason
        real = error_rates(cert.labels, truth)
        broken += real.fnr > cert.fnr_bound or real.fpr > cert.fpr_bound
    assert broken / runs <= 0.05


def _found_and_hidden(n: int = 20_000, positives: int = 4000, found: int = 150, hidden: int = 110, seed: int = 0):
    """Misses of two kinds: ``found`` at the top of the risk order (tightening finds them) and ``hidden`` in one
    clump at the bottom (only the draws can bound them); the frames said present are right."""
    truth = np.zeros(n, dtype=bool)
    truth[5000 : 5000 + positives] = True
    labels = truth.copy()
    labels[5000 : 5000 + found + hidden] = False
    risk = np.random.default_rng(seed).uniform(0.2, 0.8, n)
    risk[5000 : 5000 + found] = 1.0
    risk[5000 + found : 5000 + found + hidden] = 0.0
    return truth, Decisions(labels, np.zeros(n, dtype=bool), risk)


@pytest.mark.slow  # many certifications that tighten
def test_errors_found_by_tightening_are_subtracted_and_the_bound_still_covers_what_is_hidden(monkeypatch):
    """The stratum's bound (from the draws) less every error the reference found: valid whatever the tightening
    chose. Observed (seeds 0-299): broken in 0.7 % of runs with the exact bound, in 32 % with it shaved to 70 %."""
    truth, answer = _found_and_hidden()
    assert error_rates(answer.labels, truth).fnr > 0.05  # tightening must correct some of it to certify
    runs = 300
    exact_share = _broken_share(truth, answer, runs)
    assert exact_share <= 0.05
    certs = [certify(answer, Reference(truth), 0.05, 0.05, 0.95, seed=s) for s in range(5)]
    assert all(c.certified and c.frames_tightened > 0 for c in certs)  # the subtraction is what certifies

    exact = certificate.hypergeom_upper
    monkeypatch.setattr(
        certificate, "hypergeom_upper", lambda hits, n, draws, delta: max(hits, int(0.7 * exact(hits, n, draws, delta)))
    )
    assert _broken_share(truth, answer, runs) > 0.15  # the same test catches a loosened bound
