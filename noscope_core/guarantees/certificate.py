"""Certify a cascade's answer on the query's own footage: bound the FNR and FPR of THIS answer on THIS video.

A promise made on the threshold segment breaks when the footage drifts (light, weather, a nudged camera). So,
after the cascade has run, a small reference budget is spent on frames *we* draw at random from the video:
the draws are independent by construction, whatever the temporal correlation of the footage, and the bound
needs no assumption about the video at all.

* Frames the reference already labelled (the cascade's REFERENCE route, or a draw of an earlier round) are
  known exactly. The rest fall in two strata by the cascade's own verdict: U0 (said absent: only false
  negatives hide there) and U1 (said present: only false positives). The verdict is the cascade's strongest
  score, so the strata are its importance weights: each is sampled at the rate its own target needs, which
  for a rare class is hundreds of times higher per frame in U1 than in U0.
* Inside a stratum frames are drawn uniformly without replacement, and the number of errors in it gets the
  exact hypergeometric upper bound (its CDF from scipy.special.gammaln; scipy.stats.hypergeom agrees, see tests, but is 70× slower on arrays) at δ/2. Uniform is deliberate: with no error
  found, any design's bound is set by its least-sampled frames (an adversary puts the misses there), so
  uniform is minimax; scores are better spent choosing which frames to send to the reference outright
  (tightening) than skewing the draws.
* The drawn frames' reference labels replace the cascade's in the answer; FNR = FN / (TP + FN) grows with FN
  and falls with TP, so the upper bound of FN in U0 and of FP in U1 (TP in U1 = |U1| − FP) combine
  monotonically into upper bounds of both rates of the corrected answer, simultaneously at 1 − δ.
* When a bound breaks a target the answer is tightened (by default: the riskiest undecided frames of the
  failing stratum go to the reference; a caller may instead widen the model's band or lower the DD threshold
  and re-run), and certified again on *fresh* draws at a smaller δ_r, with Σ δ_r ≤ δ: every round's bound
  holds at once with probability 1 − δ, so the adaptivity costs validity nothing.

The price is inherent: with no error found, proving FN ≤ t·P among |U0| frames takes about
|U0|·ln(2/δ)/(t·P) draws, about ln(2/δ)/(t·positive share) — at least some 3,300 frames at 1 %, 0.95 and 10 %
positives, whatever the video's length (measured spends, with errors to find: docs/guarantees.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

from noscope_core.cascade.execute import CascadeRun
from noscope_core.cascade.routing import CascadeConfig, Route
from noscope_core.guarantees.bounds import check_confidence
from noscope_core.spec.query import parse_target

#: reference frames certification may spend by default; the planner spends only what the answer's own counts
#: need (see plan_draws), so this is a cap (measured in docs/guarantees.md: enough for 1 %/1 % at ≥ 5 % positives)
DEFAULT_CERTIFY_BUDGET = 15_000

#: draws beyond the zero-error minimum at each look's δ (later looks grow by LOOK_GROWTH)
PLAN_SLACK = 1.5

#: looks per round and how the planned draws grow from one look to the next
LOOKS = 2
LOOK_GROWTH = 2.5


@dataclass(frozen=True)
class Decisions:
    """A cascade's answer over a video: per-frame labels, which are exact, and how risky the others are."""

    labels: np.ndarray  # bool (N,)
    exact: np.ndarray  # bool (N,): labelled by the reference (its labels are the truth)
    risk: np.ndarray | None = None  # float (N,), higher = more likely wrong; orders the default tightening

    def __post_init__(self) -> None:
        labels = np.asarray(self.labels, dtype=bool).reshape(-1)
        exact = np.asarray(self.exact, dtype=bool).reshape(-1)
        if labels.shape != exact.shape:
            raise ValueError(f"{len(labels)} labels but {len(exact)} exact flags")
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "exact", exact)
        if self.risk is not None:
            risk = np.asarray(self.risk, dtype=np.float64).reshape(-1)
            if risk.shape != labels.shape:
                raise ValueError(f"{len(labels)} labels but {len(risk)} risk scores")
            object.__setattr__(self, "risk", np.nan_to_num(risk, nan=np.inf))

    @classmethod
    def from_routes(cls, labels: np.ndarray, routes: np.ndarray, risk: np.ndarray | None = None) -> Decisions:
        """From an executor's (labels, routes): REFERENCE frames are exact."""
        return cls(labels, np.asarray(routes) == Route.REFERENCE, risk)

    @classmethod
    def from_run(cls, run: CascadeRun, config: CascadeConfig) -> Decisions:
        """From an executor's run: REFERENCE frames exact, risk from the model's scores and the config's band."""
        risk = risk_from_scores(run.routes, run.model_scores, config.c_low, config.c_high)
        return cls(run.labels, run.routes == Route.REFERENCE, risk)


