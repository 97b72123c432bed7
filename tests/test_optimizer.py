"""The optimizer meets its targets at the lowest cost, says the truth about its choice, and falls back honestly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from noscope_core.cascade.costs import StageCosts
from noscope_core.cascade.evaluate import error_rates
from noscope_core.cascade.routing import CascadeConfig, Route, dd_routes, range_dd_scores, simulate
from noscope_core.common.errors import ArtifactError, DegenerateLabelsError, QueryError
from noscope_core.optimizer.options import SearchOptions
from noscope_core.optimizer.prefix_errors import coverage, dd_plan, model_grid, pair_errors, rank_reaching
from noscope_core.optimizer.search import score_config, search_cascades

KINDS = {"bg": "background", "prev": "previous"}


def make_segment(n: int = 3000, seed: int = 0):
    """Truth in runs (objects come and go), a noisy model, a perfect one, and two DDs that see change."""
    rng = np.random.default_rng(seed)
    run_len = rng.integers(5, 60, size=n)
    values = rng.random(n) < 0.3
    truth = np.repeat(values, run_len)[:n]
    models = {
        "noisy": np.clip(truth * 0.45 + rng.random(n) * 0.55, 0, 1).astype(np.float32),
        "perfect": (truth * 0.8 + 0.1).astype(np.float32),
    }
    activity = truth * 1.0 + rng.random(n) * 0.4
    latent = np.cumsum(np.abs(np.diff(truth.astype(float), prepend=0)) + rng.random(n) * 0.05)

    def dd_scores(name: str, skip: int) -> np.ndarray:
        if name == "bg":
            return activity
        out = np.full(n, np.nan)
        out[skip:] = latent[skip:] - latent[:-skip]
        return out

    return truth, models, dd_scores


COSTS = StageCosts({"bg": 0.02, "prev": 0.03}, {"noisy": 0.5, "perfect": 0.5}, reference_ms=60.0)


def check_claims(candidate, truth, models, dd_scores, costs=COSTS):
    """A candidate's claimed rates and cost equal plain simulation of its config."""
    c = candidate.config
    dd = dd_scores(c.dd_name, c.skip) if c.dd_name else None
    sim = score_config(c, truth, dd, models.get(c.model_name), costs)
    assert (sim.fnr, sim.fpr) == (candidate.fnr, candidate.fpr), c.describe()
    assert sim.cost_ms == pytest.approx(candidate.cost_ms, rel=1e-12)
    assert sim.reference_fraction == pytest.approx(candidate.reference_fraction, rel=1e-12)
    labels, _ = simulate(c, truth, dd, models.get(c.model_name))
    rates = error_rates(labels, truth)
    assert (rates.fnr, rates.fpr) == (candidate.fnr, candidate.fpr)


def test_optimizer_meets_targets_and_its_claims_equal_simulation():
    truth, models, dd = make_segment()
    noisy_only = {"noisy": models["noisy"]}
    res = search_cascades(truth, noisy_only, dd, KINDS, COSTS, SearchOptions.point(0.05, 0.05))
    assert not res.fell_back and res.reason is None
    assert res.best.fnr <= 0.05 and res.best.fpr <= 0.05
    assert res.best.speedup > 1 and res.best.cost_ms < COSTS.reference_ms
    assert res.best.speedup == pytest.approx(COSTS.reference_ms / res.best.cost_ms)
    check_claims(res.best, truth, noisy_only, dd)
    assert res.n_evaluated > 1000


def test_best_is_the_cheapest_feasible_point_of_the_search():
    truth, models, dd = make_segment(seed=1)
    res = search_cascades(truth, models, dd, KINDS, COSTS, SearchOptions.point(0.02, 0.02))
    # nothing on the frontier is cheaper and also feasible
    cheaper_feasible = [c for c in res.frontier if c.cost_ms < res.best.cost_ms and c.fnr <= 0.02 and c.fpr <= 0.02]
    assert cheaper_feasible == []


def test_frontier_is_monotone_and_every_point_tells_the_truth():
    truth, models, dd = make_segment(seed=2)
    res = search_cascades(truth, {"noisy": models["noisy"]}, dd, KINDS, COSTS, SearchOptions.point(0.05, 0.05))
    costs = [c.cost_ms for c in res.frontier]
    errors = [c.error for c in res.frontier]
    assert len(res.frontier) > 2
    assert all(a < b for a, b in zip(costs, costs[1:], strict=False))
    assert all(a > b for a, b in zip(errors, errors[1:], strict=False))
    assert res.frontier[-1].error == 0.0  # reference-only (or an exact cheaper cascade) ends it
    for cand in res.frontier:
        check_claims(cand, truth, {"noisy": models["noisy"]}, dd)


