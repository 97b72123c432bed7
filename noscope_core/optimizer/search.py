"""The cost-based optimizer: the cascade to run, chosen on the threshold segment.

It searches every frame skip × difference detector (or none) × DD threshold × specialized model (or none)
× (c_low, c_high) pair, scores each configuration on the held-out threshold segment exactly as
:func:`noscope_core.cascade.routing.simulate` would (the prefix-sum fast path of
:mod:`noscope_core.optimizer.prefix_errors`: a whole threshold grid costs one sort), prices it with measured
stage costs, and chooses by one of three rules (:class:`~noscope_core.optimizer.options.SearchOptions`):

* **certified** (the default): the answer will carry a certificate, so the promise is the certificate's and the
  choice only has to be cheap: the lowest EXPECTED certified cost for an answer of ``footage_frames`` frames,
  the cascade's own cost plus the reference frames the certificate is expected to spend
  (:mod:`noscope_core.optimizer.certified_cost`). Only the cost/error frontier is priced this way: a cascade
  off it is beaten by one as cheap and as accurate.
* **bound** (certification off): the cheapest cascade whose block-bound estimates (both rates, jointly at the
  confidence) meet the targets; uncorrected for the selection over the grid.
* **point** (no confidence): NoScope's rule, the cheapest whose threshold-segment rates meet the targets.

Expected cost per frame = evaluated fraction · dd_ms + fraction reaching the model · model_ms
+ fraction sent to the reference · reference_ms.

Overfitting guard: ``safety_margin`` tightens both targets of the point and bound rules (never below 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from noscope_core.cascade.costs import StageCosts
from noscope_core.cascade.evaluate import error_rates
from noscope_core.cascade.keyframe_plan import KeyframePlan, plan_cost, simulate_plan
from noscope_core.cascade.routing import (
    DD_REFERENCES,
    CascadeConfig,
    Route,
    simulate,
)
from noscope_core.common.errors import ArtifactError, DegenerateLabelsError, QueryError
from noscope_core.guarantees.bounds import (
    shortfall_sentence,
    zero_error_shortfall,
)
from noscope_core.optimizer.candidate import Candidate, OptimizationResult
from noscope_core.optimizer.certified_cost import (
    footage_text,
    pays_from_frames,
)
from noscope_core.optimizer.options import SearchOptions
from noscope_core.optimizer.scoring import SegmentSearch, search_skip, speedup

DDScores = Callable[[str, int], np.ndarray] | Mapping[tuple[str, int], np.ndarray]

#: frontier cascades (the most accurate ones) whose keyframe-first variants are scored
KEYFRAME_CANDIDATES = 128
#: under the certified rule: keyframe-first variants of this many of the best-priced dense cascades are priced
CERTIFIED_KEYFRAME_CANDIDATES = 8


def search_cascades(
    truth: np.ndarray,
    model_scores: Mapping[str, np.ndarray],
    dd_scores: DDScores,
    dd_kinds: Mapping[str, str],
    costs: StageCosts,
    options: SearchOptions,
) -> OptimizationResult:
    """Choose a cascade on a threshold segment by ``options``'s rule (module docstring).

    ``truth`` are the reference's labels of the segment's frames; ``model_scores[name]`` each model's
    per-frame probability; ``dd_scores(name, skip)`` (or ``dd_scores[(name, skip)]``) each DD's per-frame
    scores for that skip (frame t against t−skip for a "previous" DD, NaN where undefined); ``dd_kinds[name]``
    is "background" or "previous". DD thresholds are ``options.dd_thresholds`` interior quantiles of its
    scores; model thresholds ``options.model_thresholds`` cuts between quantiles of the scores of frames
    reaching the model, plus 0 and 1. Reference-only (error 0, speed-up 1) is always a candidate.

    With a confidence, a segment too short to bound the targets makes the bound rule fall back, and the reason
    says how much more footage would do (in time too when ``options.fps`` is given); the certified rule falls
    back when no cascade's expected certified cost beats the reference, and says from what footage length one
    would. With ``options.decode_costs`` every candidate carries ``decode_ms`` and, with ``options.keyframes``,
    the keyframe-first variants of frontier cascades compete (:mod:`noscope_core.cascade.keyframe_plan`),
    chosen only when cheaper than the dense choice, decode included on both sides.
    """
    truth = np.asarray(truth, dtype=bool).reshape(-1)
    n = len(truth)
    positives = int(truth.sum())
    if n == 0:
        raise QueryError("the threshold segment has no frames", "use a longer video or a larger threshold split")
    if positives in (0, n):
        what = "no positive" if positives == 0 else "no negative"
        raise DegenerateLabelsError(
            f"the threshold segment has {what} frames, so the {'FNR' if positives == 0 else 'FPR'} cannot be measured",
            "use a longer threshold segment, or a query (class/region) that is sometimes true and sometimes false",
        )
    models = {name: _check_model_scores(name, s, n) for name, s in model_scores.items()}
    _check_components(models, dd_kinds, costs)
    search = SegmentSearch(truth, costs, options)
    get_dd = _dd_getter(dd_scores, dd_kinds)
    if 1 not in options.skips:  # reference-only; otherwise the loop reaches it as (skip 1, no DD, no model)
        search_skip(search, 1, {}, {}, get_dd)
    for skip in options.skips:
        search_skip(search, skip, models, dd_kinds, get_dd)

    frontier = search.frontier()
    best = search.best
    assert best is not None  # reference-only is always feasible
    decode = options.decode_costs
    kf_ok = decode is not None and options.keyframes is not None and len(options.keyframes) >= 2
    dense_best, kf, n_plans = None, None, 0
    if options.rule == "certified":
        frontier = search.priced_frontier(frontier)
        best = min(frontier, key=lambda c: (c.certified_total_ms, c.error))
        if kf_ok:
            bases = sorted(frontier, key=lambda c: c.certified_total_ms)[:CERTIFIED_KEYFRAME_CANDIDATES]
            kf, n_plans = _keyframe_search(search, models, get_dd, [c for c in bases if c.config.model_name])
            if kf is not None and kf.certified_total_ms < best.certified_total_ms:
                best, dense_best = kf, best
    elif decode is not None:
        best = search.with_decode(best)
        if kf_ok:
            bases = [c for c in frontier if c.config.model_name is not None][-KEYFRAME_CANDIDATES:]
            if best.config.model_name is not None and all(best.config != c.config for c in bases):
                bases.append(best)
            kf, n_plans = _keyframe_search(search, models, get_dd, bases)
            if kf is not None and kf.total_ms < best.total_ms:
                best, dense_best = kf, best
    fell_back = best.config.is_reference_only
    reason = _fallback_reason(search, frontier) if fell_back else None
    return OptimizationResult(
        best,
        frontier,
        fell_back,
        reason,
        search.n_evaluated + n_plans,
        search.confidence,
        search.unit_frames,
        dense_best,
        n_plans,
        kf,
        rule=options.rule,
        footage_frames=search.footage_frames if options.rule == "certified" else None,
        estimator=options.estimator if options.rule == "certified" else None,
    )


def _keyframe_search(
    search: SegmentSearch,
    models: Mapping[str, np.ndarray],
    get_dd: Callable[[str, int], np.ndarray],
    bases: Sequence[Candidate],
) -> tuple[Candidate | None, int]:
    """The cheapest acceptable keyframe-first variant (decode included) of ``bases``, by the search's rule."""
    options = search.options
    decode = options.decode_costs
    assert decode is not None and options.keyframes is not None
    certified = options.rule == "certified"
    best: Candidate | None = None
    n_scored = 0
    for base in bases:
        config = base.config
        dd = get_dd(config.dd_name, config.skip) if config.dd_name is not None else None
        for margin in options.keyframe_margins:
            plan = KeyframePlan(margin)
            outcome = simulate_plan(
                plan, config, options.keyframes, search.truth, dd, models[config.model_name], options.breaks
            )
            n_scored += 1
            fn = int(np.count_nonzero(search.truth & ~outcome.labels))
            fp = int(np.count_nonzero(~search.truth & outcome.labels))
            if not certified and not search.accepts(fn, fp):
                continue
            price = plan_cost(outcome, config, search.costs, decode)
            if not certified and best is not None and price.total_ms >= best.total_ms:
                continue
            fnr_b = fpr_b = None
            if search.confidence is not None:
                # the same block bounds as every dense plan, on this plan's per-frame error totals
                b = search.bounds(np.array([fn]), np.array([fp]), np.array([outcome.n_reference]))
                fnr_b, fpr_b = float(b[0][0]), float(b[1][0])
            cand = Candidate(
                config,
                fn / search.positives,
                fp / search.negatives,
                price.stage_ms,
                outcome.n_reference / search.n,
                speedup(search.costs.reference_ms, price.stage_ms),
                fnr_b,
                fpr_b,
                price.decode_ms,
                plan,
            )
            if certified:
                ref_pos = int(np.count_nonzero(search.truth[outcome.routes == Route.REFERENCE]))
                cand = search.priced(cand, fn, fp, outcome.n_reference, ref_pos)
                if best is not None and cand.certified_total_ms >= best.certified_total_ms:
                    continue
            best = cand
    return best, n_scored


