"""Simulated footage for the guarantee tests: labels in runs, errors that come in whole appearances, drift.

Each video alternates gaps and appearances of geometric length; the mean gap drifts slowly (a sine over the
video), so the positive rate is not constant. A cheap model scores every frame: an appearance has one
difficulty for all its frames (a hard person is missed for their whole walk-by), and gaps hold "distractor"
stretches (a shadow, a coat on a chair) scored high for many frames in a row. So errors are as correlated in
time as the labels, which is what breaks a frame-counting bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Process:
    run_frames: float = 40.0  # mean appearance length
    gap_frames: float = 160.0  # mean gap length (before drift)
    drift: float = 0.5  # the mean gap swings by ±drift over a video
    hard_share: float = 6.0  # Beta(1, hard_share) difficulty: larger = fewer hard appearances
    distractor_rate: float = 0.3  # share of gaps that hold a distractor stretch


def footage(process: Process, n_frames: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(truth bool (N,), model score float (N,)) of one video of ``n_frames`` frames (vectorised)."""
    pairs = int(1.5 * n_frames / (process.run_frames + process.gap_frames * (1 - process.drift))) + 4
    # gap lengths drift with the position of the pair in the video: a slow swing of the positive rate
    phase = 1.0 + process.drift * np.sin(2 * np.pi * (np.arange(pairs) / pairs + rng.random()))
    runs = rng.geometric(1.0 / process.run_frames, pairs)
    gaps = rng.geometric(1.0 / (process.gap_frames * phase))
    lengths = np.stack([gaps, runs], axis=1).reshape(-1)  # gap, appearance, gap, appearance, ...
    piece = np.repeat(np.arange(len(lengths)), lengths)[:n_frames]
    if len(piece) < n_frames:
        raise RuntimeError("drew too few runs")  # cannot happen for the sizes the tests use
    start = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    offset = np.arange(n_frames) - start[piece]
    truth = piece % 2 == 1
    # one difficulty per appearance: a hard one is missed for its whole length
    level = np.where(np.arange(len(lengths)) % 2 == 1, 1.0 - rng.beta(1.0, process.hard_share, len(lengths)), 0.0)
    noise = rng.normal(0, 0.04, n_frames)
    background = 1.0 - rng.random(n_frames) ** (1 / 12)  # Beta(1, 12) by its inverse CDF: cheap
    score = np.where(truth, level[piece] + noise, background)
    # distractors: a stretch of a gap scored high for many frames in a row
    has = rng.random(len(lengths)) < process.distractor_rate
    d_start = (rng.random(len(lengths)) * lengths).astype(np.int64)
    d_len = rng.geometric(1 / 30, len(lengths))
    d_level = rng.uniform(0.0, 0.8, len(lengths))
    inside = ~truth & has[piece] & (offset >= d_start[piece]) & (offset < d_start[piece] + d_len[piece])
    score = np.where(inside, d_level[piece] + noise, score)
    return truth, np.clip(score, 0.0, 1.0)


def population_rates(process: Process, rng: np.random.Generator, n_frames: int = 3_000_000):
    """The process's FNR(c_low) and FPR(c_high) for any cuts, from one very long video (the "truth")."""
    truth, score = footage(process, n_frames, rng)
    pos, neg = np.sort(score[truth]), np.sort(score[~truth])

    def fnr(c_low: np.ndarray) -> np.ndarray:  # positives with p < c_low are called absent
        return np.searchsorted(pos, c_low, side="left") / len(pos)

    def fpr(c_high: np.ndarray) -> np.ndarray:  # negatives with p > c_high are called present
        return 1.0 - np.searchsorted(neg, c_high, side="right") / len(neg)

    return fnr, fpr
