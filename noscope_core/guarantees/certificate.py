"""Certify a cascade's answer on the query's own footage: bound the FNR and FPR of THIS answer on THIS video.

A promise made on the threshold segment breaks when the footage drifts (light, weather, a nudged camera). So,
after the cascade has run, a small reference budget is spent on frames *we* draw at random from the video:
the draws are independent by construction, whatever the temporal correlation of the footage, and the bound
needs no assumption about the video at all.

* Frames the reference labelled (the cascade's REFERENCE route) are known exactly. The rest fall in two strata by the cascade's own verdict: U0 (said absent: only false
  negatives hide there) and U1 (said present: only false positives). The verdict is the cascade's strongest
  score, so the strata are its importance weights: each is sampled at the rate its own target needs, which
  for a rare class is hundreds of times higher per frame in U1 than in U0.
* Inside a stratum frames are drawn uniformly without replacement, in one random order whose prefixes are the
  looks (sizes fixed before anything is drawn), and the number of errors in it gets the exact hypergeometric
  upper bound at each look's share of δ/2 (its CDF from scipy.special.gammaln; scipy.stats.hypergeom agrees, see
  tests, but is 70× slower on arrays); the best bound over the looks holds at 1 − δ/2. Uniform is deliberate: with no error
  found, any design's bound is set by its least-sampled frames (an adversary puts the misses there), so
  uniform is minimax; scores are better spent choosing which frames to send to the reference outright
  (tightening) than skewing the draws.
* The drawn frames' reference labels replace the cascade's in the answer; FNR = FN / (TP + FN) grows with FN
  and falls with TP, so the upper bound of FN in U0 and of FP in U1 (TP in U1 = |U1| − FP) combine
  monotonically into upper bounds of both rates of the corrected answer, simultaneously at 1 − δ.
* When a bound breaks a target, the failing stratum draws its next look or is tightened: its riskiest
  unlabelled frames go to the reference, and every error found there is corrected in the answer, so the errors
  it may still hold are its bound minus every error found in it, drawn or chosen. The bound is about the whole
  stratum, so whatever tightening chose, the subtraction is valid: no fresh draws, no δ spent. Which step is
  cheaper, the draws say (:mod:`noscope_core.guarantees.tighten`); it steers the labelling, never the bound.

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
from noscope_core.guarantees.draws import MAX_LOOKS, Strata, fit_budget, look_delta, look_sizes, plan_draws
from noscope_core.guarantees.hypergeom import hypergeom_upper
from noscope_core.guarantees.tighten import Step, StratumView, next_step, pool_rates, tie_means
from noscope_core.spec.query import parse_target

#: added to the risk of a frame the cascade never looked at whose label its looked-at neighbours do not both agree
#: with: above every model verdict (those lie in [0, 1])
CHANGE_RISK = 2.0


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
        risk = risk_from_scores(run.routes, run.labels, run.model_scores, config.c_low, config.c_high)
        return cls(run.labels, run.routes == Route.REFERENCE, risk)


#: the routes of the frames a cascade looked at itself (its model or the reference decided them); every other frame
#: carries a label from those around it (skipped, settled by the difference detector or by a keyframe plan)
LOOKED_ROUTES = (Route.MODEL_ABSENT, Route.MODEL_PRESENT, Route.REFERENCE)


def looked_at(routes: np.ndarray) -> np.ndarray:
    """Which of ``routes`` the cascade looked at itself (:data:`LOOKED_ROUTES`)."""
    return np.isin(np.asarray(routes), [int(r) for r in LOOKED_ROUTES])


def risk_from_scores(
    routes: np.ndarray,
    labels: np.ndarray,
    model_scores: np.ndarray | None,
    c_low: float,
    c_high: float,
) -> np.ndarray:
    """How likely each frame's label is wrong, from what decided it (higher = riskier).

    Model-decided frames: closeness of p to the band (c_low, c_high). Frames the cascade never looked at itself
    (skipped, settled by the difference detector or by a keyframe plan) carry a label from the frames around them
    that it did look at: such a frame is as risky as the riskier of its two nearest looked-at neighbours while both
    agree with its label (a reference neighbour is certain), and riskier than every model verdict where they do not
    (a change happened between two looks and this frame's label guessed its side; ranked among themselves by the
    riskier neighbour). Measured on six hours of a real camera (docs/guarantees.md): all of a cascade's misses
    in its riskiest 5 % of the frames it said were absent, where one flat rank for all unlooked-at frames (85 %
    of them) put none of its misses in its riskiest 20 %. The order only steers tightening, never the bound.
    """
    routes = np.asarray(routes)
    labels = np.asarray(labels, dtype=bool)
    n = len(routes)
    risk = np.zeros(n)
    if model_scores is not None:
        p = np.asarray(model_scores, dtype=np.float64)
        absent, present = routes == Route.MODEL_ABSENT, routes == Route.MODEL_PRESENT
        risk[absent] = 1.0 - (c_low - p[absent])  # near c_low: risky
        risk[present] = 1.0 - (p[present] - c_high)
    looked = looked_at(routes)
    carried = ~looked
    if carried.any():
        idx = np.arange(n)
        before = np.maximum.accumulate(np.where(looked, idx, -1))  # nearest looked-at frame at or before
        after = np.minimum.accumulate(np.where(looked, idx, n)[::-1])[::-1]  # ... at or after
        has_b, has_a = before >= 0, after < n
        b, a = np.clip(before, 0, n - 1), np.clip(after, 0, n - 1)
        known = np.where(routes == Route.REFERENCE, 0.0, risk)  # a reference neighbour is certain
        neighbour = np.maximum(np.where(has_b, known[b], 1.0), np.where(has_a, known[a], 1.0))
        agree = has_b & has_a & (labels[b] == labels) & (labels[a] == labels)
        risk[carried] = np.where(agree, neighbour, CHANGE_RISK + neighbour)[carried]
    risk[routes == Route.REFERENCE] = -np.inf
    return risk


@dataclass(frozen=True)
class StrataSample:
    """What the uniform draws found in each undecided stratum, before any correction: ``absent`` / ``present``
    frames the cascade called so without the reference, how many were drawn, and the misses / false alarms among
    them. An unbiased estimate of the cascade's own errors on this footage (an estimate, not a bound: the
    certificate's bounds are the promise), which shows drift before it shows in the speed-up."""

    absent_frames: int
    absent_drawn: int
    absent_missed: int
    present_frames: int
    present_drawn: int
    present_false: int

    def estimated_errors(self) -> tuple[float, float]:
        """(misses, false alarms) the cascade's answer is estimated to have held before certification."""
        fn = self.absent_missed * self.absent_frames / self.absent_drawn if self.absent_drawn else 0.0
        fp = self.present_false * self.present_frames / self.present_drawn if self.present_drawn else 0.0
        return fn, fp

    def to_dict(self) -> dict:
        fn, fp = self.estimated_errors()
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return {**d, "estimated_missed": fn, "estimated_false": fp}


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
    sample: StrataSample | None = None  # what the uniform draws found in each stratum (None: nothing drawn)

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
            "certify_sample": None if self.sample is None else self.sample.to_dict(),
        }


