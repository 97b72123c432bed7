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
from dataclasses import dataclass, field

import numpy as np

from noscope_core.cascade.execute import CascadeRun
from noscope_core.cascade.routing import CascadeConfig, Route
from noscope_core.guarantees.bounds import check_confidence
from noscope_core.guarantees.draws import LOOKS, look_draws, plan_draws
from noscope_core.guarantees.hypergeom import hypergeom_upper
from noscope_core.spec.query import parse_target

#: sampling rounds after which only the last step (a failing stratum labelled in full) is left, whatever
#: ``max_rounds`` says: the doubling tightening reaches it sooner on any real answer (δ_r is then below 1e-9)
MAX_SAMPLING_ROUNDS = 30


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
    """The answer's error bounds on its own footage, and the corrected answer.

    Two kinds of reference frames are spent: ``drawn`` (uniform random draws: unbiased evaluation data, what the
    bounds are computed from) and ``tightened`` (frames *chosen* because the cascade was least sure of them, or
    every remaining frame of a stratum: they correct the answer but say nothing about the error elsewhere). Both
    are positions into the answer's frames, and both are charged at the reference's cost."""

    fnr_bound: float
    fpr_bound: float
    certified: bool  # both bounds meet their targets
    confidence: float
    max_fnr: float
    max_fpr: float
    reference_calls: int  # calls made to the reference callable
    rounds: int
    budget_frames: int | None  # the cap on reference frames; None: unbounded (tighten until certified)
    seed: int | None  # the draws' seed (fresh OS entropy unless one was asked for); None: nothing was drawn
    reason: str  # one sentence for the user
    labels: np.ndarray  # bool (N,): the answer with every reference label certification obtained
    drawn: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # positions drawn at random
    tightened: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # positions chosen

    @property
    def frames_drawn(self) -> int:
        return len(self.drawn)

    @property
    def frames_tightened(self) -> int:
        return len(self.tightened)

    @property
    def frames_labelled(self) -> int:
        """Reference frames certification spent: draws plus tightening."""
        return self.frames_drawn + self.frames_tightened

    def to_dict(self) -> dict:
        return {
            "certified": self.certified,
            "fnr_bound": self.fnr_bound,
            "fpr_bound": self.fpr_bound,
            "confidence": self.confidence,
            "certify_frames": self.frames_drawn,
            "tighten_frames": self.frames_tightened,
            "certify_rounds": self.rounds,
            "certify_budget": self.budget_frames,
            "certify_seed": self.seed,
            "certify_reason": self.reason,
        }


Reference = Callable[[np.ndarray], np.ndarray]
#: tighten(round, decisions, known, known_labels) -> new Decisions (the caller re-ran the affected frames,
#: paying its own reference calls), or None when it cannot tighten further
Tighten = Callable[[int, Decisions, np.ndarray, np.ndarray], "Decisions | None"]


def fresh_seed() -> int:
    """A seed from the operating system's entropy: every answer checks frames no one could have predicted."""
    entropy = np.random.SeedSequence().entropy
    assert isinstance(entropy, int)  # drawn from the OS when none is given
    return entropy


def round_delta(delta: float, r: int, max_rounds: int | None) -> float:
    """Round r's (1-based) share of δ: δ·2^-r, the last of ``max_rounds`` taking what is left, so the shares sum
    to at most δ however many rounds run (unbounded: Σ δ·2^-r = δ)."""
    if max_rounds is not None and r >= max_rounds:
        return delta * 0.5 ** (max_rounds - 1)
    return delta * 0.5**r


