"""With a confidence level, the optimizer's targets are promises about unseen frames, not about luck."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from noscope_core.costs import StageCosts
from noscope_core.errors import QueryError
from noscope_core.optimizer import max_errors_within, optimize

COSTS = StageCosts({}, {"m": 0.5}, reference_ms=60.0)


def _segment(n: int, seed: int = 0, noise: float = 0.0):
    rng = np.random.default_rng(seed)
    truth = np.repeat(rng.random(n // 20 + 1) < 0.3, 20)[:n]
    scores = np.where(truth, 0.9, 0.1) + rng.normal(0, noise, n) if noise else np.where(truth, 0.9, 0.1)
    return truth, {"m": np.clip(scores, 0, 1).astype(np.float32)}


def test_error_allowance_is_the_clopper_pearson_bound():
    assert max_errors_within(80, 0.01, None) == 0
    assert max_errors_within(1000, 0.01, None) == 10
    assert max_errors_within(80, 0.01, 0.95) == -1  # 0 of 80 cannot show a rate <= 1% at 95%
    k = max_errors_within(5000, 0.01, 0.95)
    assert 0 < k < 50
    assert binom.cdf(k, 5000, 0.01) <= 0.05 < binom.cdf(k + 1, 5000, 0.01)
    assert max_errors_within(5000, 0.0, 0.95) == -1


def test_small_segment_cannot_promise_the_target_so_the_optimizer_falls_back_and_says_why():
    truth, models = _segment(300)
    plain = optimize(truth, models, {}, {}, COSTS, 0.01, 0.01, skips=(1,))
    assert not plain.fell_back and plain.best.config.model_name == "m"
    strict = optimize(truth, models, {}, {}, COSTS, 0.01, 0.01, skips=(1,), confidence=0.95)
    assert strict.fell_back and strict.best.config.is_reference_only
    assert "confidence" in strict.reason and "label more footage" in strict.reason


def test_large_segment_with_a_good_model_still_gets_a_cheap_cascade_at_95_percent():
    truth, models = _segment(20000)
    res = optimize(truth, models, {}, {}, COSTS, 0.01, 0.01, skips=(1,), confidence=0.95)
    assert not res.fell_back
    assert res.best.speedup > 10
    assert res.best.fnr * truth.sum() <= max_errors_within(int(truth.sum()), 0.01, 0.95)


def test_confidence_outside_unit_interval_is_rejected():
    truth, models = _segment(300)
    with pytest.raises(QueryError):
        optimize(truth, models, {}, {}, COSTS, 0.01, 0.01, confidence=1.0)