Reference = Callable[[np.ndarray], np.ndarray]


def fresh_seed() -> int:
    """A seed from the operating system's entropy: every answer checks frames no one could have predicted."""
    entropy = np.random.SeedSequence().entropy
    assert isinstance(entropy, int)  # drawn from the OS when none is given
    return entropy


def certify(
    decisions: Decisions,
    reference: Reference,
    max_fnr: float,
    max_fpr: float,
    confidence: float = 0.95,
    budget_frames: int | None = None,
    tighten: bool = True,
    max_looks: int | None = None,
    seed: int | None = None,
) -> Certificate:
    """Bound the FNR and FPR of ``decisions`` on its own frames, tightening until both targets are certified.

    ``reference(frames)`` returns the reference's labels (bool) of those frame positions. Each undecided stratum
    (U0: said absent, U1: said present) is drawn uniformly in one nested order, at looks of growing size fixed
    in advance (:func:`~noscope_core.guarantees.draws.look_sizes`), look ℓ bounding the stratum's errors at
    :func:`look_delta`. The errors an answer may still hold are that bound minus every error the reference has
    found in the stratum, drawn or chosen. While a target breaks, the failing stratum either draws its next look
    or sends its riskiest unlabelled frames to the reference, whichever the draws' errors say is cheaper
    (:mod:`noscope_core.guarantees.tighten`); a stratum labelled in full is known exactly (no δ spent), so with
    the default unbounded budget the answer is always certified.

    ``budget_frames`` caps the reference frames certification may send (draws and tightening); the answer may
    then end uncertified, and its reason says why. ``tighten=False``: only the looks decide (no frame is chosen).
    ``max_looks`` caps the looks per stratum. ``seed`` fixes the draws (tests); None draws a fresh one from the
    OS, recorded in the certificate.
    """
    confidence = check_confidence(confidence)
    max_fnr, max_fpr = parse_target("max_fnr", max_fnr), parse_target("max_fpr", max_fpr)
    if budget_frames is not None and (
        isinstance(budget_frames, bool) or int(budget_frames) != budget_frames or budget_frames < 0
    ):
        raise ValueError(f"budget_frames must be a non-negative integer or None, got {budget_frames!r}")
    if max_looks is not None and int(max_looks) < 1:
        raise ValueError(f"max_looks must be at least 1 or None, got {max_looks!r}")
    budget = None if budget_frames is None else int(budget_frames)
    seed = fresh_seed() if seed is None else int(seed)
    rng = np.random.default_rng(seed)
    delta = 1.0 - confidence
    run = _Run(decisions, reference, rng)
    # the looks' sizes are fixed before any frame is drawn (from the strata's sizes and the targets alone): a
    # size chosen from what earlier draws found would void the union bound over looks
    sizes = look_sizes(run.strata_sizes(), max_fnr, max_fpr, [look_delta(delta, k) for k in range(MAX_LOOKS)])
    if max_looks is not None:
        sizes = [sz[: int(max_looks)] for sz in sizes]
    steps = 0

    def left() -> float:
        return math.inf if budget is None else budget - run.spent

    # the first look of each stratum, scaled down to fit a cap (a size fixed before drawing: still valid)
    first = fit_budget(sizes[0][0] if sizes[0] else 0, sizes[1][0] if sizes[1] else 0, int(min(left(), 2**62)))
    for side in (0, 1):
        if sizes[side]:
            sizes[side] = [first[side]] + [x for x in sizes[side][1:] if x > first[side]]
            run.draw_to(side, 0, sizes[side][0], look_delta(delta, 0))
    steps = 1
    while True:
        state = run.bounds(max_fnr, max_fpr)
        if state.met or left() <= 0:
            break
        moved = False
        for side in (0, 1):
            if not state.fails[side]:
                continue
            # the looks still ahead that the cap can pay for, each with its own δ
            ahead = [
                (j, size, look_delta(delta, j))
                for j, size in enumerate(sizes[side])
                if j >= run.next_look[side] and size - run.drawn[side] <= left()
            ]
            if tighten:
                step = next_step(run.view(side, state), [(size, d) for _, size, d in ahead])
            else:
                step = Step(0, 0, "only the looks decide") if ahead else Step(0, -1, "no look left")
            if step.tighten > 0:
                k = step.tighten
                if run.last_tighten[side]:
                    # tightening again right after tightening: the estimate fell short. The last batch's own yield
                    # (errors per frame, measured on thousands of the frames just above these) says how many more
                    # frames the errors still missing need; with no error found in it, at least double the batch,
                    # so a stratum is settled in a few reference calls however wrong the estimate
                    missing = state.left[side] - state.allowed[side]
                    if run.last_yield[side] > 0:
                        k = max(k, math.ceil(1.25 * missing / run.last_yield[side]))
                    else:
                        k = max(k, 2 * run.last_tighten[side])
                run.tighten(side, int(min(k, left())))
            elif step.look >= 0:
                # the next look, even when a later one made drawing worth it: the draws are nested and every look
                # has its own δ, so passing through the smaller looks costs nothing and may stop sooner
                j, size, d = ahead[0]
                run.draw_to(side, j, size, d)
            else:
                continue
            moved = True
            break  # re-bound after every step: the other stratum's allowance moves with this one
        if not moved:
            break
        steps += 1
    state = run.bounds(max_fnr, max_fpr)
    labels = np.where(run.known, run.truth_known, run.decisions.labels)
    drawn = run.drawn_frames()
    tightened = run.chosen_frames()
    reason = _reason(state, max_fnr, max_fpr, confidence, len(drawn), len(tightened), budget, run)
    return Certificate(
        fnr_bound=state.fnr_bound,
        fpr_bound=state.fpr_bound,
        certified=state.met,
        confidence=confidence,
        max_fnr=max_fnr,
        max_fpr=max_fpr,
        reference_calls=run.calls,
        rounds=steps,
        budget_frames=budget,
        seed=seed,
        reason=reason,
        labels=labels,
        drawn=drawn,
        tightened=tightened,
        sample=run.sample(),
    )


