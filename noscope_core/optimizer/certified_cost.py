"""The planner's cost model: what a cascade's answer is expected to cost once the certificate has checked it.

A certified answer of N frames costs the cascade's own per-frame cost × N plus every reference frame the
certificate spends on it: its random draws and, when they cannot prove the targets, its tightening (the
riskiest undecided frames sent to the reference, :mod:`noscope_core.guarantees.certificate`). The draws do not
shrink with N (about ln(2/δ)/(t·p) frames, docs/guarantees.md), so a cascade pays only on footage long enough;
and a cascade whose errors sit near the target pays tightening on top. This module ESTIMATES that bill from the
threshold segment, for the optimizer to choose by; the promise itself is the certificate's, made after the
cascade is fixed, whatever was chosen here.

The estimate replays the certificate's own plan (the same looks, :func:`~noscope_core.guarantees.draws.look_sizes`
at :func:`~noscope_core.guarantees.draws.look_delta`, and the exact
:func:`~noscope_core.guarantees.hypergeom.hypergeom_upper`) on the expected strata of an answer of N frames,
finding the expected number of errors in each look's draws and, per stratum, the cheapest look to stop at plus
the tightening its bound would still need:

* the answer's shape (:class:`AnswerShape`) is the threshold segment's, scaled to N: the share of frames the
  reference labels (exact), the undecided frames called absent (U0, where every miss hides) and present (U1,
  where every false alarm hides), and the misses and false alarms in them;
* which error rates: the threshold segment's point rates, a mild upper bound of them, or that bound with a margin
  for new footage (:data:`ESTIMATORS`);
  docs/optimizer.md shows the six-hour runs and the simulation that weighed the default;
* tightening is priced as if the cascade's risk order found its errors no better than chance (the frames
  moved to the reference hold errors at the stratum's rate): an over-estimate for a good risk order, so
  cascades whose errors sit near the target are charged in full rather than hoped through.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from noscope_core.guarantees.bounds import rate_bound
from noscope_core.guarantees.draws import MAX_LOOKS, Strata, look_delta, look_sizes
from noscope_core.guarantees.hypergeom import hypergeom_upper
from noscope_core.spec.camera import ESTIMATORS  # the names a camera may choose (spec sits below the optimizer)

#: how the planner turns the threshold segment's error totals into the error rates it expects on new footage:
#: "point" the measured rates; "mild" their upper bound at MILD_CONFIDENCE counting frames, not blocks (the block
#: bound at 0.95 is the optimizer's old acceptance rule: it charges a cascade with no error on a short segment as if
#: it missed a few percent, which is what made every real query fall back); "margin" the mild bound times
#: DRIFT_MARGIN: new footage priced as if it held that many times the segment's errors. The default was chosen on the
#: six-hour camera and a drifting simulated one (benchmarks/planner_estimators.py, docs/optimizer.md)
DEFAULT_ESTIMATOR = "margin"
MILD_CONFIDENCE = 0.75
#: the "margin" estimator's factor. The footage a cascade answers is not the segment that chose its thresholds:
#: on the composited camera the hours after training held 2-3x the errors hour 1 showed (docs/long_camera.md), and
#: the search's pick among many cascades on one segment is itself optimistic (its errors there were lucky). The
#: two mistakes do not cost alike: errors under-estimated are paid at the reference's price by the certificate's
#: tightening, errors over-estimated only by choosing a dearer cascade.
DRIFT_MARGIN = 2.0


@dataclass(frozen=True)
class AnswerShape:
    """An answer as the certificate sees it, as shares of its frames (measured on the threshold segment).

    ``exact_positive`` / ``exact_negative``: labelled by the reference (exact); ``said_absent`` / ``said_present``:
    the undecided frames the cascade calls absent (U0) / present (U1); ``missed`` / ``false_present``: the
    expected false negatives (all in U0) and false positives (all in U1).
    """

    exact_positive: float
    exact_negative: float
    said_absent: float
    said_present: float
    missed: float
    false_present: float

    @classmethod
    def of_counts(cls, n: int, positives: int, fn: float, fp: float, n_ref: int, ref_positive: int) -> AnswerShape:
        """From a segment's totals: ``n`` frames, ``positives`` true, ``fn`` / ``fp`` errors, ``n_ref`` frames
        labelled by the reference of which ``ref_positive`` positive."""
        said_present = (positives - fn + fp - ref_positive) / n
        return cls(
            exact_positive=ref_positive / n,
            exact_negative=(n_ref - ref_positive) / n,
            said_absent=max(0.0, 1.0 - n_ref / n - said_present),
            said_present=max(0.0, said_present),
            missed=fn / n,
            false_present=fp / n,
        )

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict) -> AnswerShape:
        return cls(**{k: float(d[k]) for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class CertifiedEstimate:
    """The expected bill of one certified answer of ``footage_frames`` frames."""

    footage_frames: int
    certify_frames: float  # reference frames the certificate is expected to spend (draws + tightening)
    cost_ms: float  # per answered frame: the cascade's own cost plus its share of the certificate's frames
    speedup: float  # reference_ms / cost_ms


def estimated_errors(
    fn: np.ndarray, fp: np.ndarray, positives: int, n: int, estimator: str
) -> tuple[np.ndarray, np.ndarray]:
    """The error totals the planner expects on new footage like the segment's (as counts on the segment)."""
    fn, fp = np.asarray(fn, dtype=np.float64), np.asarray(fp, dtype=np.float64)
    if estimator == "point":
        return fn, fp
    if estimator not in ("mild", "margin"):
        raise ValueError(f"unknown estimator {estimator!r}; choose one of {ESTIMATORS}")
    negatives = n - positives
    fnr = rate_bound(fn.astype(np.int64), positives, n, 1, MILD_CONFIDENCE)
    fpr = rate_bound(fp.astype(np.int64), negatives, n, 1, MILD_CONFIDENCE)
    factor = DRIFT_MARGIN if estimator == "margin" else 1.0
    # a mild bound, not a promise: never below the measured count, never above the whole class
    return np.clip(factor * np.maximum(fn, fnr * positives), 0, positives), np.clip(
        factor * np.maximum(fp, fpr * negatives), 0, negatives
    )