def score_config(
    config: CascadeConfig,
    truth: np.ndarray,
    dd_scores: np.ndarray | None,
    model_scores: np.ndarray | None,
    costs: StageCosts,
) -> Candidate:
    """Error rates and expected cost of one configuration, by plain simulation (the optimizer's cross-check)."""
    labels, routes = simulate(config, truth, dd_scores, model_scores)
    n = len(truth)
    rates = error_rates(labels, truth)
    n_eval = int(np.count_nonzero(routes != Route.SKIPPED))
    n_dd_passed = int(np.count_nonzero(routes >= Route.MODEL_ABSENT))
    n_ref = int(np.count_nonzero(routes == Route.REFERENCE))
    cost = n_ref * costs.reference_ms
    if config.dd_name is not None:
        cost += n_eval * costs.dd_ms[config.dd_name]
    if config.model_name is not None:
        cost += n_dd_passed * costs.model_ms[config.model_name]
    cost /= n
    return Candidate(config, rates.fnr, rates.fpr, cost, n_ref / n, speedup(costs.reference_ms, cost))


def _dd_getter(dd_scores: DDScores, dd_kinds: Mapping[str, str]) -> Callable[[str, int], np.ndarray]:
    if callable(dd_scores):
        return dd_scores
    table = dd_scores

    def get(name: str, skip: int) -> np.ndarray:
        if (name, skip) in table:
            return table[(name, skip)]
        if dd_kinds[name] == "background":  # background scores do not depend on the skip
            for (other, _s), scores in table.items():
                if other == name:
                    return scores
        raise ArtifactError(f"no scores for difference detector {name!r} at skip {skip}", "compute them per skip")

    return get


