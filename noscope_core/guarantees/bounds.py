"""Upper confidence bounds on a cascade's FNR and FPR that respect time: evidence is counted in blocks, not frames.

Frames of a video are not independent trials: 80 positive frames may be three people walking by, and a
cascade that misses one of them misses a whole run. So the segment is cut into consecutive blocks of
``unit_frames`` frames, at least the label's integrated autocorrelation time (:func:`evidence_unit_frames`),
and the blocks are treated as exchangeable draws from the camera's process (the one assumption; see
docs/guarantees.md). The rate being bounded is the process's FNR = E[FN_b] / E[P_b], a ratio of block means:

* E[FN_b / L] gets a one-sided upper bound and E[P_b / L] a lower one, each at δ/2 (δ = 1 − confidence), from
  the Chernoff–Hoeffding relative-entropy bound for means of [0, 1]-valued i.i.d. variables (Hoeffding 1963,
  Thm 1). With no errors it equals Clopper-Pearson with one trial per block, so nothing is lost at the
  point that matters; and it needs only the totals, which keeps the optimizer's prefix-sum search intact.
* FNR ≤ upper(FN) / lower(P); the FPR likewise over negatives.

With no misses at all the bound is about L · ln(2/δ) / positives: at 1 % and 0.95 confidence a cascade must be
seen on about 370 independent positive blocks. That is inherent, and :func:`shortfall_sentence` says how much
more footage it would take.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from noscope_core.common.errors import QueryError

#: bisection steps for inverting the relative entropy: 2^-60 of the unit interval is far below any rate we report
_BISECT_STEPS = 60


@dataclass(frozen=True)
class ErrorBounds:
    """Measured errors of a labelling on a segment and their upper confidence bounds for unseen footage."""

    fnr_bound: float  # upper bound of the process's FNR at `confidence`
    fpr_bound: float
    confidence: float
    unit_frames: int  # frames per evidence block
    units: int  # blocks in the segment
    positive_units: float  # positive frames / unit_frames: independent positive evidence
    negative_units: float
    fn: int
    fp: int
    positives: int
    negatives: int

    @property
    def fnr(self) -> float:
        return self.fn / self.positives if self.positives else 0.0

    @property
    def fpr(self) -> float:
        return self.fp / self.negatives if self.negatives else 0.0

    def to_dict(self) -> dict:
        return {
            "fnr": self.fnr,
            "fpr": self.fpr,
            "fnr_bound": self.fnr_bound,
            "fpr_bound": self.fpr_bound,
            "confidence": self.confidence,
            "unit_frames": self.unit_frames,
            "units": self.units,
            "positive_units": self.positive_units,
            "negative_units": self.negative_units,
        }


def check_confidence(confidence: float) -> float:
    if isinstance(confidence, bool) or not 0.0 < float(confidence) < 1.0:
        raise QueryError(f"confidence must lie strictly between 0 and 1, got {confidence!r}", "e.g. 0.95")
    return float(confidence)


def bernoulli_kl(p: np.ndarray | float, q: np.ndarray | float) -> np.ndarray:
    """KL(Bernoulli(p) ‖ Bernoulli(q)), elementwise, with 0·log 0 = 0."""
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    q = np.clip(np.asarray(q, dtype=np.float64), 1e-300, 1.0 - 1e-16)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0) / q), 0.0)
        b = np.where(p < 1, (1 - p) * np.log(np.where(p < 1, 1 - p, 1.0) / (1 - q)), 0.0)
    return a + b


def mean_upper(mean: np.ndarray | float, n: int | float, delta: float) -> np.ndarray:
    """Upper bound at 1 − δ of the mean of n i.i.d. [0, 1] variables whose sample mean is ``mean``.

    The largest μ ≥ mean with n·KL(mean ‖ μ) ≤ ln(1/δ) (Chernoff–Hoeffding); elementwise over ``mean``.
    """
    if n > 0 and np.ndim(mean) == 0:
        return np.float64(_upper_scalar(min(1.0, max(0.0, float(mean))), math.log(1.0 / delta) / n))
    mean = np.clip(np.asarray(mean, dtype=np.float64), 0.0, 1.0)
    if n <= 0:
        return np.ones_like(mean)
    level = math.log(1.0 / delta) / n
    lo, hi = mean.copy(), np.ones_like(mean)
    for _ in range(_BISECT_STEPS):
        mid = (lo + hi) / 2
        inside = bernoulli_kl(mean, mid) <= level
        lo, hi = np.where(inside, mid, lo), np.where(inside, hi, mid)
    return hi


def _kl(p: float, q: float) -> float:
    q = min(max(q, 1e-300), 1.0 - 1e-16)
    a = p * math.log(p / q) if p > 0 else 0.0
    b = (1 - p) * math.log((1 - p) / (1 - q)) if p < 1 else 0.0
    return a + b


def _upper_scalar(mean: float, level: float) -> float:
    """The scalar :func:`mean_upper`, in plain floats: the optimizer calls it thousands of times."""
    lo, hi = mean, 1.0
    for _ in range(_BISECT_STEPS):
        mid = (lo + hi) / 2
        if _kl(mean, mid) <= level:
            lo = mid
        else:
            hi = mid
    return hi


def mean_lower(mean: np.ndarray | float, n: int | float, delta: float) -> np.ndarray:
    """Lower bound at 1 − δ of the mean of n i.i.d. [0, 1] variables (the mirror of :func:`mean_upper`)."""
    return 1.0 - mean_upper(1.0 - np.asarray(mean, dtype=np.float64), n, delta)


def evidence_unit_frames(labels: np.ndarray | list[np.ndarray] | tuple[np.ndarray, ...]) -> int:
    """Frames per evidence block: the labels' integrated autocorrelation time, and at least the appearance a
    positive frame belongs to (frame-weighted mean positive run, Σr²/Σr), rounded up, at least 1.

    ``labels`` is one per-frame boolean array or several (e.g. the train and threshold segments' ranges; each
    is treated as its own stretch of time). τ = 1 + 2·Σ ρ_k with Sokal's automatic window (stop at the first
    k ≥ 5·τ(k)): for runs of positives of mean length r among long gaps τ ≈ 2r, about one appearance and the
    gap after it. Slow drift in the rate lengthens τ, which only makes the blocks longer (more conservative).
    Regular comings and goings make ρ swing negative and τ short, but a cascade that misses a person still
    misses their whole appearance: hence the run-length floor.
    """
    parts = [np.asarray(labels, dtype=np.float64).reshape(-1)] if isinstance(labels, np.ndarray) else None
    if parts is None:
        parts = [np.asarray(x, dtype=np.float64).reshape(-1) for x in labels]
    parts = [p for p in parts if len(p)]
    total = sum(len(p) for p in parts)
    if total < 2:
        return 1
    mean = sum(float(p.sum()) for p in parts) / total
    longest = max(len(p) for p in parts)
    acov = np.zeros(longest)
    for p in parts:
        x = p - mean
        size = 1 << int(2 * len(x) - 1).bit_length()
        f = np.fft.rfft(x, size)
        acov[: len(x)] += np.fft.irfft(f * np.conj(f), size)[: len(x)]
    if acov[0] <= 0:
        return 1  # constant labels: no correlation to measure
    rho = acov / acov[0]
    taus = 1.0 + 2.0 * np.cumsum(rho[1:])  # taus[k - 1] = τ with window k
    k = np.arange(1, longest)
    stop = np.flatnonzero(k >= 5.0 * taus)
    tau = float(taus[stop[0]] if len(stop) else taus[-1]) if len(taus) else 1.0
    return max(1, math.ceil(tau), math.ceil(_appearance_frames(parts)))


def _appearance_frames(parts: list[np.ndarray]) -> float:
    """Mean length of the positive run a random positive frame sits in (Σ r² / Σ r); 0 without positives."""
    runs = []
    for p in parts:
        edges = np.diff(np.concatenate([[0], (p > 0.5).astype(np.int8), [0]]))
        runs.append(np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1))
    r = np.concatenate(runs).astype(np.float64) if runs else np.zeros(0)
    return float((r * r).sum() / r.sum()) if r.sum() else 0.0


def rate_bound(errors: np.ndarray | float, class_frames: int, n_frames: int, unit_frames: int, confidence: float):
    """Upper bound of an error rate (errors / class_frames) for the process, from a segment's totals.

    ``class_frames`` are the segment's positives (for an FNR) or negatives (FPR), ``n_frames`` its length.
    Elementwise over ``errors``. 1.0 where the segment cannot bound it.
    """
    delta = 1.0 - confidence
    L = max(1, int(unit_frames))
    units = max(1, math.ceil(n_frames / L))
    scale = float(L * units)
    upper = mean_upper(np.asarray(errors, dtype=np.float64) / scale, units, delta / 2)
    lower = float(mean_lower(class_frames / scale, units, delta / 2))
    if lower <= 0:
        return np.ones_like(upper)
    return np.minimum(upper / lower, 1.0)


def max_errors_proven(class_frames: int, n_frames: int, unit_frames: int, rate: float, confidence: float) -> int:
    """Most errors (of a class with ``class_frames`` frames) whose :func:`rate_bound` still meets ``rate``.

    -1 when even zero errors cannot prove it on this segment.
    """
    if rate <= 0 or class_frames <= 0:
        return -1
    delta = 1.0 - confidence
    L = max(1, int(unit_frames))
    units = max(1, math.ceil(n_frames / L))
    scale = float(L * units)
    level = math.log(2.0 / delta) / units
    # the bound meets the rate iff the errors' block mean y satisfies upper(y) <= m, m = rate * lower(class):
    # the largest such y solves KL(y || m) = level on [0, m] (KL falls as y rises towards m)
    m = rate * float(mean_lower(class_frames / scale, units, delta / 2))
    if m <= 0 or _kl(0.0, min(m, 1.0)) < level:
        return -1
    if m >= 1.0:
        return int(class_frames)
    lo, hi = 0.0, m
    for _ in range(_BISECT_STEPS):
        mid = (lo + hi) / 2
        if _kl(mid, m) >= level:
            lo = mid
        else:
            hi = mid
    k = min(int(class_frames), math.floor(lo * scale))
    # settle the last frame exactly against the bound itself (bisection leaves a sliver of doubt at the edge)
    while k >= 0 and rate_bound(k, class_frames, n_frames, L, confidence) > rate:
        k -= 1
    while k < class_frames and rate_bound(k + 1, class_frames, n_frames, L, confidence) <= rate:
        k += 1
    return k


def fnr_fpr_bounds(
    truth: np.ndarray, predicted: np.ndarray, confidence: float, unit_frames: int | None = None
) -> ErrorBounds:
    """Time-aware upper bounds of the FNR and FPR that ``predicted`` would have on more footage like ``truth``.

    ``unit_frames`` defaults to :func:`evidence_unit_frames` of ``truth``; pass one estimated on more labels
    (train and threshold segments) when they exist.
    """
    confidence = check_confidence(confidence)
    truth = np.asarray(truth, dtype=bool).reshape(-1)
    predicted = np.asarray(predicted, dtype=bool).reshape(-1)
    if truth.shape != predicted.shape:
        raise ValueError(f"predictions cover {len(predicted)} frames but the truth covers {len(truth)}")
    n = len(truth)
    L = evidence_unit_frames(truth) if unit_frames is None else max(1, int(unit_frames))
    positives = int(truth.sum())
    negatives = n - positives
    fn = int(np.count_nonzero(truth & ~predicted))
    fp = int(np.count_nonzero(~truth & predicted))
    return ErrorBounds(
        fnr_bound=float(rate_bound(fn, positives, n, L, confidence)),
        fpr_bound=float(rate_bound(fp, negatives, n, L, confidence)),
        confidence=confidence,
        unit_frames=L,
        units=max(1, math.ceil(n / L)) if n else 0,
        positive_units=positives / L,
        negative_units=negatives / L,
        fn=fn,
        fp=fp,
        positives=positives,
        negatives=negatives,
    )


@dataclass(frozen=True)
class Shortfall:
    """How much footage (at a segment's share of positives or negatives) would prove a rate with no errors."""

    rate: float
    confidence: float
    unit_frames: int
    class_units_needed: float  # independent positive (or negative) blocks a flawless cascade must be seen on
    class_units_have: float
    frames_needed: int  # total segment length that would do, at the segment's share of the class
    frames_have: int

    @property
    def more_frames(self) -> int:
        return max(0, self.frames_needed - self.frames_have)


def zero_error_shortfall(class_frames: int, n_frames: int, unit_frames: int, rate: float, confidence: float):
    """The footage a cascade with zero errors of this kind would need for its bound to meet ``rate``.

    ``None`` when the segment has no frame of the class (no share to extrapolate from) or the rate is 0
    (no finite footage proves a zero rate).
    """
    if class_frames <= 0 or n_frames <= 0 or rate <= 0:
        return None
    L = max(1, int(unit_frames))
    share = class_frames / n_frames

    def proves(frames: int) -> bool:
        return float(rate_bound(0, round(share * frames), frames, L, confidence)) <= rate

    hi = max(n_frames, L)
    while not proves(hi):
        hi *= 2
        if hi > 10**12:
            return None
    lo = 0 if hi == max(n_frames, L) else hi // 2  # proves(lo) is False or lo is 0
    while hi - lo > max(1, L // 2):
        mid = (lo + hi) // 2
        if proves(mid):
            hi = mid
        else:
            lo = mid
    return Shortfall(rate, confidence, L, share * hi / L, class_frames / L, int(hi), int(n_frames))


def shortfall_sentence(
    what: str, short: Shortfall | None, fps: float | None = None, event: str = "positive events"
) -> str:
    """One sentence saying how much more footage a promise about ``what`` ("fnr <= 0.01") needs."""
    if short is None:
        return f"no amount of footage can prove {what}: raise the target above 0"
    need = math.ceil(short.class_units_needed)
    have = short.class_units_have
    more = short.more_frames
    footage = f"{more:,} more frames"
    if fps:
        footage += f" (about {_duration(more / fps)} at {fps:g} fps)"
    held = f"about {have:,.0f}" if have >= 0.5 else "less than one"
    return (
        f"to promise {what} at {short.confidence:g} confidence even a cascade without a single error must be seen on "
        f"about {need:,} independent {event} (blocks of {short.unit_frames} frames), and this segment holds "
        f"{held}: label about {footage} of similar footage"
    )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} seconds"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"
