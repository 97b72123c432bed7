"""Error rates and positive intervals: the numbers every report is built from."""

from __future__ import annotations

import numpy as np
import pytest

from noscope_core.cascade.evaluate import Interval, error_rates, intervals, positive_intervals


def test_error_rates_count_misses_over_positives_and_false_alarms_over_negatives():
    truth = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], bool)
    pred = np.array([1, 0, 1, 1, 1, 0, 0, 0, 0, 0], bool)
    r = error_rates(pred, truth)
    assert (r.fn, r.fp, r.positives, r.negatives) == (1, 1, 4, 6)
    assert r.fnr == pytest.approx(0.25) and r.fpr == pytest.approx(1 / 6)
    assert r.error == pytest.approx(0.25)
    assert r.to_dict()["fn"] == 1


def test_fnr_is_zero_without_positives_and_fpr_zero_without_negatives():
    r = error_rates(np.array([1, 0, 1], bool), np.zeros(3, bool))
    assert r.fnr == 0.0 and r.fpr == pytest.approx(2 / 3) and r.positives == 0
    r = error_rates(np.array([1, 0, 1], bool), np.ones(3, bool))
    assert r.fpr == 0.0 and r.fnr == pytest.approx(1 / 3) and r.negatives == 0
    r = error_rates(np.zeros(0, bool), np.zeros(0, bool))
    assert (r.fnr, r.fpr, r.positives, r.negatives) == (0.0, 0.0, 0, 0)


def test_error_rates_refuse_mismatched_lengths():
    with pytest.raises(ValueError, match="3 frames but the truth covers 2"):
        error_rates(np.zeros(3, bool), np.zeros(2, bool))


def test_positive_intervals_are_half_open_runs_including_the_edges():
    labels = np.array([1, 1, 0, 0, 1, 0, 1, 1], bool)
    assert positive_intervals(labels) == [(0, 2), (4, 5), (6, 8)]
    assert positive_intervals(np.zeros(5, bool)) == []
    assert positive_intervals(np.ones(3, bool)) == [(0, 3)]
    assert positive_intervals(np.zeros(0, bool)) == []


def test_positive_intervals_use_source_frame_numbers_and_split_at_gaps():
    labels = np.array([1, 1, 1, 0, 1], bool)
    assert positive_intervals(labels, np.arange(100, 105)) == [(100, 103), (104, 105)]
    # frames 12 and 13 were never labelled: the run must not claim them
    assert positive_intervals(np.ones(4, bool), np.array([10, 11, 14, 15])) == [(10, 12), (14, 16)]
    with pytest.raises(ValueError, match="frame_index"):
        positive_intervals(labels, np.arange(3))


def test_intervals_carry_timestamps_from_the_frame_rate():
    ivs = intervals(np.array([0, 1, 1, 0], bool), np.arange(20, 24), fps=10.0)
    assert ivs == [Interval(21, 23, 2.1, 2.3)]
    assert ivs[0].n_frames == 2
    assert intervals(np.array([1], bool)) == [Interval(0, 1, None, None)]
    with pytest.raises(ValueError, match="frame rate"):
        intervals(np.array([1], bool), fps=0)
