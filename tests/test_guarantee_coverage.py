"""Coverage on 1,000 simulated videos: the promised bounds hold on footage the threshold segment never saw.

The footage (tests/footage_sim.py) has positives in runs of random length, a drifting positive rate, and
errors that come in whole appearances and distractor stretches, so frames are far from independent. For each
video the optimizer's rule picks the cheapest model band on a threshold segment (the widest cuts whose bounds
meet the targets: FN depends only on c_low and FP only on c_high, so this is the optimizer's choice), and the
process's true FNR/FPR at those cuts (from one 1.5M-frame video) is compared with the promise.
"""

from __future__ import annotations

import numpy as np
import pytest

from noscope_core.guarantees.bounds import evidence_unit_frames, max_errors_proven, rate_bound
from tests.footage_sim import Process, footage, population_rates

VIDEOS = 1000
SEGMENT_FRAMES = 12_000
TARGET = 0.2
CONFIDENCE = 0.95


def _kth(values: np.ndarray, k: int, beyond: float) -> float:
    return float(np.partition(values, k)[k]) if k < len(values) else beyond


def _violations(unit_rule: str, videos: int = VIDEOS, seed: int = 0) -> tuple[float, float, float]:
    """(share of videos promised, share whose true FNR or FPR exceeds the promised bound, mean unit length)."""
    rng = np.random.default_rng(seed)
    process = Process()
    true_fnr, true_fpr = population_rates(process, rng, 1_500_000)
    promised = broken = 0
    units = []
    for _ in range(videos):
        truth, score = footage(process, SEGMENT_FRAMES, rng)
        n, positives = len(truth), int(truth.sum())
        negatives = n - positives
        pos, neg = score[truth], score[~truth]
        if unit_rule == "point":  # NoScope: the rates measured on the segment meet the targets
            k_fn, k_fp, unit = int(TARGET * positives), int(TARGET * negatives), None
        else:
            unit = evidence_unit_frames(truth) if unit_rule == "blocks" else 1
            units.append(unit)
            k_fn = max_errors_proven(positives, n, unit, TARGET, CONFIDENCE)
            k_fp = max_errors_proven(negatives, n, unit, TARGET, CONFIDENCE)
            if k_fn < 0 or k_fp < 0:
                continue  # falls back to the reference: exact, nothing promised
        promised += 1
        c_low = _kth(pos, k_fn, 1.1)  # positives below c_low are called absent: at most k_fn of them
        c_high = -_kth(-neg, k_fp, 0.1)  # negatives above c_high are called present: at most k_fp
        fn, fp = int(np.count_nonzero(pos < c_low)), int(np.count_nonzero(neg > c_high))
        if unit is None:
            fnr_bound, fpr_bound = fn / positives, fp / negatives
        else:
            fnr_bound = float(rate_bound(fn, positives, n, unit, CONFIDENCE))
            fpr_bound = float(rate_bound(fp, negatives, n, unit, CONFIDENCE))
            assert fnr_bound <= TARGET and fpr_bound <= TARGET
        broken += bool(true_fnr(c_low) > fnr_bound or true_fpr(c_high) > fpr_bound)
    return promised / videos, broken / max(promised, 1), float(np.mean(units)) if units else 1.0


@pytest.mark.slow  # 1,000 simulated videos
def test_block_bounds_hold_on_fresh_footage_in_at_least_95_percent_of_1000_videos():
    """Observed (seeds 0 and 1): promises in 49.5 % / 47.8 % of videos, broken in 0 of them (limit 5 %)."""
    promised, broken, unit = _violations("blocks")
    assert promised > 0.3, f"the rule should still promise on many 12,000-frame segments, promised {promised:.1%}"
    assert broken <= 0.05, f"true error exceeded the 95% bound in {broken:.1%} of videos"
    assert unit > 20, "runs of ~40 frames should give evidence blocks of tens of frames"


@pytest.mark.parametrize("rule", ["point", "frames"])
def test_the_point_rule_and_frame_counting_bounds_break_their_promise_on_correlated_footage(rule):
    """Observed (seed 0, 1,000 videos): the point rule breaks 83.4 % of its promises, Clopper-Pearson over frames
    (the previous rule) 40.9 %: the test can fail, and frame counting is what breaks."""
    promised, broken, _ = _violations(rule, videos=200)
    assert promised == 1.0
    assert broken > 0.3, f"{rule}: broken in only {broken:.1%}; the simulation no longer tests time-awareness"