def risk_from_scores(
    routes: np.ndarray,
    model_scores: np.ndarray | None,
    c_low: float,
    c_high: float,
    dd_margin: np.ndarray | None = None,
) -> np.ndarray:
    """How likely each frame's label is wrong, from what decided it (higher = riskier).

    Model-decided frames: closeness of p to the band (c_low, c_high). Frames the DD decided, and skipped frames
    (which carry a label they never saw), rank above every model verdict unless ``dd_margin`` (how far below
    the DD threshold the score was, ≥ 0) orders them. The order only steers tightening, never the bound.
    """
    routes = np.asarray(routes)
    risk = np.zeros(len(routes))
    if model_scores is not None:
        p = np.asarray(model_scores, dtype=np.float64)
        absent, present = routes == Route.MODEL_ABSENT, routes == Route.MODEL_PRESENT
        risk[absent] = 1.0 - (c_low - p[absent])  # near c_low: risky
        risk[present] = 1.0 - (p[present] - c_high)
    cheap = (routes == Route.DD_ABSENT) | (routes == Route.DD_CARRY) | (routes == Route.SKIPPED)
    risk[cheap] = 2.0 if dd_margin is None else 3.0 - np.clip(np.asarray(dd_margin, dtype=np.float64)[cheap], 0.0, 1.0)
    risk[routes == Route.REFERENCE] = -np.inf
    return risk


@dataclass(frozen=True)
class Certificate:
    """The answer's error bounds on its own footage, and the corrected answer."""

    fnr_bound: float
    fpr_bound: float
    certified: bool  # both bounds meet their targets
    confidence: float
    max_fnr: float
    max_fpr: float
    frames_labelled: int  # reference frames certification spent: draws plus default tightening
    reference_calls: int  # calls made to the reference callable
    rounds: int
    budget_frames: int
    reason: str  # one sentence for the user
    labels: np.ndarray  # bool (N,): the answer with every reference label certification obtained

    def to_dict(self) -> dict:
        return {
            "certified": self.certified,
            "fnr_bound": self.fnr_bound,
            "fpr_bound": self.fpr_bound,
            "confidence": self.confidence,
            "certify_frames": self.frames_labelled,
            "certify_rounds": self.rounds,
            "certify_budget": self.budget_frames,
            "certify_reason": self.reason,
        }


Reference = Callable[[np.ndarray], np.ndarray]
#: tighten(round, decisions, known, known_labels) -> new Decisions (the caller re-ran the affected frames,
#: paying its own reference calls), or None when it cannot tighten further
Tighten = Callable[[int, Decisions, np.ndarray, np.ndarray], "Decisions | None"]


