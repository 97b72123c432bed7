"""How many reference frames certification needs: an hour at 10 fps, 1 %/1 % targets, 0.95 confidence.

Simulated answers (no pixels): positives in runs of ~30 frames at a given share, 2 % of frames already sent
to the reference by the cascade, misses and false alarms in 5-frame chunks at a given true rate, and a risk
score that ranks the wrong frames higher (as a model's closeness to its thresholds does). For each budget:
the share of videos certified and the frames spent. Run: ``python -m benchmarks.certify_budget``.
"""

from __future__ import annotations

import numpy as np

from noscope_core.guarantees.certificate import Decisions, certify
from noscope_core.present.units import pct

FRAMES = 36_000  # an hour at 10 fps
VIDEOS = 40


def _video(rng: np.random.Generator, share: float, run: float = 30.0) -> np.ndarray:
    gap = run * (1 - share) / share
    lengths = np.stack([rng.geometric(1 / gap, 4000), rng.geometric(1 / run, 4000)], axis=1).reshape(-1)
    return (np.repeat(np.arange(len(lengths)), lengths)[:FRAMES] % 2) == 1


def _answer(rng: np.random.Generator, truth: np.ndarray, error: float) -> Decisions:
    wrong = np.repeat(rng.random(FRAMES // 5 + 1) < error, 5)[:FRAMES]
    labels = truth ^ wrong
    exact = rng.random(FRAMES) < 0.02
    labels[exact] = truth[exact]
    risk = np.where(labels != truth, rng.uniform(0.5, 1.0, FRAMES), rng.uniform(0.0, 1.0, FRAMES))
    return Decisions(labels, exact, risk)


def main() -> None:
    rng = np.random.default_rng(0)
    print("| positive share | true error | budget | certified | frames spent (mean) |")
    print("|---|---|---|---|---|")
    for share in (0.05, 0.1, 0.2):
        for error in (0.001, 0.003):
            for budget in (5_000, 10_000, 15_000, 20_000):
                done, spent = 0, []
                for v in range(VIDEOS):
                    truth = _video(rng, share)
                    cert = certify(
                        _answer(rng, truth, error), lambda f, t=truth: t[f], 0.01, 0.01, 0.95, budget, seed=v
                    )
                    done += cert.certified
                    spent.append(cert.frames_labelled)
                print(
                    f"| {pct(share, 0)} | {pct(error, 1)} | {budget:,} | {pct(done / VIDEOS, 0)} | {np.mean(spent):,.0f} |"
                )


if __name__ == "__main__":
    main()
