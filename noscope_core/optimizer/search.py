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
from dataclasses import replace

import numpy as np

from noscope_core.cascade.costs import StageCosts
from noscope_core.cascade.evaluate import error_rates
from noscope_core.cascade.keyframe_plan import KeyframePlan, plan_cost, simulate_plan
from noscope_core.cascade.routing import (
    DD_REFERENCES,
    CascadeConfig,
    Route,
    dd_routes,
    evaluated_positions,
    range_dd_scores,
    simulate,
)
from noscope_core.common.errors import ArtifactError, DegenerateLabelsError, QueryError
from noscope_core.guarantees.bounds import (
    check_confidence,
    evidence_unit_frames,
    max_errors_proven,
    rate_bound,
    shortfall_sentence,
    zero_error_shortfall,
)
from noscope_core.optimizer.candidate import Candidate, OptimizationResult
from noscope_core.optimizer.certified_cost import (
    AnswerShape,
    certified_estimate,
    estimated_errors,
    footage_text,
    pays_from_frames,
)
from noscope_core.optimizer.options import SearchOptions
from noscope_core.optimizer.prefix_errors import (
    coverage,
    dd_plan,
    model_grid,
    pair_errors,
    pair_reference_positives,
    rank_reaching,
)
from noscope_core.video.decode_costs import DecodeCosts

DDScores = Callable[[str, int], np.ndarray] | Mapping[tuple[str, int], np.ndarray]

#: frontier cascades (the most accurate ones) whose keyframe-first variants are scored
KEYFRAME_CANDIDATES = 128
#: under the certified rule: keyframe-first variants of this many of the best-priced dense cascades are priced
CERTIFIED_KEYFRAME_CANDIDATES = 8
#: at most this many frontier cascades are priced for certification (evenly spread along the frontier)
MAX_CERTIFIED_ESTIMATES = 96


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
    search = _Search(truth, costs, options)
    get_dd = _dd_getter(dd_scores, dd_kinds)
    if 1 not in options.skips:  # reference-only; otherwise the loop reaches it as (skip 1, no DD, no model)
        _search_skip(search, 1, {}, {}, get_dd)
    for skip in options.skips:
        _search_skip(search, skip, models, dd_kinds, get_dd)

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
    search: _Search,
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
                _speedup(search.costs.reference_ms, price.stage_ms),
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
    return Candidate(config, rates.fnr, rates.fpr, cost, n_ref / n, _speedup(costs.reference_ms, cost))


def _with_decode(cand: Candidate, decode: DecodeCosts, n: int) -> Candidate:
    """A dense candidate with its decode cost: every frame decoded, the evaluated ones shrunk."""
    if cand.keyframe_plan is not None or cand.decode_ms is not None:
        return cand
    evaluated = len(evaluated_positions(n, cand.config.skip)) / n
    return replace(cand, decode_ms=decode.dense_ms(evaluated))


