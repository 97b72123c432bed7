"""benchmarks.risk_order's measure of a risk order: which share of the errors lies in the riskiest q of a stratum."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.risk_order import caught, flat_rank
from noscope_core.cascade.routing import Route


def test_errors_are_placed_by_the_frames_riskier_than_them_and_half_their_tie():
    risk = np.arange(100, dtype=float)  # frame 99 riskiest
    stratum = np.ones(100, dtype=bool)
    shares = caught(risk, stratum, np.array([99, 98, 50]))
    assert shares["0.01"] == pytest.approx(1 / 3) and shares["0.02"] == pytest.approx(2 / 3)
    assert shares["0.2"] == pytest.approx(2 / 3)  # frame 50 has 49 riskier frames: rank 0.495
    tied = np.zeros(100)  # one tie: every error sits at its middle
    assert caught(tied, stratum, np.array([0, 1]))["0.2"] == 0.0
    assert caught(risk, stratum, np.array([], dtype=int))["0.05"] is None


def test_the_flat_rank_puts_every_frame_the_cascade_never_looked_at_on_one_rank():
    routes = np.array([Route.SKIPPED, Route.DD_CARRY, Route.DD_ABSENT, Route.MODEL_ABSENT, Route.REFERENCE])
    risk = np.array([0.1, 0.2, 0.3, 0.9, -np.inf])
    assert flat_rank(risk, routes).tolist() == [2.0, 2.0, 2.0, 0.9, -np.inf]
