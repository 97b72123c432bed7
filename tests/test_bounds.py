"""The time-aware bounds: exact where they should be, valid by simulation, honest in their messages."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import beta

from noscope_core.common.errors import QueryError
from noscope_core.guarantees.bounds import (
    evidence_unit_frames,
    fnr_fpr_bounds,
    max_errors_proven,
    mean_lower,
    mean_upper,
    rate_bound,
    shortfall_sentence,
    zero_error_shortfall,
)


@pytest.mark.parametrize("n", [1, 10, 300, 5000])
def test_with_no_errors_the_upper_bound_is_clopper_pearson(n):
    assert np.isclose(float(mean_upper(0.0, n, 0.05)), beta.ppf(0.95, 1, n), rtol=1e-9)


def test_mean_bounds_cover_the_true_mean_of_bounded_variables_by_simulation():
    """Beta(0.3, 3) variables (skewed, mean 0.09), 20 per sample, 4,000 samples: each bound fails <= 5 %."""
    rng = np.random.default_rng(0)
    x = rng.beta(0.3, 3.0, (4000, 20))
    mu = 0.3 / 3.3
    means = x.mean(axis=1)
    assert np.mean(mean_upper(means, 20, 0.05) < mu) <= 0.05
    assert np.mean(mean_lower(means, 20, 0.05) > mu) <= 0.05
    assert np.array_equal(mean_upper(means, 20, 0.05) >= means, np.ones(4000, bool))


def test_evidence_unit_is_about_twice_the_mean_run_of_a_sparse_positive_chain():
    rng = np.random.default_rng(1)
    runs = np.stack([rng.geometric(1 / 270, 2000), rng.geometric(1 / 30, 2000)], axis=1).reshape(-1)
    labels = (np.repeat(np.arange(len(runs)), runs) % 2) == 1
    assert 35 <= evidence_unit_frames(labels) <= 80  # theory: (1 + λ) / (1 − λ) ≈ 53 for runs of 30 among 270
    assert evidence_unit_frames(rng.random(20000) < 0.2) <= 2  # independent frames: units of one frame
    assert evidence_unit_frames(np.zeros(100, bool)) == 1
    assert evidence_unit_frames([labels[:5000], labels[5000:9000]]) >= 20  # several stretches at once


def test_allowance_is_the_largest_error_count_whose_bound_meets_the_rate():
    for positives, n, unit in [(4000, 30000, 70), (900, 5000, 1), (300, 2000, 12)]:
        k = max_errors_proven(positives, n, unit, 0.1, 0.95)
        b = rate_bound(np.arange(positives + 1), positives, n, unit, 0.95)
        assert k == (int(np.flatnonzero(b <= 0.1)[-1]) if (b <= 0.1).any() else -1)


def test_bounds_of_a_labelling_report_units_and_exceed_the_measured_rates():
    truth = np.repeat(np.arange(400) % 5 == 0, 25)
    pred = truth.copy()
    pred[:10] = False
    b = fnr_fpr_bounds(truth, pred, 0.95)
    assert b.fn == 10 and b.fnr_bound > b.fnr and b.fpr_bound >= b.fpr == 0
    assert b.unit_frames >= 25 and b.positive_units == pytest.approx(b.positives / b.unit_frames)
    with pytest.raises(QueryError):
        fnr_fpr_bounds(truth, pred, 1.0)


def test_shortfall_says_how_much_footage_in_frames_and_time_without_negative_counts():
    short = zero_error_shortfall(300, 3000, 30, 0.01, 0.95)
    assert short.frames_needed > 3000 and short.more_frames == short.frames_needed - 3000
    # the footage it asks for would indeed prove the rate with no errors
    assert float(rate_bound(0, round(300 / 3000 * short.frames_needed), short.frames_needed, 30, 0.95)) <= 0.01
    text = shortfall_sentence("fnr <= 0.01", short, fps=10)
    assert "positive events" in text and "more frames" in text and "minutes" in text or "hours" in text
    assert "-" not in text
    assert "raise the target above 0" in shortfall_sentence("fnr <= 0", zero_error_shortfall(300, 3000, 30, 0, 0.95))


def test_shortfall_sentence_says_less_than_one_event_rather_than_about_zero():
    from noscope_core.guarantees.bounds import Shortfall, shortfall_sentence

    few = Shortfall(0.01, 0.95, 205, 420.0, 0.16, 86_100, 300)
    text = shortfall_sentence("fnr <= 0.01", few, fps=10)
    assert "this segment holds less than one:" in text and "about 0:" not in text
    some = Shortfall(0.01, 0.95, 44, 411.0, 2.2, 18_084, 199)
    assert "this segment holds about 2:" in shortfall_sentence("fnr <= 0.01", some, fps=10)