class _Search:
    """Scores batches of candidates; keeps the cheapest acceptable one and every batch's Pareto points."""

    def __init__(self, truth: np.ndarray, costs: StageCosts, options: SearchOptions) -> None:
        self.truth = truth
        self.n = len(truth)
        self.positives = int(truth.sum())
        self.negatives = self.n - self.positives
        self.costs = costs
        self.options = options
        margin = options.safety_margin
        self.fnr_limit = max(0.0, options.targets.max_fnr - margin)
        self.fpr_limit = max(0.0, options.targets.max_fpr - margin)
        self.confidence = None if options.targets.confidence is None else check_confidence(options.targets.confidence)
        self.unit_frames: int | None = None
        self.footage_frames = int(options.footage_frames or self.n)
        if self.confidence is not None:
            self.unit_frames = (
                evidence_unit_frames(truth) if options.unit_frames is None else max(1, int(options.unit_frames))
            )
            # each rate bounded at δ/2, so FNR and FPR hold together at the confidence (for one cascade)
            self.rate_confidence = (1.0 + self.confidence) / 2.0
            # the bound grows with the error count and the class totals are fixed: one allowance per kind
            # (-1: not even zero errors prove the target), so the prefix-sum search stays a comparison
            self.max_fn = max_errors_proven(
                self.positives, self.n, self.unit_frames, self.fnr_limit, self.rate_confidence
            )
            self.max_fp = max_errors_proven(
                self.negatives, self.n, self.unit_frames, self.fpr_limit, self.rate_confidence
            )
            # every possible error count's bound, once: candidates then look theirs up
            self._fnr_table = rate_bound(
                np.arange(self.positives + 1), self.positives, self.n, self.unit_frames, self.rate_confidence
            )
            self._fpr_table = rate_bound(
                np.arange(self.negatives + 1), self.negatives, self.n, self.unit_frames, self.rate_confidence
            )
        self.best: Candidate | None = None
        self.reference_only: Candidate | None = None
        self.n_evaluated = 0
        self._pareto: list[Candidate] = []
        #: per frontier candidate (by config): (fn, fp, n_ref, reference positives), for pricing certification
        self._counts: dict[int, tuple[int, int, int, int]] = {}

    def accepts(self, fn, fp):
        """The point or bound rule's verdict on error totals (elementwise)."""
        if self.confidence is None:
            return (np.divide(fn, self.positives) <= self.fnr_limit) & (np.divide(fp, self.negatives) <= self.fpr_limit)
        return (np.asarray(fn) <= self.max_fn) & (np.asarray(fp) <= self.max_fp)

    def add(
        self,
        make_config: Callable[[int], CascadeConfig],
        fn: np.ndarray,
        fp: np.ndarray,
        n_ref: np.ndarray,
        cost_ms: np.ndarray,
        ref_pos: np.ndarray,
    ) -> None:
        fnr, fpr = fn / self.positives, fp / self.negatives
        err = np.maximum(fnr, fpr)
        self.n_evaluated += len(fn)

        def candidates(ks: np.ndarray) -> list[Candidate]:
            fnr_b = fpr_b = [None] * len(ks)
            if self.confidence is not None:
                fnr_b, fpr_b = self.bounds(fn[ks], fp[ks], n_ref[ks])
            out = []
            for k, a, b in zip(ks, fnr_b, fpr_b, strict=True):
                k = int(k)
                cost = float(cost_ms[k])
                cand = Candidate(
                    make_config(k),
                    float(fnr[k]),
                    float(fpr[k]),
                    cost,
                    float(n_ref[k]) / self.n,
                    _speedup(self.costs.reference_ms, cost),
                    None if a is None else float(a),
                    None if b is None else float(b),
                )
                self._counts[id(cand)] = (int(fn[k]), int(fp[k]), int(n_ref[k]), int(ref_pos[k]))
                out.append(cand)
            return out

        order = np.lexsort((err, cost_ms))  # by cost, then error: ties go to the more accurate
        # the reference on every frame is the truth itself: exact, whatever the confidence asked
        exact = n_ref[order] >= self.n
        feasible = self.accepts(fn[order], fp[order]) | exact
        if feasible.any():
            k = int(order[np.argmax(feasible)])
            if self.best is None or (cost_ms[k], err[k]) < (self.best.cost_ms, self.best.error):
                self.best = candidates(np.array([k]))[0]
        if exact.any() and self.reference_only is None:
            self.reference_only = candidates(np.array([order[np.argmax(exact)]]))[0]
        # this batch's Pareto points: those more accurate than everything cheaper in the batch
        running = np.minimum.accumulate(err[order])
        keep = np.concatenate([[True], err[order][1:] < running[:-1]])
        self._pareto.extend(candidates(order[keep]))
        if len(self._pareto) > 4096:
            self.frontier()  # compact: bounded memory however large the search

    def bounds(self, fn: np.ndarray, fp: np.ndarray, n_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Block-bound estimates of FNR and FPR for these error totals; 0 for the reference on every frame."""
        exact = np.asarray(n_ref) >= self.n
        fnr_b = self._fnr_table[np.asarray(fn, dtype=np.int64)]
        fpr_b = self._fpr_table[np.asarray(fp, dtype=np.int64)]
        return np.where(exact, 0.0, fnr_b), np.where(exact, 0.0, fpr_b)

    def frontier(self) -> list[Candidate]:
        points = sorted(self._pareto, key=lambda c: (c.cost_ms, c.error))
        out: list[Candidate] = []
        for c in points:
            if not out or c.error < out[-1].error:
                out.append(c)
        self._pareto = out  # later calls and batches merge into the reduced set
        keep = {id(c) for c in (*out, self.best, self.reference_only) if c is not None}
        self._counts = {k: v for k, v in self._counts.items() if k in keep}
        return list(out)

    def with_decode(self, cand: Candidate) -> Candidate:
        decode = self.options.decode_costs
        return cand if decode is None else _with_decode(cand, decode, self.n)

    def priced(self, cand: Candidate, fn: int, fp: int, n_ref: int, ref_pos: int) -> Candidate:
        """``cand`` with its answer's shape and expected certified bill for the footage planned for."""
        targets = self.options.targets
        cand = self.with_decode(cand)
        if n_ref >= self.n:  # the reference on every frame: exact, nothing to certify
            shape = AnswerShape.of_counts(self.n, self.positives, 0, 0, n_ref, self.positives)
            return replace(
                cand,
                answer_shape=shape,
                footage_frames=self.footage_frames,
                expected_certify_frames=0.0,
                expected_certified_cost_ms=cand.cost_ms,
                expected_speedup_certified=_speedup(self.costs.reference_ms, cand.cost_ms),
            )
        efn, efp = estimated_errors(np.array([fn]), np.array([fp]), self.positives, self.n, self.options.estimator)
        shape = AnswerShape.of_counts(self.n, self.positives, float(efn[0]), float(efp[0]), n_ref, ref_pos)
        est = certified_estimate(
            shape,
            cand.cost_ms,
            self.costs.reference_ms,
            self.footage_frames,
            targets.max_fnr,
            targets.max_fpr,
            self.confidence,
        )
        return replace(
            cand,
            answer_shape=shape,
            footage_frames=est.footage_frames,
            expected_certify_frames=est.certify_frames,
            expected_certified_cost_ms=est.cost_ms,
            expected_speedup_certified=est.speedup,
        )

    def priced_frontier(self, frontier: list[Candidate]) -> list[Candidate]:
        """The frontier, each cascade cheaper than the reference priced for certification (at most
        MAX_CERTIFIED_ESTIMATES of them, evenly spread), with the reference on every frame among them."""
        assert self.reference_only is not None  # the search always reaches (skip 1, no DD, no model)
        cheaper = [i for i, c in enumerate(frontier) if c.cost_ms < self.costs.reference_ms]
        if len(cheaper) > MAX_CERTIFIED_ESTIMATES:
            cheaper = [
                cheaper[i]
                for i in np.unique(np.linspace(0, len(cheaper) - 1, MAX_CERTIFIED_ESTIMATES).round().astype(int))
            ]
        out = [self.with_decode(c) for c in frontier]
        for i in cheaper:
            out[i] = self.priced(frontier[i], *self._counts[id(frontier[i])])
        ref = self.priced(self.reference_only, *self._counts[id(self.reference_only)])
        out = [ref if c.config == ref.config else c for c in out]
        if all(c.config != ref.config for c in out):
            out.append(ref)
        return sorted(out, key=lambda c: (c.cost_ms, c.error))


def _search_skip(
    search: _Search,
    skip: int,
    models: Mapping[str, np.ndarray],
    dd_kinds: Mapping[str, str],
    get_dd: Callable[[str, int], np.ndarray],
) -> None:
    options = search.options
    cov = coverage(search.truth, skip)
    n_eval = len(cov.positions)
    # sorted once per skip: each DD plan's reaching frames are then ranked by a filter, not a sort
    model_eval = {}
    for name, s in models.items():
        p_eval = s[cov.positions]
        model_eval[name] = (p_eval, np.argsort(p_eval, kind="stable"))
    dd_options: list[tuple[CascadeConfig, np.ndarray]] = [
        (CascadeConfig(skip=skip, view=options.view), np.full(n_eval, np.nan))
    ]
    for name, kind in dd_kinds.items():
        scores = np.asarray(get_dd(name, skip), dtype=np.float64)
        if len(scores) != search.n:
            raise ArtifactError(f"DD {name!r} scores cover {len(scores)} frames, the segment {search.n}")
        config = CascadeConfig(skip=skip, dd_name=name, dd_reference=kind, view=options.view)
        dd_options.append((config, range_dd_scores(config, scores, cov.positions)))

    for dd_config, scores in dd_options:
        if dd_config.dd_name is None:
            thresholds = [0.0]
        else:
            finite = scores[np.isfinite(scores)]
            if len(finite) == 0:
                continue
            levels = np.linspace(0.0, 1.0, options.dd_thresholds + 2)[1:-1]
            thresholds = [float(t) for t in np.unique(np.quantile(finite, levels))]
        dd_cost = n_eval * search.costs.dd_ms[dd_config.dd_name] if dd_config.dd_name is not None else 0.0
        for thr in thresholds:
            base = replace(dd_config, dd_threshold=thr)
            plan = dd_plan(dd_routes(base, scores), cov)
            m = int(plan.reach.sum())
            # no model: everything that passes the DD goes to the reference
            fn = np.array([plan.fn_fixed + int(plan.pos[~plan.truth].sum())])
            fp = np.array([int(plan.neg[plan.truth].sum())])
            cost = np.array([(dd_cost + m * search.costs.reference_ms) / search.n])
            ref_pos = np.array([int(plan.truth[plan.reach].sum())])
            search.add(lambda _k, base=base: base, fn, fp, np.array([m]), cost, ref_pos)
            if m == 0:
                continue  # a model would see no frame: same as no model
            for model_name, (p_eval, order) in model_eval.items():
                ranked = rank_reaching(plan, p_eval, order)
                grid = model_grid(ranked.p, options.model_thresholds)
                lo, hi = np.triu_indices(len(grid))
                fn, fp, n_ref = pair_errors(plan.fn_fixed, ranked, grid[lo], grid[hi])
                ref_pos = pair_reference_positives(ranked, grid[lo], grid[hi])
                model_cost = m * search.costs.model_ms[model_name]
                cost = (dd_cost + model_cost + n_ref * search.costs.reference_ms) / search.n

                def make(k: int, base=base, model_name=model_name, grid=grid, lo=lo, hi=hi) -> CascadeConfig:
                    return replace(base, model_name=model_name, c_low=float(grid[lo[k]]), c_high=float(grid[hi[k]]))

                search.add(make, fn, fp, n_ref, cost, ref_pos)


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


def _speedup(reference_ms: float, cost_ms: float) -> float:
    return reference_ms / cost_ms if cost_ms > 0 else float("inf")


def _fallback_reason(search: _Search, frontier: Sequence[Candidate]) -> str:
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


def _certified_fallback_reason(search: _Search, frontier: Sequence[Candidate]) -> str:
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
