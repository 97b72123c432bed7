"""The certified planner: the answer's shape, the certificate's expected bill, and the data model that keeps them."""

from __future__ import annotations

import json

import numpy as np
import pytest

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


def _planner_segment(n: int = 20_000, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    truth = np.repeat(rng.random(n // 20 + 1) < 0.25, 20)[:n]
    p = np.clip(np.where(truth, 0.85, 0.15) + rng.normal(0, 0.1, n), 0, 1)
    return truth, {"m": p}


def _plan(footage_frames: int, certify: bool = True, **kw):
    from noscope_core.cascade.costs import StageCosts
    from noscope_core.optimizer.options import SearchOptions
    from noscope_core.optimizer.search import search_cascades
    from noscope_core.spec.camera import Targets

    truth, models = _planner_segment()
    options = SearchOptions(
        Targets(0.01, 0.01, 0.95), certify=certify, footage_frames=footage_frames, skips=(1, 2, 5), fps=10.0, **kw
    )
    return search_cascades(truth, models, {}, {}, StageCosts({}, {"m": 0.5}, 50.0), options)


def test_same_scores_short_footage_falls_back_and_long_footage_gets_a_cascade():
    short, long = _plan(500), _plan(216_000)
    assert short.rule == long.rule == "certified"
    assert short.fell_back and short.best.config.is_reference_only
    assert "a certified answer pays from about" in short.reason and "at 10 fps" in short.reason
    assert not long.fell_back and long.best.expected_speedup_certified > 1.5
    assert long.best.footage_frames == 216_000 and long.footage_frames == 216_000
    # the estimate is the cascade's own cost plus the certificate's expected frames at the reference's price
    b = long.best
    assert b.expected_certified_cost_ms == pytest.approx(b.cost_ms + b.expected_certify_frames * 50.0 / 216_000)
    # the choice is the frontier's cheapest certified answer
    priced = [c for c in long.frontier if c.expected_certified_cost_ms is not None]
    assert b.expected_certified_cost_ms == min(c.expected_certified_cost_ms for c in priced)


def test_the_pays_from_length_is_where_the_fallback_turns_into_a_cascade():
    import re

    short = _plan(500)
    frames = int(re.search(r"pays from about ([\d,]+) frames", short.reason).group(1).replace(",", ""))
    assert not _plan(int(frames * 1.1)).fell_back
    assert _plan(int(frames * 0.8)).fell_back


def test_without_certification_the_bound_rule_chooses_and_reports_estimates():
    res = _plan(216_000, certify=False)
    assert res.rule == "bound" and res.footage_frames is None
    assert res.best.expected_certified_cost_ms is None
    if res.fell_back:
        assert "block-bound estimates" in res.reason and "uncorrected for the selection" in res.reason


def test_camera_footage_is_declared_in_frames_or_hours_and_defaults_to_an_hour():
    from pathlib import Path

    from noscope_core.common.errors import QueryError
    from noscope_core.spec.camera import CameraSpec
    from noscope_core.spec.query import Query
    from noscope_core.spec.registry import camera_from_dict

    base = {"id": "cam", "video": "v.mp4", "object": "person"}
    assert camera_from_dict({**base, "footage_hours": 6}).answer_frames(10.0) == 216_000
    assert camera_from_dict({**base, "footage_frames": 5000}).answer_frames(10.0) == 5000
    assert camera_from_dict(base).answer_frames(25.0) == 90_000
    # a single noscope query answers its test segment
    assert CameraSpec(Path("v.mp4"), Query("person")).answer_frames(10.0, test_frames=700) == 700
    for bad in ({"footage_hours": -1}, {"footage_frames": 1.5}, {"footage_hours": "six"}):
        with pytest.raises(QueryError, match="footage"):
            camera_from_dict({**base, **bad})
    with pytest.raises(QueryError, match="both"):
        camera_from_dict({**base, "footage_hours": 1, "footage_frames": 10})


def test_a_small_undecided_share_of_a_short_answer_is_charged_not_rounded_away():
    # 99.5 % of frames to the reference: on a 60-frame answer the undecided frames are 0.3 of a frame
    shape = AnswerShape.of_counts(1000, 200, 0, 0, 995, 199)
    assert expected_certify_frames(shape, 60, 0.0, 0.0, 0.999) >= 1
    # with 0 % targets no cascade that leaves a frame to its models is cheaper than the reference on every frame
    est = certified_estimate(shape, 19.9, 20.0, 60, 0.0, 0.0, 0.999)
    assert est.cost_ms > 20.0 and est.speedup < 1.0


def test_the_margin_estimate_prices_new_footage_with_more_errors_than_the_segment_showed():
    from noscope_core.optimizer.certified_cost import DRIFT_MARGIN, estimated_errors

    fn, fp = np.array([0, 10, 400]), np.array([5, 0, 900])
    mild = estimated_errors(fn, fp, positives=1_000, n=10_000, estimator="mild")
    margin = estimated_errors(fn, fp, positives=1_000, n=10_000, estimator="margin")
    point = estimated_errors(fn, fp, positives=1_000, n=10_000, estimator="point")
    assert np.all(mild[0] >= point[0]) and np.all(mild[1] >= point[1])
    # twice the mild estimate, never more than the whole class: 400 misses of 1,000 positives cannot become 1,000+
    assert np.allclose(margin[0][:2], DRIFT_MARGIN * mild[0][:2]) and margin[0][2] <= 1_000
    assert np.allclose(margin[1], DRIFT_MARGIN * mild[1]) and np.all(margin[1] <= 9_000)
    # a cascade priced with more errors costs the certificate more frames
    shape = AnswerShape.of_counts(10_000, 1_000, float(mild[0][1]), float(mild[1][1]), 0, 0)
    wider = AnswerShape.of_counts(10_000, 1_000, float(margin[0][1]), float(margin[1][1]), 0, 0)
    assert expected_certify_frames(wider, 200_000, 0.05, 0.05, 0.95) > expected_certify_frames(
        shape, 200_000, 0.05, 0.05, 0.95
    )


def test_a_camera_names_how_its_planner_estimates_errors_and_a_bad_name_is_refused():
    from noscope_core.common.errors import QueryError
    from noscope_core.spec.registry import camera_from_dict

    base = {"id": "cam", "video": "v.mp4", "object": "person"}
    assert camera_from_dict(base).planner_estimate is None  # the planner's default
    spec = camera_from_dict({**base, "planner_estimate": "mild"})
    assert spec.planner_estimate == "mild" and spec.to_dict()["planner_estimate"] == "mild"
    assert "planner_estimate" not in camera_from_dict(base).to_dict()  # undeclared: specs keyed as before
    with pytest.raises(QueryError, match="planner_estimate 'guess'.*choose one of point, mild, margin"):
        camera_from_dict({**base, "planner_estimate": "guess"})