@dataclass(frozen=True)
class _Bounds:
    """The answer's bounds now: per stratum, the errors it may still hold, and the rates they make."""

    left: tuple[int, int]  # errors not ruled out in U0 (misses) and U1 (false alarms)
    allowed: tuple[float, float]  # the errors each target allows to be left
    fnr_bound: float
    fpr_bound: float
    found: tuple[int, int]  # errors the reference found in each stratum (drawn or chosen)
    max_fnr: float
    max_fpr: float

    @property
    def fails(self) -> tuple[bool, bool]:
        return self.fnr_bound > self.max_fnr, self.fpr_bound > self.max_fpr

    @property
    def met(self) -> bool:
        return not any(self.fails)


class _Run:
    """One certification's state: the two strata in their draw order, what the reference has labelled, and the
    best bound of each stratum over the looks drawn so far."""

    def __init__(self, decisions: Decisions, reference: Reference, rng: np.random.Generator) -> None:
        self.decisions, self.reference = decisions, reference
        n = len(decisions.labels)
        self.known = np.zeros(n, dtype=bool)  # labelled by certification
        self.truth_known = np.zeros(n, dtype=bool)
        self.chosen = np.zeros(n, dtype=bool)  # labelled because tightening chose them
        exact, labels = decisions.exact, decisions.labels
        self.strata = (np.flatnonzero(~exact & ~labels), np.flatnonzero(~exact & labels))
        self.order = (rng.permutation(self.strata[0]), rng.permutation(self.strata[1]))
        self.pos_exact, self.neg_exact = int(np.count_nonzero(exact & labels)), int(np.count_nonzero(exact & ~labels))
        self.drawn = [0, 0]  # each stratum's draws: a prefix of its order
        self.next_look = [0, 0]  # the first look each stratum has not drawn
        self.last_tighten = [0, 0]  # the stratum's last step, when it was a tightening: its frames
        self.last_yield = [0.0, 0.0]  # and the errors per frame it found
        self.upper = [len(self.strata[0]), len(self.strata[1])]  # the best error bound of each stratum so far
        self.spent = self.calls = 0
        risk = decisions.risk
        self.risk = np.zeros(n) if risk is None else risk
        self.ranked = risk is not None
        # the places in the risk order the draws' errors are priced by: ties in an order of their own, drawn
        # independently of the draw order. The draws are a prefix of the draw order, so ranking ties by it put a
        # tie's drawn frames before its unlabelled ones, and the errors the draws found there were read as the
        # riskiest frames' (a tie of thousands of frames the difference detector decided made 3 misses in 1,071
        # draws look like 116 among the unlabelled frames, and tightening chased them through 3,945 frames).
        # Tightening itself still takes a tie in the draw order (:meth:`_pool`): the frames it labels there are
        # the next looks' draws, so a look drawn after it finds them paid for.
        tiebreak = rng.random(n)  # drawn after the orders: the draws of a seed are unchanged
        self.rank = np.empty(n, dtype=np.int64)
        for stratum in self.strata:
            self.rank[stratum[np.lexsort((tiebreak[stratum], -self.risk[stratum]))]] = np.arange(len(stratum))

    def strata_sizes(self) -> Strata:
        return Strata(len(self.strata[0]), len(self.strata[1]), self.pos_exact, self.neg_exact)

    def _ask(self, frames: np.ndarray) -> None:
        frames = frames[~self.known[frames]]  # a frame already labelled is known: never paid twice
        if len(frames) == 0:
            return
        frames = np.sort(frames)
        got = np.asarray(self.reference(frames), dtype=bool).reshape(-1)
        if len(got) != len(frames):
            raise ValueError(f"the reference returned {len(got)} labels for {len(frames)} frames")
        self.known[frames] = True
        self.truth_known[frames] = got
        self.spent += len(frames)
        self.calls += 1

    def _errors(self, side: int, frames: np.ndarray) -> np.ndarray:
        """Which of these labelled frames of the stratum the cascade got wrong."""
        return self.truth_known[frames] if side == 0 else ~self.truth_known[frames]

    def draw_to(self, side: int, look: int, size: int, delta: float) -> None:
        """Draw the stratum to look ``look`` (``size`` draws in all) and bound its errors at that look's ``delta``."""
        order = self.order[side]
        size = min(int(size), len(order))
        self._ask(order[self.drawn[side] : size])
        self.last_tighten[side] = 0
        self.drawn[side] = size
        self.next_look[side] = look + 1
        hits = int(np.count_nonzero(self._errors(side, order[:size])))
        self.upper[side] = min(self.upper[side], hypergeom_upper(hits, len(order), size, delta))

    def tighten(self, side: int, k: int) -> None:
        """Send the stratum's ``k`` riskiest unlabelled frames to the reference."""
        self.last_tighten[side] = k
        pool = self._pool(side)
        picked = pool[:k]
        if len(picked):
            self.chosen[picked[~self.known[picked]]] = True
            self._ask(picked)
        self.last_yield[side] = float(np.mean(self._errors(side, picked))) if len(picked) else 0.0

    def _pool(self, side: int) -> np.ndarray:
        """The stratum's unlabelled frames, riskiest first (ties in the draw order, which is random)."""
        order = self.order[side]
        pool = order[~self.known[order]]
        return pool[np.argsort(-self.risk[pool], kind="stable")]

    def bounds(self, max_fnr: float, max_fpr: float) -> _Bounds:
        found, left = [0, 0], [0, 0]
        for side in (0, 1):
            stratum = self.strata[side]
            labelled = stratum[self.known[stratum]]
            found[side] = int(np.count_nonzero(self._errors(side, labelled)))
            # a stratum labelled in full is known exactly; otherwise its bound less what was found and corrected
            left[side] = 0 if len(labelled) == len(stratum) else max(0, self.upper[side] - found[side])
        pos_known = self.pos_exact + int(np.count_nonzero(self.known & self.truth_known))
        neg_known = self.neg_exact + int(np.count_nonzero(self.known & ~self.truth_known))
        u0_open = len(self.strata[0]) - int(np.count_nonzero(self.known[self.strata[0]]))
        u1_open = len(self.strata[1]) - int(np.count_nonzero(self.known[self.strata[1]]))
        # positives = known + TP among the unlabelled of U1 (at least u1_open - left1) + misses left in U0
        pos_other, neg_other = pos_known + u1_open - left[1], neg_known + u0_open - left[0]
        fnr = _ratio(left[0], pos_other + left[0])
        fpr = _ratio(left[1], neg_other + left[1])
        allowed = (_allowed(max_fnr, pos_other), _allowed(max_fpr, neg_other))
        return _Bounds((left[0], left[1]), allowed, fnr, fpr, (found[0], found[1]), max_fnr, max_fpr)

    def view(self, side: int, state: _Bounds) -> StratumView:
        order = self.order[side]
        sample = order[: self.drawn[side]]
        wrong = self._errors(side, sample)
        pool = self._pool(side)
        if self.ranked:
            # a tie shares its errors evenly: the order inside it says nothing about where they are (the pool is
            # riskiest first, so each tie is one run of it)
            rates = tie_means(pool_rates(self.rank[sample], wrong, self.rank[pool]), self.risk[pool])
        else:
            rates = np.zeros(len(pool))  # no order: tightening finds errors no better than the draws
        return StratumView(
            size=len(order),
            drawn=self.drawn[side],
            found=int(np.count_nonzero(wrong)),
            pool_rate=rates,
            known_errors=state.found[side],
            upper=self.upper[side],
            allowed=state.allowed[side],
        )

    def drawn_frames(self) -> np.ndarray:
        parts = [self.order[side][: self.drawn[side]] for side in (0, 1)]
        return np.sort(np.concatenate(parts)).astype(np.int64)

    def sample(self) -> StrataSample:
        counts = []
        for side in (0, 1):
            drawn = self.order[side][: self.drawn[side]]
            counts += [len(self.order[side]), len(drawn), int(np.count_nonzero(self._errors(side, drawn)))]
        return StrataSample(*counts)

    def chosen_frames(self) -> np.ndarray:
        """Frames labelled because tightening chose them and no look drew them later (a chosen frame a later
        look drew belongs to the uniform sample, and counts once, as drawn)."""
        chosen = self.chosen.copy()
        chosen[self.drawn_frames()] = False
        return np.flatnonzero(chosen).astype(np.int64)

    def open_sizes(self) -> tuple[int, int]:
        return tuple(int(np.count_nonzero(~self.known[s])) for s in self.strata)  # type: ignore[return-value]


