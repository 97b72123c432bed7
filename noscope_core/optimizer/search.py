"""The cost-based optimizer: the cheapest cascade that meets FNR/FPR targets on the threshold segment.

It searches every frame skip × difference detector (or none) × DD threshold × specialized model (or none)
× (c_low, c_high) pair, scores each configuration on the held-out threshold segment exactly as
:func:`noscope_core.cascade.routing.simulate` would, prices it with measured stage costs, and keeps the cheapest
one whose false-negative and false-positive rates are within the targets.

Why it is fast: for a fixed (skip, DD, threshold) the frames the DD decides, the frames reaching the model,
and the run of frames each decided frame's label *covers* (itself plus the skipped and carried frames after
it) are all fixed. Each decided frame's errors then depend only on its own route: absent misses the
positives it covers, present wrongly claims the negatives it covers, the reference errs only where its own
label differs from the covered frames'. Sorting the model-reaching frames by model probability turns every
(c_low, c_high) pair into a lookup in prefix sums, so a whole threshold grid costs one sort.

Expected cost per frame = evaluated fraction · dd_ms + fraction reaching the model · model_ms
+ fraction sent to the reference · reference_ms.

Overfitting guard: ``safety_margin`` tightens both targets (demand fnr <= max_fnr − margin, likewise for
fpr, never below 0) so a configuration that only just meets the targets on a short threshold segment is not
chosen. It defaults to 0, which is NoScope's own protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from noscope_core.cascade.costs import StageCosts
from noscope_core.cascade.evaluate import error_rates
from noscope_core.cascade.keyframe_plan import DEFAULT_MARGINS, KeyframePlan, plan_cost, simulate_plan
from noscope_core.cascade.routing import (
    DD_REFERENCES,
    PENDING,
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
from noscope_core.spec.query import parse_target
from noscope_core.video.decode_costs import DecodeCosts

DDScores = Callable[[str, int], np.ndarray] | Mapping[tuple[str, int], np.ndarray]

DEFAULT_SKIPS = (1, 2, 3, 5, 10, 15, 20, 30)


def search_cascades(
    truth: np.ndarray,
    model_scores: Mapping[str, np.ndarray],
    dd_scores: DDScores,
    dd_kinds: Mapping[str, str],
    costs: StageCosts,
    max_fnr: float,
    max_fpr: float,
    skips: Sequence[int] = DEFAULT_SKIPS,
    dd_thresholds: int = 12,
    model_thresholds: int = 40,
    safety_margin: float = 0.0,
    view: dict | None = None,
    confidence: float | None = None,
    unit_frames: int | None = None,
    fps: float | None = None,
    decode_costs: DecodeCosts | None = None,
    keyframes: np.ndarray | None = None,
    breaks: np.ndarray | None = None,
    keyframe_margins: Sequence[float] = DEFAULT_MARGINS,
) -> OptimizationResult:
    """Pick the cheapest cascade meeting ``max_fnr``/``max_fpr`` on a threshold segment.

    ``truth`` are the reference's labels of the segment's frames; ``model_scores[name]`` each model's
    per-frame probability; ``dd_scores(name, skip)`` (or ``dd_scores[(name, skip)]``) each DD's per-frame
    scores for that skip (frame t against t−skip for a "previous" DD, NaN where undefined); ``dd_kinds[name]``
    is "background" or "previous". DD thresholds are ``dd_thresholds`` interior quantiles of its scores;
    model thresholds ``model_thresholds`` cuts between quantiles of the scores of frames reaching the model,
    plus 0 and 1.
    ``view`` is recorded in every config. Reference-only (error 0, speed-up 1) is always a candidate.

    ``confidence`` (e.g. 0.95) turns the targets into promises about unseen footage: a cascade is accepted only
    if the time-aware upper bounds of its FNR and FPR (:mod:`noscope_core.guarantees.bounds`: evidence counted in blocks of
    ``unit_frames`` consecutive frames, default the threshold labels' correlation time) meet the targets, not
    just the rates measured on this segment. A short segment then makes cheap cascades infeasible instead of
    letting one that was lucky on three people through, and the reason says how much more footage would do
    (in time too when ``fps`` is given). ``None`` keeps NoScope's point estimates.

    ``decode_costs`` (measured on the video, :func:`noscope_core.video.decode_costs.measure_decode_costs`) prices
    reading the video too: every candidate then carries ``decode_ms``. With ``keyframes`` (positions of the
    keyframes in the segment; ``breaks``: where a new range of the segment starts) the keyframe-first variant of
    every frontier cascade with a model is simulated at each of ``keyframe_margins``
    (:mod:`noscope_core.cascade.keyframe_plan`) and scored frame by frame like the dense ones (the same targets, the same
    bounds); the cheapest feasible one replaces the dense choice only when its cost, decode included, is lower
    than the dense choice's, decode included. Without decode costs the search is NoScope's, unchanged.
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
    max_fnr, max_fpr = parse_target("max_fnr", max_fnr), parse_target("max_fpr", max_fpr)
    if not 0.0 <= safety_margin < 1.0:
        raise QueryError(f"safety margin must lie in [0, 1), got {safety_margin}")
    skips = sorted({_check_skip(s) for s in skips})
    if dd_thresholds < 1 or model_thresholds < 2:
        raise QueryError("need at least 1 DD threshold and 2 model thresholds per search")
    models = {name: _check_model_scores(name, s, n) for name, s in model_scores.items()}
    _check_components(models, dd_kinds, costs)

    if confidence is not None:
        confidence = check_confidence(confidence)
        unit_frames = evidence_unit_frames(truth) if unit_frames is None else max(1, int(unit_frames))
    else:
        unit_frames = None
    fnr_limit, fpr_limit = max(0.0, max_fnr - safety_margin), max(0.0, max_fpr - safety_margin)
    search = _Search(truth, costs, fnr_limit, fpr_limit, confidence, unit_frames)
    get_dd = _dd_getter(dd_scores, dd_kinds)
    if 1 not in skips:  # reference-only; otherwise the loop reaches it as (skip 1, no DD, no model)
        _search_skip(search, 1, {}, {}, get_dd, dd_thresholds, model_thresholds, view)
    for skip in skips:
        _search_skip(search, skip, models, dd_kinds, get_dd, dd_thresholds, model_thresholds, view)

    best = search.best
    assert best is not None  # reference-only is always feasible
    dense_best, kf, n_plans = None, None, 0
    if decode_costs is not None:
        best = _with_decode(best, decode_costs, n)
        if keyframes is not None and len(keyframes) >= 2:
            kf, n_plans = _keyframe_search(search, models, get_dd, keyframes, breaks, keyframe_margins, decode_costs)
            if kf is not None and kf.total_ms < best.total_ms:
                best, dense_best = kf, best
    fell_back = best.config.is_reference_only
    reason = None
    if fell_back:
        reason = _fallback_reason(search, costs.reference_ms, max_fnr, max_fpr, safety_margin, fps)
    return OptimizationResult(
        best,
        search.frontier(),
        fell_back,
        reason,
        search.n_evaluated + n_plans,
        confidence,
        unit_frames,
        dense_best,
        n_plans,
        kf,
    )


#: frontier cascades (the most accurate ones) whose keyframe-first variants are scored
KEYFRAME_CANDIDATES = 128


def _with_decode(cand: Candidate, decode: DecodeCosts, n: int) -> Candidate:
    """A dense candidate with its decode cost: every frame decoded, the evaluated ones shrunk."""
    evaluated = len(evaluated_positions(n, cand.config.skip)) / n
    return replace(cand, decode_ms=decode.dense_ms(evaluated))


def _keyframe_search(
    search: _Search,
    models: Mapping[str, np.ndarray],
    get_dd: Callable[[str, int], np.ndarray],
    keyframes: np.ndarray,
    breaks: np.ndarray | None,
    margins: Sequence[float],
    decode: DecodeCosts,
) -> tuple[Candidate | None, int]:
    """The cheapest feasible keyframe-first variant (decode included) of the frontier's cascades with a model."""
    bases = [c for c in search.frontier() if c.config.model_name is not None][-KEYFRAME_CANDIDATES:]
    if search.best is not None and search.best.config.model_name is not None and search.best not in bases:
        bases.append(search.best)
    best: Candidate | None = None
    n_scored = 0
    for base in bases:
        config = base.config
        dd = get_dd(config.dd_name, config.skip) if config.dd_name is not None else None
        for margin in margins:
            plan = KeyframePlan(margin)
            outcome = simulate_plan(plan, config, keyframes, search.truth, dd, models[config.model_name], breaks)
            n_scored += 1
            fn = int(np.count_nonzero(search.truth & ~outcome.labels))
            fp = int(np.count_nonzero(~search.truth & outcome.labels))
            if search.confidence is None:
                ok = fn / search.positives <= search.fnr_limit and fp / search.negatives <= search.fpr_limit
            else:
                ok = fn <= search.max_fn and fp <= search.max_fp
            if not ok:
                continue
            price = plan_cost(outcome, config, search.costs, decode)
            if best is not None and price.total_ms >= best.total_ms:
                continue
            fnr_b = fpr_b = None
            if search.confidence is not None:
                # the same block bounds as every dense plan, on this plan's per-frame error totals
                b = search.bounds(np.array([fn]), np.array([fp]), np.array([outcome.n_reference]))
                fnr_b, fpr_b = float(b[0][0]), float(b[1][0])
            best = Candidate(
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


@dataclass(frozen=True)
class _Coverage:
    """Per skip: the evaluated positions and how many positives/negatives each one's frames hold."""

    positions: np.ndarray
    cov_pos: np.ndarray  # positives among the frames from this evaluated frame to the next
    cov_neg: np.ndarray
    truth: np.ndarray  # truth of the evaluated frames


@dataclass(frozen=True)
class _DDPlan:
    """Per (skip, DD, threshold): what the DD decided and what reaches the model, per evaluated frame."""

    fn_fixed: int  # positives covered by frames the DD called absent
    reach: np.ndarray  # bool: the frame reaches the model (or, without one, the reference)
    pos: np.ndarray  # for reaching frames: positives their label covers (through carried frames); else 0
    neg: np.ndarray
    truth: np.ndarray


@dataclass(frozen=True)
class _Ranked:
    """The frames reaching the model, sorted by model probability, with what each one's label covers."""

    p: np.ndarray
    pos: np.ndarray
    neg: np.ndarray
    truth: np.ndarray


class _Search:
    """Scores batches of candidates; keeps the cheapest feasible one and every batch's Pareto points."""

    def __init__(
        self,
        truth: np.ndarray,
        costs: StageCosts,
        fnr_limit: float,
        fpr_limit: float,
        confidence: float | None = None,
        unit_frames: int | None = None,
    ) -> None:
        self.truth = truth
        self.n = len(truth)
        self.positives = int(truth.sum())
        self.negatives = self.n - self.positives
        self.costs = costs
        self.fnr_limit, self.fpr_limit = fnr_limit, fpr_limit
        self.confidence = confidence
        self.unit_frames = unit_frames
        if confidence is not None:
            # the bound grows with the error count and the class totals are fixed: one allowance per kind
            # (-1: not even zero errors prove the target), so the prefix-sum search stays a comparison
            self.max_fn = max_errors_proven(self.positives, self.n, unit_frames, fnr_limit, confidence)
            self.max_fp = max_errors_proven(self.negatives, self.n, unit_frames, fpr_limit, confidence)
            # every possible error count's bound, once: candidates then look theirs up
            self._fnr_table = rate_bound(np.arange(self.positives + 1), self.positives, self.n, unit_frames, confidence)
            self._fpr_table = rate_bound(np.arange(self.negatives + 1), self.negatives, self.n, unit_frames, confidence)
        self.best: Candidate | None = None
        self.n_evaluated = 0
        self._pareto: list[Candidate] = []

    def add(
        self,
        make_config: Callable[[int], CascadeConfig],
        fn: np.ndarray,
        fp: np.ndarray,
        n_ref: np.ndarray,
        cost_ms: np.ndarray,
    ) -> None:
        fnr, fpr = fn / self.positives, fp / self.negatives
        err = np.maximum(fnr, fpr)
        self.n_evaluated += len(fn)

        def candidate(k: int, fnr_bound: float | None = None, fpr_bound: float | None = None) -> Candidate:
            cost = float(cost_ms[k])
            return Candidate(
                make_config(k),
                float(fnr[k]),
                float(fpr[k]),
                cost,
                float(n_ref[k]) / self.n,
                _speedup(self.costs.reference_ms, cost),
                fnr_bound,
                fpr_bound,
            )

        def candidates(ks: np.ndarray) -> list[Candidate]:
            if self.confidence is None:
                return [candidate(int(k)) for k in ks]
            fnr_b, fpr_b = self.bounds(fn[ks], fp[ks], n_ref[ks])
            return [candidate(int(k), float(a), float(b)) for k, a, b in zip(ks, fnr_b, fpr_b, strict=True)]

        order = np.lexsort((err, cost_ms))  # by cost, then error: ties go to the more accurate
        if self.confidence is None:
            feasible = (fnr[order] <= self.fnr_limit) & (fpr[order] <= self.fpr_limit)
        else:
            feasible = (fn[order] <= self.max_fn) & (fp[order] <= self.max_fp)
        # the reference on every frame is the truth itself: exact, whatever the confidence asked
        feasible |= n_ref[order] >= self.n
        if feasible.any():
            k = int(order[np.argmax(feasible)])
            if self.best is None or (cost_ms[k], err[k]) < (self.best.cost_ms, self.best.error):
                self.best = candidates(np.array([k]))[0]
        # this batch's Pareto points: those more accurate than everything cheaper in the batch
        running = np.minimum.accumulate(err[order])
        keep = np.concatenate([[True], err[order][1:] < running[:-1]])
        self._pareto.extend(candidates(order[keep]))
        if len(self._pareto) > 4096:
            self.frontier()  # compact: bounded memory however large the search

    def bounds(self, fn: np.ndarray, fp: np.ndarray, n_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Upper confidence bounds of FNR and FPR for these error counts; 0 for the reference on every frame."""
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
        return list(out)


def _search_skip(
    search: _Search,
    skip: int,
    models: Mapping[str, np.ndarray],
    dd_kinds: Mapping[str, str],
    get_dd: Callable[[str, int], np.ndarray],
    dd_thresholds: int,
    model_thresholds: int,
    view: dict | None,
) -> None:
    cov = _coverage(search.truth, skip)
    n_eval = len(cov.positions)
    # sorted once per skip: each DD plan's reaching frames are then ranked by a filter, not a sort
    model_eval = {}
    for name, s in models.items():
        p_eval = s[cov.positions]
        model_eval[name] = (p_eval, np.argsort(p_eval, kind="stable"))
    dd_options: list[tuple[CascadeConfig, np.ndarray]] = [
        (CascadeConfig(skip=skip, view=view), np.full(n_eval, np.nan))
    ]
    for name, kind in dd_kinds.items():
        scores = np.asarray(get_dd(name, skip), dtype=np.float64)
        if len(scores) != search.n:
            raise ArtifactError(f"DD {name!r} scores cover {len(scores)} frames, the segment {search.n}")
        config = CascadeConfig(skip=skip, dd_name=name, dd_reference=kind, view=view)
        dd_options.append((config, range_dd_scores(config, scores, cov.positions)))

    for dd_config, scores in dd_options:
        if dd_config.dd_name is None:
            thresholds = [0.0]
        else:
            finite = scores[np.isfinite(scores)]
            if len(finite) == 0:
                continue
            levels = np.linspace(0.0, 1.0, dd_thresholds + 2)[1:-1]
            thresholds = [float(t) for t in np.unique(np.quantile(finite, levels))]
        dd_cost = n_eval * search.costs.dd_ms[dd_config.dd_name] if dd_config.dd_name is not None else 0.0
        for thr in thresholds:
            base = replace(dd_config, dd_threshold=thr)
            plan = _dd_plan(dd_routes(base, scores), cov)
            m = int(plan.reach.sum())
            # no model: everything that passes the DD goes to the reference
            fn = np.array([plan.fn_fixed + int(plan.pos[~plan.truth].sum())])
            fp = np.array([int(plan.neg[plan.truth].sum())])
            cost = np.array([(dd_cost + m * search.costs.reference_ms) / search.n])
            search.add(lambda _k, base=base: base, fn, fp, np.array([m]), cost)
            if m == 0:
                continue  # a model would see no frame: same as no model
            for model_name, (p_eval, order) in model_eval.items():
                ranked = _rank(plan, p_eval, order)
                grid = _model_grid(ranked.p, model_thresholds)
                lo, hi = np.triu_indices(len(grid))
                fn, fp, n_ref = _pair_errors(plan.fn_fixed, ranked, grid[lo], grid[hi])
                model_cost = m * search.costs.model_ms[model_name]
                cost = (dd_cost + model_cost + n_ref * search.costs.reference_ms) / search.n

                def make(k: int, base=base, model_name=model_name, grid=grid, lo=lo, hi=hi) -> CascadeConfig:
                    return replace(base, model_name=model_name, c_low=float(grid[lo[k]]), c_high=float(grid[hi[k]]))

                search.add(make, fn, fp, n_ref, cost)


def _coverage(truth: np.ndarray, skip: int) -> _Coverage:
    n = len(truth)
    positions = evaluated_positions(n, skip)
    ends = np.append(positions[1:], n)
    cum = np.concatenate([[0], np.cumsum(truth, dtype=np.int64)])
    cov_pos = cum[ends] - cum[positions]
    return _Coverage(positions, cov_pos, (ends - positions) - cov_pos, truth[positions])


def _dd_plan(routes: np.ndarray, cov: _Coverage) -> _DDPlan:
    decided = routes != Route.DD_CARRY
    # a carried frame's frames are covered by the last decided frame's label: group by that frame
    group = np.cumsum(decided) - 1
    n_groups = int(decided.sum())
    pos_g = np.bincount(group, weights=cov.cov_pos, minlength=n_groups).round().astype(np.int64)
    neg_g = np.bincount(group, weights=cov.cov_neg, minlength=n_groups).round().astype(np.int64)
    fn_fixed = int(pos_g[group[routes == Route.DD_ABSENT]].sum())
    reach = routes == PENDING
    pos = np.where(reach, pos_g[group], 0)
    neg = np.where(reach, neg_g[group], 0)
    return _DDPlan(fn_fixed, reach, pos, neg, cov.truth)


def _rank(plan: _DDPlan, p_eval: np.ndarray, order: np.ndarray) -> _Ranked:
    """Reaching frames in the order of ``order`` (an argsort of ``p_eval`` over all evaluated frames)."""
    idx = order[plan.reach[order]]
    return _Ranked(p_eval[idx], plan.pos[idx], plan.neg[idx], plan.truth[idx])


def _model_grid(sorted_p: np.ndarray, n_thresholds: int) -> np.ndarray:
    """About ``n_thresholds`` cut points at quantiles of the (sorted) scores, plus the extremes 0 and 1.

    Each cut lies halfway between two neighbouring distinct scores, never on a score: then c_low == c_high
    splits the frames cleanly into absent and present with none left for the reference.
    """
    first = np.flatnonzero(np.r_[True, sorted_p[1:] != sorted_p[:-1]])  # first frame of each distinct score
    if len(first) < 2:
        return np.array([0.0, 1.0])
    values = sorted_p[first]
    mids = (values[:-1] + values[1:]) / 2
    below = first[1:]  # frames under each cut
    picks = np.clip(np.searchsorted(below, np.linspace(0, len(sorted_p), n_thresholds)), 0, len(mids) - 1)
    return np.unique(np.concatenate([[0.0, 1.0], mids[picks]]))


def _pair_errors(
    fn_fixed: int, ranked: _Ranked, c_low: np.ndarray, c_high: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(FN, FP, reference calls) for every pair (c_low[k], c_high[k]), by prefix sums over the ranked frames."""

    def prefix(x: np.ndarray) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(x, dtype=np.int64)])

    t = ranked.truth
    miss_if_absent = prefix(ranked.pos)
    claim_if_present = prefix(ranked.neg)
    ref_fn, ref_fp = prefix(np.where(t, 0, ranked.pos)), prefix(np.where(t, ranked.neg, 0))
    i = np.searchsorted(ranked.p, c_low, side="left")  # ranked[:i] have p < c_low: absent
    j = np.searchsorted(ranked.p, c_high, side="right")  # ranked[j:] have p > c_high: present; [i, j): reference
    fn = fn_fixed + miss_if_absent[i] + ref_fn[j] - ref_fn[i]
    fp = claim_if_present[-1] - claim_if_present[j] + ref_fp[j] - ref_fp[i]
    return fn, fp, j - i


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


def _check_skip(skip: int) -> int:
    if isinstance(skip, bool) or int(skip) != skip or skip < 1:
        raise QueryError(f"frame skips must be positive integers, got {skip!r}")
    return int(skip)


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


def _fallback_reason(
    search: _Search, reference_ms: float, max_fnr: float, max_fpr: float, margin: float, fps: float | None
) -> str:
    target = f"fnr <= {max_fnr:g} and fpr <= {max_fpr:g}" + (f" (less a safety margin of {margin:g})" if margin else "")
    cheaper = [c for c in search.frontier() if c.cost_ms < reference_ms]
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
        f"no cascade cheaper than the reference could be proven to meet {target} at {search.confidence:g} "
        f"confidence on the {search.n}-frame threshold segment"
    )
    if search.max_fn < 0:  # evidence, not the models, is what is missing: say how much
        short = zero_error_shortfall(
            search.positives, search.n, search.unit_frames, search.fnr_limit, search.confidence
        )
        return msg + "; " + shortfall_sentence(f"fnr <= {search.fnr_limit:g}", short, fps, "positive events")
    if search.max_fp < 0:
        short = zero_error_shortfall(
            search.negatives, search.n, search.unit_frames, search.fpr_limit, search.confidence
        )
        return (
            msg + "; " + shortfall_sentence(f"fpr <= {search.fpr_limit:g}", short, fps, "stretches without the object")
        )
    if closest is not None:
        msg += (
            f"; the closest, {closest.describe()}, measured fnr={closest.fnr:.3g}, fpr={closest.fpr:.3g} "
            f"but could only be bounded by fnr <= {closest.fnr_bound:.3g}, fpr <= {closest.fpr_bound:.3g} "
            f"({closest.speedup:.3g}x)"
        )
    return msg
