"""With a confidence level, the optimizer's targets are promises about unseen footage, not about luck."""

from __future__ import annotations

import numpy as np
import pytest

from noscope_core.cascade.costs import StageCosts
from noscope_core.common.errors import QueryError
from noscope_core.guarantees.bounds import max_errors_proven
from noscope_core.optimizer.options import SearchOptions
from noscope_core.optimizer.search import search_cascades
from noscope_core.spec.camera import Targets

COSTS = StageCosts({}, {"m": 0.5}, reference_ms=60.0)


def _segment(n: int, seed: int = 0, noise: float = 0.0, run: int = 20):
    rng = np.random.default_rng(seed)
    truth = np.repeat(rng.random(n // run + 1) < 0.3, run)[:n]
    scores = np.where(truth, 0.9, 0.1) + rng.normal(0, noise, n) if noise else np.where(truth, 0.9, 0.1)
    return truth, {"m": np.clip(scores, 0, 1).astype(np.float32)}


def test_small_segment_cannot_promise_the_target_so_the_optimizer_falls_back_and_says_how_much_more_footage():
    truth, models = _segment(3000)
    plain = search_cascades(truth, models, {}, {}, COSTS, SearchOptions.point(0.01, 0.01, skips=(1,)))
    assert not plain.fell_back and plain.best.config.model_name == "m"
    strict = search_cascades(
        truth, models, {}, {}, COSTS, SearchOptions(Targets(0.01, 0.01, 0.95), certify=False, skips=(1,), fps=10)
    )
    assert strict.fell_back and strict.best.config.is_reference_only
    reason = strict.reason
    assert "0.95 confidence" in reason and "positive events" in reason and "more frames" in reason
    assert "minutes" in reason or "hours" in reason
    assert "-" not in reason.split("segment;")[-1].replace("t-", "")  # no negative counts anywhere
    assert strict.confidence == 0.95 and strict.unit_frames >= 20


def test_the_same_frames_in_shorter_runs_are_more_evidence():
    """Evidence counts blocks, not frames: 20-frame runs make 20x fewer independent events than 1-frame runs."""
    long_runs, models = _segment(20000, run=20)
    res = search_cascades(
        long_runs, models, {}, {}, COSTS, SearchOptions(Targets(0.01, 0.01, 0.95), certify=False, skips=(1,))
    )
    assert res.fell_back and "positive events" in res.reason
    as_frames = search_cascades(
        long_runs,
        models,
        {},
        {},
        COSTS,
        SearchOptions(Targets(0.01, 0.01, 0.95), certify=False, skips=(1,), unit_frames=1),
    )
    assert not as_frames.fell_back


def test_large_segment_with_a_good_model_gets_a_cheap_cascade_with_bounds_within_the_targets():
    truth, models = _segment(400000, run=5)
    res = search_cascades(
        truth, models, {}, {}, COSTS, SearchOptions(Targets(0.01, 0.01, 0.95), certify=False, skips=(1,))
    )
    assert not res.fell_back
    assert res.best.speedup > 10
    assert res.best.fnr_bound <= 0.01 and res.best.fpr_bound <= 0.01
    allowed = max_errors_proven(int(truth.sum()), len(truth), res.unit_frames, 0.01, 0.95)
    assert res.best.fnr * truth.sum() <= allowed
    assert all(c.fnr_bound is not None and c.fnr_bound >= c.fnr for c in res.frontier)


def test_zero_targets_at_a_confidence_always_fall_back_and_say_it_cannot_be_proven():
    truth, models = _segment(20000, run=5)
    res = search_cascades(
        truth, models, {}, {}, COSTS, SearchOptions(Targets(0.0, 0.01, 0.95), certify=False, skips=(1,))
    )
    assert res.fell_back and "raise the target above 0" in res.reason


@pytest.mark.parametrize("bad", [1.0, 0.0, -0.5, True])
def test_confidence_outside_unit_interval_is_rejected(bad):
    truth, models = _segment(300)
    with pytest.raises(QueryError):
        search_cascades(truth, models, {}, {}, COSTS, SearchOptions(Targets(0.01, 0.01, bad), certify=False))