def _allowed(rate: float, other: int) -> float:
    """Errors a target rate allows to be left beside ``other`` frames of the class: e / (other + e) <= rate."""
    if rate >= 1:
        return math.inf
    return rate * max(0, other) / (1.0 - rate)


def _ratio(num: float, den: float) -> float:
    if num <= 0:
        return 0.0
    return min(1.0, num / den) if den > 0 else 1.0


def _reason(
    state: _Bounds,
    max_fnr: float,
    max_fpr: float,
    confidence: float,
    drawn: int,
    tightened: int,
    budget: int | None,
    run: _Run,
) -> str:
    bounds = f"fnr <= {state.fnr_bound:.3g} and fpr <= {state.fpr_bound:.3g} at {confidence:g} confidence"
    open_sizes = run.open_sizes()
    exhausted = [
        name for side, name in ((0, "absent"), (1, "present")) if len(run.strata[side]) and not open_sizes[side]
    ]
    spent = f"{drawn + tightened:,} frames checked by the reference ({drawn:,} drawn at random, {tightened:,} chosen"
    spent += " as the riskiest" + (
        f"; every remaining frame the cascade called {' or '.join(exhausted)} was checked)" if exhausted else ")"
    )
    if state.met:
        return f"certified on this footage: {bounds}, from {spent}"
    broken = [f"fnr <= {max_fnr:g}"] if state.fails[0] else []
    broken += [f"fpr <= {max_fpr:g}"] if state.fails[1] else []
    found = sum(state.found)
    if found:
        why = f"the reference found {state.found[0]:,} missed and {state.found[1]:,} false frames among those checked"
    else:
        n0, n1 = plan_draws(run.strata_sizes(), max_fnr, max_fpr, look_delta(1.0 - confidence, 0))
        why = f"proving it would take about {n0 + n1:,} reference frames"
    cap = f"within the cap of {budget:,} reference frames" if budget is not None else "without labelling every frame"
    return f"could not certify {' and '.join(broken)} on this footage {cap} ({spent}; proven: {bounds}): {why}"