def expected_certify_frames(
    shape: AnswerShape, footage_frames: int, max_fnr: float, max_fpr: float, confidence: float
) -> float:
    """Reference frames the certificate is expected to spend on an answer of this shape and length."""
    n = int(footage_frames)
    # a stratum the answer is expected to hold counts at least one frame: rounding a small undecided share of a
    # short answer down to nothing would price a cascade that skips the reference on a few frames as needing no
    # certificate at all (with 0 % targets, as cheaper than the reference it must fall back to)
    u0, u1 = _frames(shape.said_absent, n), _frames(shape.said_present, n)
    pos_known, neg_known = round(shape.exact_positive * n), round(shape.exact_negative * n)
    fn, fp = min(shape.missed * n, u0), min(shape.false_present * n, u1)
    if u0 + u1 == 0:
        return 0.0
    delta = 1.0 - confidence
    deltas = [look_delta(delta, j) for j in range(MAX_LOOKS)]
    sizes = look_sizes(Strata(u0, u1, pos_known, neg_known), max_fnr, max_fpr, deltas)
    # each stratum's misses (false alarms) may be left beside the other classes' expected frames
    allowed0 = _allowed(max_fnr, pos_known + u1 - fp)
    allowed1 = _allowed(max_fpr, neg_known + u0 - fn)
    return float(
        min(
            n,
            _stratum_frames(u0, fn, allowed0, sizes[0], deltas) + _stratum_frames(u1, fp, allowed1, sizes[1], deltas),
        )
    )