def _check_model_scores(name: str, scores: np.ndarray, n: int) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(scores) != n:
        raise ArtifactError(
            f"model {name!r} has scores for {len(scores)} frames but the threshold segment has {n}",
            "re-score the threshold segment with this model",
        )
    if not np.isfinite(scores).all():
        raise ArtifactError(f"model {name!r} produced NaN or infinite scores", "retrain the model")
    return scores


def _check_components(models: Mapping[str, np.ndarray], dd_kinds: Mapping[str, str], costs: StageCosts) -> None:
    for name, kind in dd_kinds.items():
        if kind not in DD_REFERENCES:
            raise ArtifactError(f"DD {name!r} has kind {kind!r}", f"expected one of {DD_REFERENCES}")
    missing = [n for n in dd_kinds if n not in costs.dd_ms] + [n for n in models if n not in costs.model_ms]
    if missing:
        raise ArtifactError(f"no measured cost for {missing}", "measure stage costs for every DD and model searched")


def _fallback_reason(search: SegmentSearch, frontier: Sequence[Candidate]) -> str:
    options = search.options
    if options.rule == "certified":
        return _certified_fallback_reason(search, frontier)
    max_fnr, max_fpr, margin, fps = options.targets.max_fnr, options.targets.max_fpr, options.safety_margin, options.fps
    target = f"fnr <= {max_fnr:g} and fpr <= {max_fpr:g}" + (f" (less a safety margin of {margin:g})" if margin else "")
    cheaper = [c for c in frontier if c.cost_ms < search.costs.reference_ms]
    closest = cheaper[-1] if cheaper else None  # the most accurate of the cheaper ones
    if search.confidence is None:
        msg = f"no cascade cheaper than the reference met {target} on the {search.n}-frame threshold segment"
        if closest is not None:
            msg += (
                f"; the closest, {closest.describe()}, reached fnr={closest.fnr:.3g}, fpr={closest.fpr:.3g} "
                f"({closest.speedup:.3g}x)"
            )
        return msg
    msg = (
        f"no cascade cheaper than the reference had block-bound estimates within {target} (both rates together at "
        f"{search.confidence:g} confidence, uncorrected for the selection) on the {search.n}-frame threshold segment"
    )
    conf = search.rate_confidence
    if search.max_fn < 0:  # evidence, not the models, is what is missing: say how much
        short = zero_error_shortfall(search.positives, search.n, search.unit_frames, search.fnr_limit, conf)
        return msg + "; " + shortfall_sentence(f"fnr <= {search.fnr_limit:g}", short, fps, "positive events")
    if search.max_fp < 0:
        short = zero_error_shortfall(search.negatives, search.n, search.unit_frames, search.fpr_limit, conf)
        return (
            msg + "; " + shortfall_sentence(f"fpr <= {search.fpr_limit:g}", short, fps, "stretches without the object")
        )
    if closest is not None:
        msg += (
            f"; the closest, {closest.describe()}, measured fnr={closest.fnr:.3g}, fpr={closest.fpr:.3g} "
            f"but was estimated at fnr <= {closest.fnr_bound:.3g}, fpr <= {closest.fpr_bound:.3g} "
            f"({closest.speedup:.3g}x)"
        )
    return msg