@pytest.mark.parametrize("skip", [1, 3, 10])
@pytest.mark.parametrize("dd_name", [None, "bg", "prev"])
def test_prefix_sum_fast_path_equals_simulate_for_every_threshold_pair(skip, dd_name):
    truth, models, dd = make_segment(n=400, seed=skip)
    p_all = models["noisy"].astype(np.float64)
    cov = coverage(truth, skip)
    scores = None if dd_name is None else dd(dd_name, skip)
    thresholds = [0.0] if dd_name is None else list(np.nanquantile(scores, [0.2, 0.5]))
    for thr in thresholds:
        config = CascadeConfig(skip, dd_name, float(thr), KINDS.get(dd_name), "noisy")
        routes = dd_routes(config, range_dd_scores(config, scores, cov.positions))
        plan = dd_plan(routes, cov)
        p_eval = p_all[cov.positions]
        ranked = rank_reaching(plan, p_eval, np.argsort(p_eval, kind="stable"))
        grid = model_grid(ranked.p, 12)
        lo, hi = np.triu_indices(len(grid))
        fn, fp, n_ref = pair_errors(plan.fn_fixed, ranked, grid[lo], grid[hi])
        for k in range(len(lo)):
            pair = CascadeConfig(**{**config.to_dict(), "c_low": float(grid[lo[k]]), "c_high": float(grid[hi[k]])})
            labels, sim_routes = simulate(pair, truth, scores, p_all)
            rates = error_rates(labels, truth)
            assert (rates.fn, rates.fp) == (fn[k], fp[k])
            assert np.count_nonzero(sim_routes == Route.REFERENCE) == n_ref[k]


def test_useless_models_fall_back_to_the_reference_and_say_why():
    rng = np.random.default_rng(5)
    n = 2000
    truth = rng.random(n) < 0.3  # flickering truth: skipping or carrying errs too
    models = {"noisy": rng.random(n)}
    junk = rng.random(n)
    res = search_cascades(
        truth, models, lambda name, skip: junk, {"bg": "background"}, COSTS, SearchOptions.point(0.01, 0.01)
    )
    assert res.fell_back
    assert res.best.config.is_reference_only and res.best.speedup == 1.0
    assert (res.best.fnr, res.best.fpr, res.best.reference_fraction) == (0.0, 0.0, 1.0)
    assert "no cascade cheaper than the reference met fnr <= 0.01" in res.reason
    assert "closest" in res.reason


def test_zero_targets_choose_a_perfect_model_with_a_huge_speedup():
    truth, models, dd = make_segment(seed=3)
    # the noisy model costs more: with the "bg" DD in front it can be exact too, and would tie on cost
    costs = StageCosts(COSTS.dd_ms, {"noisy": 2.0, "perfect": 0.5}, COSTS.reference_ms)
    res = search_cascades(truth, models, dd, KINDS, costs, SearchOptions.point(0.0, 0.0))
    assert not res.fell_back
    assert (res.best.fnr, res.best.fpr) == (0.0, 0.0)
    assert res.best.config.model_name == "perfect" and res.best.reference_fraction == 0.0
    assert res.best.speedup >= 100  # 60 ms reference vs at most 0.53 ms of cheap stages
    check_claims(res.best, truth, models, dd, costs)


def test_skipping_with_the_reference_alone_is_in_the_search_space():
    truth, _, _ = make_segment(seed=4)
    res = search_cascades(truth, {}, {}, {}, StageCosts({}, {}, 60.0), SearchOptions.point(0.05, 0.05))
    best = res.best.config
    assert best.skip > 1 and best.dd_name is None and best.model_name is None
    assert res.best.speedup == pytest.approx(best.skip, rel=0.01)
    assert res.best.fnr <= 0.05 and res.best.fpr <= 0.05


def test_reference_only_is_searched_even_when_skips_exclude_one():
    rng = np.random.default_rng(6)
    truth = rng.random(500) < 0.5
    res = search_cascades(truth, {}, {}, {}, StageCosts({}, {}, 10.0), SearchOptions.point(0.0, 0.0, skips=(5, 10)))
    assert res.fell_back and res.best.config == CascadeConfig.reference_only()