def _stratum_frames(size: int, errors: float, allowed: float, looks: list[int], deltas: list[float]) -> float:
    """The frames one stratum's certificate is expected to spend: its first look, then the cheaper of tightening
    and a later look, as :func:`noscope_core.guarantees.tighten.next_step` chooses, with the errors where a draw
    finds them at the stratum's rate and tightening finding them no better than chance (an over-estimate for a
    good risk order: cascades whose errors sit near the target are charged in full rather than hoped through)."""
    if size <= 0 or not looks:
        return 0.0
    rate = errors / size

    def cost_after(j: int) -> float:
        """Draws to look j, then the tightening its expected bound still needs."""
        drawn = looks[j]
        hits = math.floor(rate * drawn)
        left = hypergeom_upper(hits, size, drawn, deltas[j]) - hits if drawn < size else 0
        need = left - allowed
        if need <= 0:
            return float(drawn)
        # frames chosen at random hold errors at the rate of what is left undrawn
        left_rate = (errors - hits) / max(1, size - drawn)
        k = need / left_rate if left_rate > 0 else math.inf
        return float(drawn + min(k, size - drawn))

    return min(cost_after(j) for j in range(len(looks)))


def _allowed(rate: float, other: float) -> float:
    """Errors a target rate allows beside ``other`` frames of the class: e / (other + e) <= rate."""
    if rate >= 1:
        return math.inf
    return rate * max(0.0, other) / (1.0 - rate)


def _frames(share: float, n: int) -> int:
    """Frames of an answer of ``n`` a share stands for: rounded up, so any positive share is at least one."""
    return min(n, math.ceil(share * n - 1e-9)) if share > 0 else 0


def certified_estimate(
    shape: AnswerShape,
    cost_ms: float,
    reference_ms: float,
    footage_frames: int,
    max_fnr: float,
    max_fpr: float,
    confidence: float,
) -> CertifiedEstimate:
    """The expected certified bill of one cascade of per-frame cost ``cost_ms`` on ``footage_frames`` frames."""
    frames = expected_certify_frames(shape, footage_frames, max_fnr, max_fpr, confidence)
    per_frame = cost_ms + frames * reference_ms / footage_frames
    return CertifiedEstimate(
        int(footage_frames), frames, per_frame, reference_ms / per_frame if per_frame > 0 else math.inf
    )


#: the longest answer the planner considers when saying from what length a certified answer would pay
MAX_PAYING_FRAMES = 2**34


def pays_from_frames(
    shape: AnswerShape,
    cost_ms: float,
    reference_ms: float,
    max_fnr: float,
    max_fpr: float,
    confidence: float,
    start_frames: int,
    read_ms: float = 0.0,
    certify_frame_read_ms: float = 0.0,
    reference_read_ms: float = 0.0,
) -> int | None:
    """About the shortest answer (≥ ``start_frames``) on which this cascade's expected certified cost beats the
    reference's; None when none up to MAX_PAYING_FRAMES does (its own cost or its tightening is too high).

    Reading the video, when priced: ``read_ms`` the cascade's own per frame, ``certify_frame_read_ms`` each frame
    its certificate labels, ``reference_read_ms`` the reference's per frame (every frame decoded)."""
    if cost_ms + read_ms >= reference_ms + reference_read_ms:
        return None

    def pays(frames: int) -> bool:
        est = certified_estimate(shape, cost_ms, reference_ms, frames, max_fnr, max_fpr, confidence)
        read = read_ms + est.certify_frames * certify_frame_read_ms / frames
        return est.cost_ms + read < reference_ms + reference_read_ms

    lo, hi = max(1, int(start_frames)), max(2, int(start_frames))
    while not pays(hi):
        lo, hi = hi, hi * 4
        if hi > MAX_PAYING_FRAMES:
            return None
    while hi - lo > max(1, lo // 20):  # to about 5 %: the figure is an estimate
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if pays(mid) else (mid, hi)
    return hi


def footage_text(frames: float, fps: float | None) -> str:
    """A footage length in words: "36,000 frames (about 1 hour at 10 fps)"."""
    text = f"{frames:,.0f} frames"
    if fps:
        seconds = frames / fps
        if seconds < 90:
            span = f"{seconds:.0f} s"
        elif seconds < 5400:
            span = f"{seconds / 60:.0f} minutes"
        elif seconds < 2 * 86400:
            span = f"{seconds / 3600:.2g} hours"
        else:
            span = f"{seconds / 86400:.2g} days"
        text += f" (about {span} at {fps:g} fps)"
    return text