def certify(
    decisions: Decisions,
    reference: Reference,
    max_fnr: float,
    max_fpr: float,
    confidence: float = 0.95,
    budget_frames: int = DEFAULT_CERTIFY_BUDGET,
    tighten: Tighten | None = None,
    max_rounds: int = 3,
    seed: int | None = 0,
) -> Certificate:
    """Bound the FNR and FPR of ``decisions`` on its own frames, tightening while a target is broken.

    ``reference(frames)`` returns the reference's labels (bool) of those frame positions. At most
    ``budget_frames`` frames are sent to it by certification (draws and the default tightening). ``tighten``
    replaces the default tightening (the riskiest undecided frames of the failing stratum go to the
    reference; needs ``decisions.risk``). Without either, one round runs at the full confidence.
    """
    confidence = check_confidence(confidence)
    max_fnr, max_fpr = parse_target("max_fnr", max_fnr), parse_target("max_fpr", max_fpr)
    if isinstance(budget_frames, bool) or int(budget_frames) != budget_frames or budget_frames < 0:
        raise ValueError(f"budget_frames must be a non-negative integer, got {budget_frames!r}")
    budget_frames = int(budget_frames)
    rng = np.random.default_rng(seed)
    n = len(decisions.labels)
    known = np.zeros(n, dtype=bool)  # labelled by certification
    truth_known = np.zeros(n, dtype=bool)
    spent = calls = 0
    can_tighten = tighten is not None or decisions.risk is not None
    rounds = max(1, int(max_rounds)) if can_tighten else 1
    delta = 1.0 - confidence
    current = decisions
    state: _Round | None = None

    def ask(frames: np.ndarray) -> None:
        nonlocal spent, calls
        if len(frames) == 0:
            return
        got = np.asarray(reference(frames), dtype=bool).reshape(-1)
        if len(got) != len(frames):
            raise ValueError(f"the reference returned {len(got)} labels for {len(frames)} frames")
        known[frames] = True
        truth_known[frames] = got
        spent += len(frames)
        calls += 1

    for r in range(1, rounds + 1):
        delta_r = delta * (0.5**r if r < rounds else 0.5 ** (rounds - 1))
        state = _Round.of(current, known, truth_known)
        # looks at growing sample sizes, each at its share of δ_r: a good answer stops at the first look, a
        # borderline one buys more draws; the draws are nested, so each look's sample is uniform
        order0, order1 = rng.permutation(state.u0), rng.permutation(state.u1)
        n0 = n1 = 0
        for look in range(LOOKS):
            delta_l = delta_r * (0.5 ** (look + 1) if look < LOOKS - 1 else 0.5 ** (LOOKS - 1))
            p0, p1 = plan_draws(state, max_fnr, max_fpr, delta_l)
            grow = LOOK_GROWTH**look
            p0, p1 = _fit(max(n0, math.ceil(p0 * grow)), max(n1, math.ceil(p1 * grow)), budget_frames - spent + n0 + n1)
            p0, p1 = max(p0, n0), max(p1, n1)
            ask(np.sort(np.concatenate([order0[n0:p0], order1[n1:p1]])))
            n0, n1 = p0, p1
            draw0, draw1 = order0[:n0], order1[:n1]
            fn_hits, fp_hits = int(truth_known[draw0].sum()), int((~truth_known[draw1]).sum())
            state = state.bound(fn_hits, n0, fp_hits, n1, delta_l)
            if state.fnr_bound <= max_fnr and state.fpr_bound <= max_fpr:
                break
            if spent >= budget_frames or (n0 == len(state.u0) and n1 == len(state.u1)):
                break
        if state.fnr_bound <= max_fnr and state.fpr_bound <= max_fpr:
            break
        if r == rounds or spent >= budget_frames:
            break
        if tighten is not None:
            new = tighten(r, current, known.copy(), truth_known.copy())
            if new is None:
                break
            current = new
        else:
            # default tightening: half of what is left, on the riskiest undecided frames of the failing strata
            labels_now = np.where(known, truth_known, current.labels)
            undecided = ~(current.exact | known)
            want = np.zeros(n, dtype=bool)
            if state.fnr_bound > max_fnr:
                want |= undecided & ~labels_now
            if state.fpr_bound > max_fpr:
                want |= undecided & labels_now
            pool = np.flatnonzero(want)
            k = min(len(pool), (budget_frames - spent) // 2)
            if k <= 0:
                break
            riskiest = pool[np.argsort(-current.risk[pool], kind="stable")[:k]]
            ask(np.sort(riskiest))
    assert state is not None
    labels = np.where(known, truth_known, current.labels)
    certified = state.fnr_bound <= max_fnr and state.fpr_bound <= max_fpr
    reason = _reason(state, certified, max_fnr, max_fpr, confidence, spent, budget_frames, delta_l)
    return Certificate(
        fnr_bound=state.fnr_bound,
        fpr_bound=state.fpr_bound,
        certified=certified,
        confidence=confidence,
        max_fnr=max_fnr,
        max_fpr=max_fpr,
        frames_labelled=spent,
        reference_calls=calls,
        rounds=r,
        budget_frames=budget_frames,
        reason=reason,
        labels=labels,
    )


def hypergeom_upper(hits: int, population: int, draws: int, delta: float) -> int:
    """Exact upper bound at 1 − δ of the number of marked frames in a population, from ``hits`` among
    ``draws`` drawn uniformly without replacement: the largest K with P(X ≤ hits | K) > δ."""
    if draws >= population:
        return hits
    lo = hits  # P(X <= hits | K = hits) = 1 > δ
    hi = population - (draws - hits)  # the most marked frames consistent with the draws
    if hypergeom_cdf(hits, population, np.array([hi]), draws)[0] > delta:
        return hi
    # the cdf falls as K grows: bracket the crossing on a coarse grid, then scan the bracket (two scipy calls)
    while hi - lo > 1:
        grid = np.unique(np.linspace(lo, hi, min(hi - lo + 1, 257)).round().astype(np.int64))
        above = hypergeom_cdf(hits, population, grid, draws) > delta
        last = int(np.flatnonzero(above)[-1])  # grid[0] = lo is above, grid[-1] = hi is not
        lo, hi = int(grid[last]), int(grid[last + 1])
    return lo


def hypergeom_cdf(hits: int, population: int, marked: np.ndarray, draws: int) -> np.ndarray:
    """P(X <= hits) for X ~ Hypergeometric(population, marked, draws), elementwise over ``marked``."""

    def log_choose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)

    x = np.arange(hits + 1, dtype=np.float64)[:, None]
    k = np.asarray(marked, dtype=np.float64)[None, :]
    possible = (x <= k) & (draws - x <= population - k)
    with np.errstate(invalid="ignore"):
        log_p = log_choose(k, x) + log_choose(population - k, draws - x) - log_choose(population, draws)
    return np.minimum(1.0, np.where(possible, np.exp(log_p), 0.0).sum(axis=0))


