"""Property tests: on any labels and scores, what the optimizer claims about a cascade is what it does."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from noscope_core.cascade.costs import StageCosts
from noscope_core.cascade.evaluate import error_rates
from noscope_core.cascade.routing import CascadeConfig, Route, dd_routes, range_dd_scores, simulate
from noscope_core.guarantees.bounds import fnr_fpr_bounds
from noscope_core.optimizer.options import SearchOptions
from noscope_core.optimizer.prefix_errors import coverage, dd_plan, pair_errors, rank_reaching
from noscope_core.optimizer.search import score_config, search_cascades
from noscope_core.spec.camera import Targets

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def segments(draw):
    """Truth with runs of random length; a model and DDs whose relation to the truth is random."""
    n = draw(st.integers(4, 160))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    truth = np.repeat(rng.random(n) < draw(st.floats(0.1, 0.9)), rng.integers(1, 20, n))[:n]
    assume(0 < truth.sum() < n)
    strength = draw(st.floats(0, 1))
    # rounding makes ties in the scores, the hard case for threshold bookkeeping
    model = np.round(np.clip(truth * strength + rng.random(n) * (1 - strength * 0.5), 0, 1), 2)
    bg = np.round(truth * strength + rng.random(n), 1)
    latent = np.cumsum(rng.random(n) * np.where(rng.random(n) < 0.3, 1.0, 0.05))

    def dd_scores(name: str, skip: int) -> np.ndarray:
        if name == "bg":
            return bg
        out = np.full(n, np.nan)
        out[skip:] = np.round(latent[skip:] - latent[:-skip], 2)
        return out

    return truth, {"m": model}, dd_scores


KINDS = {"bg": "background", "prev": "previous"}


def optimize_small(seg, stage: StageCosts, max_fnr: float, max_fpr: float, confidence=None, **kw):
    """The optimizer on a drawn segment, over a small grid (three skips, 4 DD and 8 model thresholds); with a
    confidence, by the bound rule (certification off)."""
    truth, models, dd = seg
    options = SearchOptions(
        Targets(max_fnr, max_fpr, confidence), certify=False, skips=(1, 2, 5), dd_thresholds=4, model_thresholds=8, **kw
    )
    return search_cascades(truth, models, dd, KINDS, stage, options)


@SETTINGS
@given(
    seg=segments(),
    max_fnr=st.floats(0, 0.5),
    max_fpr=st.floats(0, 0.5),
    margin=st.sampled_from([0.0, 0.02]),
    costs=st.tuples(st.floats(0.001, 1), st.floats(0.001, 5), st.floats(5, 100)),
)
def test_chosen_config_does_what_it_claims_on_the_threshold_data(seg, max_fnr, max_fpr, margin, costs):
    truth, models, dd = seg
    stage = StageCosts({"bg": costs[0], "prev": costs[0]}, {"m": costs[1]}, costs[2])
    res = optimize_small(seg, stage, max_fnr, max_fpr, safety_margin=margin)
    best = res.best
    c = best.config
    labels, routes = simulate(c, truth, dd(c.dd_name, c.skip) if c.dd_name else None, models.get(c.model_name))
    rates = error_rates(labels, truth)
    assert (rates.fnr, rates.fpr) == (best.fnr, best.fpr)
    assert np.count_nonzero(routes == Route.REFERENCE) / len(truth) == best.reference_fraction
    assert best.config.is_reference_only or (
        best.fnr <= max(0.0, max_fnr - margin) and best.fpr <= max(0.0, max_fpr - margin)
    )
    assert res.fell_back == best.config.is_reference_only
    assert best.cost_ms <= stage.reference_ms
    errors = [f.error for f in res.frontier]
    assert errors == sorted(errors, reverse=True) and len(set(errors)) == len(errors)
    for cand in res.frontier:
        sim = score_config(
            cand.config,
            truth,
            dd(cand.config.dd_name, cand.config.skip) if cand.config.dd_name else None,
            models.get(cand.config.model_name),
            stage,
        )
        assert (sim.fnr, sim.fpr) == (cand.fnr, cand.fpr)


@SETTINGS
@given(
    seg=segments(),
    skip=st.integers(1, 12),
    dd_name=st.sampled_from([None, "bg", "prev"]),
    thr_q=st.floats(0, 1),
    cuts=st.lists(st.floats(-0.1, 1.1), min_size=2, max_size=6),
)
def test_prefix_sum_errors_equal_simulation_for_any_thresholds(seg, skip, dd_name, thr_q, cuts):
    truth, models, dd = seg
    scores = dd(dd_name, skip) if dd_name else None
    finite = scores[np.isfinite(scores)] if scores is not None else np.zeros(0)
    thr = float(np.quantile(finite, thr_q)) if len(finite) else 0.0
    config = CascadeConfig(skip, dd_name, thr, KINDS.get(dd_name), "m")
    cov = coverage(truth, skip)
    plan = dd_plan(dd_routes(config, range_dd_scores(config, scores, cov.positions)), cov)
    p_eval = models["m"][cov.positions]
    ranked = rank_reaching(plan, p_eval, np.argsort(p_eval, kind="stable"))
    cuts = np.sort(np.array(cuts + list(np.unique(ranked.p)[:3])))  # also cut exactly on scores: ties
    lo, hi = np.triu_indices(len(cuts))
    fn, fp, n_ref = pair_errors(plan.fn_fixed, ranked, cuts[lo], cuts[hi])
    for k in range(len(lo)):
        pair = CascadeConfig(**{**config.to_dict(), "c_low": float(cuts[lo[k]]), "c_high": float(cuts[hi[k]])})
        labels, routes = simulate(pair, truth, scores, models["m"])
        rates = error_rates(labels, truth)
        assert (rates.fn, rates.fp) == (fn[k], fp[k])
        assert np.count_nonzero(routes == Route.REFERENCE) == n_ref[k]


@SETTINGS
@given(
    seg=segments(),
    max_fnr=st.floats(0, 0.9),
    max_fpr=st.floats(0, 0.9),
    confidence=st.sampled_from([0.5, 0.8, 0.95]),
    unit_frames=st.sampled_from([None, 1, 3]),
)
def test_with_a_confidence_the_chosen_config_s_bounds_are_those_of_its_simulated_labels(
    seg, max_fnr, max_fpr, confidence, unit_frames
):
    truth, models, dd = seg
    stage = StageCosts({"bg": 0.1, "prev": 0.1}, {"m": 1.0}, 50.0)
    res = optimize_small(seg, stage, max_fnr, max_fpr, confidence=confidence, unit_frames=unit_frames)
    for cand in [res.best, *res.frontier]:
        c = cand.config
        if c.is_reference_only:
            assert (cand.fnr_bound, cand.fpr_bound) == (0.0, 0.0)
            continue
        labels, _ = simulate(c, truth, dd(c.dd_name, c.skip) if c.dd_name else None, models.get(c.model_name))
        # each rate at δ/2: the two hold together at the confidence
        b = fnr_fpr_bounds(truth, labels, (1 + confidence) / 2, res.unit_frames)
        assert np.isclose(b.fnr_bound, cand.fnr_bound) and np.isclose(b.fpr_bound, cand.fpr_bound)
    if not res.fell_back:
        assert res.best.fnr_bound <= max_fnr and res.best.fpr_bound <= max_fpr