def certify(
    decisions: Decisions,
    reference: Reference,
    max_fnr: float,
    max_fpr: float,
    confidence: float = 0.95,
    budget_frames: int | None = None,
    tighten: Tighten | None = None,
    max_rounds: int | None = None,
    seed: int | None = None,
) -> Certificate:
    """Bound the FNR and FPR of ``decisions`` on its own frames, tightening until both targets are certified.

    ``reference(frames)`` returns the reference's labels (bool) of those frame positions. Each round draws
    uniformly in the undecided strata and bounds them at its share of δ (:func:`round_delta`); while a bound
    breaks its target, the riskiest undecided frames of the failing stratum go to the reference (twice as many
    each round; ``tighten`` replaces this with the caller's own, e.g. a wider band) and a fresh round draws
    again. The last step sends every remaining frame of a failing stratum to the reference: that stratum is
    then exact (its bound 0, no δ spent), so with the default unbounded budget the answer is always certified.

    ``budget_frames`` caps the reference frames certification may send (draws and tightening); the answer may
    then end uncertified, and its reason says why. ``max_rounds`` caps the sampling rounds before that last step
    (None: as many as the doubling tightening takes). ``seed`` fixes the draws (tests); None draws a fresh one
    from the OS, recorded in the certificate.
    """
    confidence = check_confidence(confidence)
    max_fnr, max_fpr = parse_target("max_fnr", max_fnr), parse_target("max_fpr", max_fpr)
    if budget_frames is not None and (
        isinstance(budget_frames, bool) or int(budget_frames) != budget_frames or budget_frames < 0
    ):
        raise ValueError(f"budget_frames must be a non-negative integer or None, got {budget_frames!r}")
    if max_rounds is not None and int(max_rounds) < 1:
        raise ValueError(f"max_rounds must be at least 1 or None, got {max_rounds!r}")
    budget = None if budget_frames is None else int(budget_frames)
    seed = fresh_seed() if seed is None else int(seed)
    rng = np.random.default_rng(seed)
    n = len(decisions.labels)
    known = np.zeros(n, dtype=bool)  # labelled by certification
    truth_known = np.zeros(n, dtype=bool)
    drawn: list[np.ndarray] = []
    chosen: list[np.ndarray] = []
    spent = calls = 0
    delta = 1.0 - confidence
    current = decisions
    state: _Round | None = None
    delta_l = delta
    exhausted: list[str] = []  # strata labelled in full by the last step

    def left() -> float:
        return math.inf if budget is None else budget - spent

    def ask(frames: np.ndarray, into: list[np.ndarray]) -> None:
        nonlocal spent, calls
        if len(frames) == 0:
            return
        got = np.asarray(reference(frames), dtype=bool).reshape(-1)
        if len(got) != len(frames):
            raise ValueError(f"the reference returned {len(got)} labels for {len(frames)} frames")
        known[frames] = True
        truth_known[frames] = got
        into.append(np.asarray(frames, dtype=np.int64))
        spent += len(frames)
        calls += 1

    def met(s: _Round) -> bool:
        return s.fnr_bound <= max_fnr and s.fpr_bound <= max_fpr

    r = 0
    while True:
        r += 1
        delta_r = round_delta(delta, r, max_rounds)
        state = _Round.of(current, known, truth_known)
        # looks at growing sample sizes, each at its share of δ_r: a good answer stops at the first look, a
        # borderline one buys more draws; the draws are nested, so each look's sample is uniform
        order0, order1 = rng.permutation(state.u0), rng.permutation(state.u1)
        n0 = n1 = 0
        for look in range(LOOKS):
            delta_l = delta_r * (0.5 ** (look + 1) if look < LOOKS - 1 else 0.5 ** (LOOKS - 1))
            p0, p1 = look_draws(state, n0, n1, look, max_fnr, max_fpr, delta_l, left() + n0 + n1)
            ask(np.sort(np.concatenate([order0[n0:p0], order1[n1:p1]])), drawn)
            n0, n1 = p0, p1
            fn_hits, fp_hits = int(truth_known[order0[:n0]].sum()), int((~truth_known[order1[:n1]]).sum())
            state = state.bound(fn_hits, n0, fp_hits, n1, delta_l)
            if met(state) or left() <= 0 or (n0 == len(state.u0) and n1 == len(state.u1)):
                break
        if met(state) or left() <= 0:
            break
        fnr_fails, fpr_fails = state.fnr_bound > max_fnr, state.fpr_bound > max_fpr
        # the undrawn frames of each failing stratum: undecided, and the cascade's verdict is what may be wrong
        pool = np.concatenate([order0[n0:] if fnr_fails else order0[:0], order1[n1:] if fpr_fails else order1[:0]])
        if len(pool) == 0:
            break
        last = (max_rounds is not None and r >= max_rounds) or r >= MAX_SAMPLING_ROUNDS
        if tighten is not None and not last:
            new = tighten(r, current, known.copy(), truth_known.copy())
            if new is not None:
                current = new
                continue
            last = True  # the caller cannot tighten further: only the last step is left
        # errors the bound still allows in the failing strata: tighten a multiple of them, doubling each round
        errors_up = (state.fn_up - state.fn_found if fnr_fails else 0) + (
            state.fp_up - state.fp_found if fpr_fails else 0
        )
        k = max(2 * errors_up, state.draws, 1) * 2 ** (r - 1)
        if last or current.risk is None or 2 * k >= len(pool):
            if len(pool) <= left():
                # the last step: every remaining frame of a failing stratum to the reference. The stratum is then
                # known exactly (hypergeom_upper of a full draw is the count itself), spending no δ; the other
                # stratum keeps this round's bound, which only tightens as the exact one's counts become known.
                ask(np.sort(pool), chosen)
                if fnr_fails:
                    n0 = len(state.u0)
                    exhausted.append("absent")
                if fpr_fails:
                    n1 = len(state.u1)
                    exhausted.append("present")
                fn_hits, fp_hits = int(truth_known[order0[:n0]].sum()), int((~truth_known[order1[:n1]]).sum())
                state = state.bound(fn_hits, n0, fp_hits, n1, delta_l)
                break
            if last or current.risk is None:
                break  # the cap forbids the last step
            k = min(len(pool), int(left()) // 2)  # within the cap: half of what is left, on the riskiest
        if budget is not None:
            k = min(k, int(left()) // 2)
        if k <= 0:
            break
        riskiest = pool[np.argsort(-current.risk[pool], kind="stable")[:k]]
        ask(np.sort(riskiest), chosen)
    assert state is not None
    labels = np.where(known, truth_known, current.labels)
    certified = met(state)
    spent_drawn = int(sum(len(d) for d in drawn))
    reason = _reason(
        state, certified, max_fnr, max_fpr, confidence, spent_drawn, spent - spent_drawn, budget, delta_l, exhausted
    )
    empty = np.zeros(0, dtype=np.int64)
    return Certificate(
        fnr_bound=state.fnr_bound,
        fpr_bound=state.fpr_bound,
        certified=certified,
        confidence=confidence,
        max_fnr=max_fnr,
        max_fpr=max_fpr,
        reference_calls=calls,
        rounds=r,
        budget_frames=budget,
        seed=seed,
        reason=reason,
        labels=labels,
        drawn=np.sort(np.concatenate(drawn)) if drawn else empty,
        tightened=np.sort(np.concatenate(chosen)) if chosen else empty,
    )


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
    fn_up: int = 0  # upper bound of the errors in each stratum (found ones included)
    fp_up: int = 0

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
        return _Round(
            self.u0, self.u1, self.pos_known, self.neg_known, fnr, fpr, fn_hits, fp_hits, n0 + n1, fn_up, fp_up
        )


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
    drawn: int,
    tightened: int,
    budget: int | None,
    delta: float,
    exhausted: list[str],
) -> str:
    bounds = f"fnr <= {state.fnr_bound:.3g} and fpr <= {state.fpr_bound:.3g} at {confidence:g} confidence"
    spent = f"{drawn + tightened:,} frames checked by the reference ({drawn:,} drawn at random, {tightened:,} chosen"
    spent += " as the riskiest" + (
        f"; every remaining frame the cascade called {' or '.join(exhausted)} was checked)" if exhausted else ")"
    )
    if certified:
        return f"certified on this footage: {bounds}, from {spent}"
    broken = [f"fnr <= {max_fnr:g}"] if state.fnr_bound > max_fnr else []
    broken += [f"fpr <= {max_fpr:g}"] if state.fpr_bound > max_fpr else []
    n0, n1 = plan_draws(state, max_fnr, max_fpr, delta)
    found = state.fn_found + state.fp_found
    why = (
        f"the reference found {state.fn_found:,} missed and {state.fp_found:,} false frames among those drawn"
        if found
        else f"proving it would take about {n0 + n1:,} reference frames"
    )
    cap = f"within the cap of {budget:,} reference frames" if budget is not None else "without labelling every frame"
    return f"could not certify {' and '.join(broken)} on this footage {cap} ({spent}; proven: {bounds}): {why}"
