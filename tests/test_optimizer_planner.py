"""The certified planner: the answer's shape, the certificate's expected bill, and the data model that keeps them."""

from __future__ import annotations

import json

from noscope_core.cascade.routing import CascadeConfig
from noscope_core.optimizer.candidate import Candidate
from noscope_core.optimizer.certified_cost import AnswerShape, certified_estimate, expected_certify_frames


def _shape(fnr: float, n: int = 10_000, positives: int = 2_200, fpr: float = 0.002) -> AnswerShape:
    return AnswerShape.of_counts(n, positives, fnr * positives, fpr * (n - positives), n_ref=200, ref_positive=150)


def test_candidate_keeps_its_certified_estimate_through_json():
    shape = _shape(0.003)
    est = certified_estimate(shape, 0.5, 50.0, 36_000, 0.01, 0.01, 0.95)
    cand = Candidate(
        CascadeConfig(skip=2, model_name="m", c_low=0.2, c_high=0.8),
        0.003,
        0.002,
        0.5,
        0.02,
        100.0,
        answer_shape=shape,
        footage_frames=est.footage_frames,
        expected_certify_frames=est.certify_frames,
        expected_certified_cost_ms=est.cost_ms,
        expected_speedup_certified=est.speedup,
    )
    back = Candidate.from_dict(json.loads(json.dumps(cand.to_dict())))
    assert back == cand
    assert back.expected_speedup_certified == 50.0 / back.expected_certified_cost_ms
    # an artifact written before the planner reads back with no estimate
    old = {k: v for k, v in cand.to_dict().items() if k not in ("answer_shape", "footage_frames")}
    old = {k: v for k, v in old.items() if not k.startswith("expected_")}
    assert Candidate.from_dict(old).expected_certified_cost_ms is None


def test_the_certificate_costs_about_the_same_however_long_the_answer():
    # no error to find: the draws are set by the target and the positive share, not by N
    short, long = (expected_certify_frames(_shape(0.0), n, 0.01, 0.01, 0.95) for n in (36_000, 216_000))
    assert 1_000 < short < 5_000 and abs(long - short) / short < 0.05


def test_errors_near_the_target_cost_tightening_on_top_of_the_draws():
    n = 216_000
    clean, near, over = (expected_certify_frames(_shape(f), n, 0.01, 0.01, 0.95) for f in (0.001, 0.008, 0.03))
    assert clean < near < over <= n
