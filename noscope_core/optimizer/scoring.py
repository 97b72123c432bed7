"""Scoring the threshold segment: every configuration's error totals and cost, the frontier, and the prices.

:class:`SegmentSearch` holds one search's segment, targets and rule; :func:`search_skip` scores every (DD,
threshold, model, c_low, c_high) of one frame skip through the prefix-sum fast path
(:mod:`noscope_core.optimizer.prefix_errors`) and hands each batch to it, which keeps the cheapest acceptable
candidate (point or bound rule), the exact reference-only one, and the Pareto points over (cost, error); under the
certified rule it prices the frontier with :mod:`noscope_core.optimizer.certified_cost`. The choice between them
is :func:`noscope_core.optimizer.search.search_cascades`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from noscope_core.cascade.costs import StageCosts
from noscope_core.cascade.routing import CascadeConfig, dd_routes, evaluated_positions, range_dd_scores
from noscope_core.common.errors import ArtifactError
from noscope_core.guarantees.bounds import check_confidence, evidence_unit_frames, max_errors_proven, rate_bound
from noscope_core.optimizer.candidate import Candidate
from noscope_core.optimizer.certified_cost import AnswerShape, estimated_errors
from noscope_core.optimizer.footage_choice import price_for_footage
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

#: at most this many frontier cascades are priced for certification (evenly spread along the frontier)
MAX_CERTIFIED_ESTIMATES = 96


def _with_decode(cand: Candidate, decode: DecodeCosts, n: int) -> Candidate:
    """A dense candidate with its decode cost: every frame decoded, the evaluated ones shrunk -- none for the
    reference on every frame, which reads the decoded frames themselves (as a certificate's frames are priced)."""
    if cand.keyframe_plan is not None or cand.decode_ms is not None:
        return cand
    evaluated = 0.0 if cand.config.is_reference_only else len(evaluated_positions(n, cand.config.skip)) / n
    return replace(cand, decode_ms=decode.dense_ms(evaluated))


class SegmentSearch:
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
            fnr_b: Sequence[float | None] | np.ndarray = [None] * len(ks)
            fpr_b: Sequence[float | None] | np.ndarray = [None] * len(ks)
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
                    speedup(self.costs.reference_ms, cost),
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
        cand = self.with_decode(cand)
        if n_ref >= self.n:  # the reference on every frame: exact, nothing to certify
            shape = AnswerShape.of_counts(self.n, self.positives, 0, 0, n_ref, self.positives)
        else:
            efn, efp = estimated_errors(np.array([fn]), np.array([fp]), self.positives, self.n, self.options.estimator)
            shape = AnswerShape.of_counts(self.n, self.positives, float(efn[0]), float(efp[0]), n_ref, ref_pos)
        decode = self.options.decode_costs
        return price_for_footage(
            replace(cand, answer_shape=shape),
            self.footage_frames,
            self.costs.reference_ms,
            self.options.targets,
            None if decode is None else decode.frame_ms,
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


def search_skip(
    search: SegmentSearch,
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
            search.add(lambda _k, base=base: base, fn, fp, np.array([m]), cost, ref_pos)  # type: ignore[misc]  # a default arg
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


def speedup(reference_ms: float, cost_ms: float) -> float:
    """reference_ms / cost_ms; infinite for a free cascade."""
    return reference_ms / cost_ms if cost_ms > 0 else float("inf")