@dataclass(frozen=True)
class _Round:
    """The strata of one round and, once drawn, the bounds."""

    u0: np.ndarray  # undecided frames the answer calls absent
    u1: np.ndarray  # ... present
    pos_known: int  # exact frames that are positive
    neg_known: int
    fnr_bound: float = 1.0
    fpr_bound: float = 1.0
    fn_found: int = 0
    fp_found: int = 0
    draws: int = 0

    @classmethod
    def of(cls, d: Decisions, known: np.ndarray, truth_known: np.ndarray) -> _Round:
        labels = np.where(known, truth_known, d.labels)
        exact = d.exact | known
        return cls(
            u0=np.flatnonzero(~exact & ~labels),
            u1=np.flatnonzero(~exact & labels),
            pos_known=int(np.count_nonzero(exact & labels)),
            neg_known=int(np.count_nonzero(exact & ~labels)),
        )

    def bound(self, fn_hits: int, n0: int, fp_hits: int, n1: int, delta: float) -> _Round:
        fn_up = hypergeom_upper(fn_hits, len(self.u0), n0, delta / 2) if len(self.u0) else 0
        fp_up = hypergeom_upper(fp_hits, len(self.u1), n1, delta / 2) if len(self.u1) else 0
        # after correction: misses left = fn_up - fn_hits; positives = known + TP in U1 (>= |U1| - fp_up) + FN in U0
        fnr = _ratio(fn_up - fn_hits, self.pos_known + len(self.u1) - fp_up + fn_up)
        fpr = _ratio(fp_up - fp_hits, self.neg_known + len(self.u0) - fn_up + fp_up)
        return _Round(self.u0, self.u1, self.pos_known, self.neg_known, fnr, fpr, fn_hits, fp_hits, n0 + n1)


def plan_draws(state: _Round, max_fnr: float, max_fpr: float, delta: float) -> tuple[int, int]:
    """Draws from U0 and U1 that would prove both targets if no error were found, times PLAN_SLACK.

    Zero errors found bounds a stratum's errors by about |U|·ln(2/δ)/draws; the target allows about
    t·P/(1 − t) misses, with P at least the known positives plus U1. Capped at the stratum sizes.
    """
    level = math.log(2.0 / delta)

    def need(size: int, rate: float, other: int) -> int:
        if size == 0:
            return 0
        if rate <= 0:
            return size  # only labelling every frame proves a zero rate
        allowed = rate * other / (1.0 - rate) if rate < 1 else float(size)
        if allowed < 1:
            return size
        return min(size, math.ceil(PLAN_SLACK * size * level / allowed))

    n0 = need(len(state.u0), max_fnr, state.pos_known + len(state.u1))
    n1 = need(len(state.u1), max_fpr, state.neg_known + len(state.u0))
    return n0, n1


def _fit(n0: int, n1: int, left: int) -> tuple[int, int]:
    """Scale the plan down to the budget left, keeping its proportions."""
    left = max(0, left)
    if n0 + n1 <= left:
        return n0, n1
    if n0 + n1 == 0:
        return 0, 0
    a = int(left * n0 / (n0 + n1))
    return a, min(n1, left - a)


def _ratio(num: float, den: float) -> float:
    if num <= 0:
        return 0.0
    return min(1.0, num / den) if den > 0 else 1.0


def _reason(
    state: _Round,
    certified: bool,
    max_fnr: float,
    max_fpr: float,
    confidence: float,
    spent: int,
    budget: int,
    delta: float,
) -> str:
    bounds = f"fnr <= {state.fnr_bound:.3g} and fpr <= {state.fpr_bound:.3g} at {confidence:g} confidence"
    if certified:
        return f"certified on this footage: {bounds}, from {spent:,} frames checked by the reference"
    broken = [f"fnr <= {max_fnr:g}"] if state.fnr_bound > max_fnr else []
    broken += [f"fpr <= {max_fpr:g}"] if state.fpr_bound > max_fpr else []
    n0, n1 = plan_draws(state, max_fnr, max_fpr, delta)
    found = state.fn_found + state.fp_found
    why = (
        f"the reference found {state.fn_found:,} missed and {state.fp_found:,} false frames among those checked"
        if found
        else f"proving it would take about {n0 + n1:,} reference frames"
    )
    return (
        f"could not certify {' and '.join(broken)} on this footage within {budget:,} reference frames "
        f"({spent:,} spent; proven: {bounds}): {why}"
    )