def test_safety_margin_demands_rates_below_the_targets_less_the_margin():
    truth, models, dd = make_segment(seed=7)
    plain = search_cascades(truth, {"noisy": models["noisy"]}, dd, KINDS, COSTS, SearchOptions.point(0.1, 0.1))
    careful = search_cascades(
        truth, {"noisy": models["noisy"]}, dd, KINDS, COSTS, SearchOptions.point(0.1, 0.1, safety_margin=0.05)
    )
    assert careful.best.fnr <= 0.05 and careful.best.fpr <= 0.05
    assert careful.best.cost_ms >= plain.best.cost_ms


def test_dd_scores_may_be_given_as_a_mapping():
    truth, models, dd = make_segment(n=600, seed=8)
    skips = (1, 4)
    table = {("bg", 1): dd("bg", 1), **{("prev", s): dd("prev", s) for s in skips}}
    a = search_cascades(
        truth, {"noisy": models["noisy"]}, dd, KINDS, COSTS, SearchOptions.point(0.05, 0.05, skips=skips)
    )
    b = search_cascades(
        truth, {"noisy": models["noisy"]}, table, KINDS, COSTS, SearchOptions.point(0.05, 0.05, skips=skips)
    )
    assert a.best == b.best and a.n_evaluated == b.n_evaluated
    with pytest.raises(ArtifactError, match="no scores for difference detector 'prev' at skip 2"):
        search_cascades(truth, {}, table, KINDS, COSTS, SearchOptions.point(0.05, 0.05, skips=(2,)))


def test_degenerate_threshold_labels_are_refused():
    with pytest.raises(DegenerateLabelsError, match="no positive"):
        search_cascades(np.zeros(50, bool), {}, {}, {}, COSTS, SearchOptions.point(0.1, 0.1))
    with pytest.raises(DegenerateLabelsError, match="no negative"):
        search_cascades(np.ones(50, bool), {}, {}, {}, COSTS, SearchOptions.point(0.1, 0.1))


def test_bad_inputs_raise_actionable_errors():
    truth, models, dd = make_segment(n=100)
    with pytest.raises(ArtifactError, match="scores for 99 frames"):
        search_cascades(truth, {"noisy": models["noisy"][:99]}, dd, KINDS, COSTS, SearchOptions.point(0.1, 0.1))
    with pytest.raises(ArtifactError, match="NaN"):
        search_cascades(truth, {"noisy": np.full(100, np.nan)}, dd, KINDS, COSTS, SearchOptions.point(0.1, 0.1))
    with pytest.raises(ArtifactError, match="no measured cost"):
        search_cascades(truth, {"other": models["noisy"]}, dd, KINDS, COSTS, SearchOptions.point(0.1, 0.1))
    with pytest.raises(QueryError, match="max_fnr"):
        search_cascades(truth, {}, dd, KINDS, COSTS, SearchOptions.point(1.5, 0.1))
    with pytest.raises(QueryError, match="skips"):
        search_cascades(truth, {}, dd, KINDS, COSTS, SearchOptions.point(0.1, 0.1, skips=(0,)))
    with pytest.raises(ArtifactError, match="kind"):
        search_cascades(truth, {}, dd, {"bg": "sideways"}, COSTS, SearchOptions.point(0.1, 0.1))


def test_cost_model_prices_each_stage_by_the_fraction_of_frames_it_sees():
    truth = np.array([0, 0, 1, 1, 0, 1, 0, 0], bool)
    dd = np.array([0.1, 0.9, 0.9, 0.9, 0.1, 0.9, 0.9, 0.1])
    p = np.array([0.0, 0.5, 0.9, 0.5, 0.0, 0.9, 0.1, 0.0])
    config = CascadeConfig(2, "bg", 0.5, "background", "m", c_low=0.2, c_high=0.8)
    costs = StageCosts({"bg": 1.0}, {"m": 10.0}, 100.0)
    cand = score_config(config, truth, dd, p, costs)
    # evaluated: 0, 2, 4, 6 → DD drops 0 and 4; model sees 2 (present) and 6 (absent); reference sees none
    assert cand.cost_ms == pytest.approx((4 * 1.0 + 2 * 10.0) / 8)
    assert cand.reference_fraction == 0.0
    assert cand.fnr == pytest.approx(1 / 3)  # frame 5 inherits frame 4's "absent"
    assert cand.fpr == pytest.approx(0.0)


def test_result_serialises_to_json():
    truth, models, dd = make_segment(n=300)
    res = search_cascades(truth, models, dd, KINDS, COSTS, SearchOptions.point(0.1, 0.1, skips=(1, 5)))
    blob = json.loads(json.dumps(res.to_dict()))
    assert CascadeConfig.from_dict(blob["best"]["config"]) == res.best.config
    assert blob["best"]["describe"] == res.best.config.describe()