#: frontier cascades (the best-priced) tried when saying from what footage length a certified answer pays
PAYING_CANDIDATES = 6


def _certified_fallback_reason(search: SegmentSearch, frontier: Sequence[Candidate]) -> str:
    options, targets = search.options, search.options.targets
    ref_ms = search.costs.reference_ms
    msg = (
        f"no cascade's expected certified cost (its own cost plus the reference frames its certificate is expected "
        f"to spend at {targets.confidence:g} confidence) beats the reference on an answer of "
        f"{footage_text(search.footage_frames, options.fps)}"
    )
    priced = [c for c in frontier if c.expected_certified_cost_ms is not None and c.cost_ms < ref_ms and c.answer_shape]
    priced = [c for c in priced if not c.config.is_reference_only]
    if not priced:
        return msg + "; no cascade runs cheaper than the reference on the threshold segment"
    priced.sort(key=lambda c: c.expected_certified_cost_ms)
    closest = priced[0]
    msg += (
        f"; the closest, {closest.describe()}, runs at {closest.speedup:.3g}x but its certificate is expected to "
        f"spend about {closest.expected_certify_frames:,.0f} reference frames ({closest.expected_speedup_certified:.2g}x)"
    )
    froms = [
        f
        for c in priced[:PAYING_CANDIDATES]
        if (f := pays_from_frames(
            c.answer_shape, c.cost_ms, ref_ms, targets.max_fnr, targets.max_fpr, targets.confidence,
            search.footage_frames,
        )) is not None
    ]  # fmt: skip
    if not froms:
        return msg + "; no footage length makes a certified answer pay with these models"
    return msg + f"; a certified answer pays from about {footage_text(min(froms), options.fps)} of footage"
