"""Stage costs are measured wall time per frame, and the cost table refuses impossible values."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest

from noscope_core.cascade.costs import StageCosts, measure_cost_ms, measure_stage_costs
from noscope_core.common.errors import ArtifactError


def test_measure_cost_ms_reports_per_frame_time_of_batched_calls():
    calls = []

    def slow(batch):
        calls.append(len(batch))
        time.sleep(0.004)

    ms = measure_cost_ms(slow, np.zeros((10, 2, 2, 3), np.uint8), batch_size=5, repeats=3)
    # two batches of 5 per repeat, each at least 4 ms → at least 0.8 ms per frame
    assert ms >= 0.8
    assert calls == [5] + [5, 5] * 3  # one warm-up batch, then every frame in every repeat


def test_measure_cost_ms_rejects_empty_input():
    with pytest.raises(ValueError, match="at least one frame"):
        measure_cost_ms(lambda b: None, np.zeros((0, 2)))


def test_stage_costs_round_trip_and_validate():
    costs = StageCosts({"dd": 0.01}, {"cnn": 0.5}, 50)
    assert StageCosts.from_dict(costs.to_dict()) == costs
    assert isinstance(costs.reference_ms, float)
    with pytest.raises(ArtifactError, match="reference cost"):
        StageCosts({}, {}, 0.0)
    with pytest.raises(ArtifactError, match="negative or not finite"):
        StageCosts({"dd": -1.0}, {}, 1.0)


def test_measure_stage_costs_times_previous_dds_against_other_frames():
    seen = []

    class DD:
        spec = SimpleNamespace(name="prev", reference="previous")

        def score(self, frames, previous=None):
            seen.append(previous is not None and previous.shape == frames.shape)
            return np.zeros(len(frames))

    model = SimpleNamespace(predict_proba=lambda f: np.zeros(len(f)))
    costs = measure_stage_costs(np.zeros((8, 2, 2, 3), np.uint8), {"prev": DD()}, {"cnn": model}, 40.0, repeats=1)
    assert set(costs.dd_ms) == {"prev"} and set(costs.model_ms) == {"cnn"} and costs.reference_ms == 40.0
    assert seen and all(seen)
