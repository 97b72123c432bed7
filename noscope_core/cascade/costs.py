"""Measured per-frame costs of each cascade stage: the optimizer's cost model uses nothing else.

NoScope picks the cheapest cascade by *measured* cost on the deployment machine, not by FLOP counts, so a
stage that is fast on paper but slow here (Python overhead, a cold cache) is priced as it runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from noscope_core.common.errors import ArtifactError


def measure_cost_ms(
    fn: Callable[[np.ndarray], Any],
    frames: np.ndarray,
    batch_size: int = 256,
    repeats: int = 3,
    warmup: bool = True,
) -> float:
    """Median over ``repeats`` of the wall time per frame (ms) of ``fn`` applied batch by batch to ``frames``.

    The median rather than the mean: on a shared machine one repeat is often slowed by a neighbour.
    ``warmup`` runs one untimed batch first (lazy initialisation, allocator, caches).
    """
    n = len(frames)
    if n == 0:
        raise ValueError("need at least one frame to measure a cost")
    if batch_size < 1 or repeats < 1:
        raise ValueError("batch_size and repeats must be positive")
    if warmup:
        fn(frames[:batch_size])
    per_frame_ms = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for a in range(0, n, batch_size):
            fn(frames[a : a + batch_size])
        per_frame_ms.append(1000.0 * (time.perf_counter() - t0) / n)
    return float(np.median(per_frame_ms))


@dataclass(frozen=True)
class StageCosts:
    """Per-frame milliseconds of every difference detector and model (by name) and of the reference."""

    dd_ms: dict[str, float]
    model_ms: dict[str, float]
    reference_ms: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "dd_ms", {str(k): float(v) for k, v in self.dd_ms.items()})
        object.__setattr__(self, "model_ms", {str(k): float(v) for k, v in self.model_ms.items()})
        object.__setattr__(self, "reference_ms", float(self.reference_ms))
        if not self.reference_ms > 0:
            raise ArtifactError(
                f"reference cost must be positive, got {self.reference_ms} ms/frame",
                "label some frames first so the reference's cost is measured, or declare it",
            )
        bad = [k for k, v in {**self.dd_ms, **self.model_ms}.items() if not (v >= 0 and np.isfinite(v))]
        if bad:
            raise ArtifactError(f"stage costs of {bad} are negative or not finite", "re-measure the stage costs")

    def to_dict(self) -> dict:
        return {"dd_ms": dict(self.dd_ms), "model_ms": dict(self.model_ms), "reference_ms": self.reference_ms}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StageCosts:
        return cls(dd_ms=dict(d["dd_ms"]), model_ms=dict(d["model_ms"]), reference_ms=float(d["reference_ms"]))


def measure_stage_costs(
    frames: np.ndarray,
    dds: Mapping[str, Any],
    models: Mapping[str, Any],
    reference_ms: float,
    batch_size: int = 256,
    repeats: int = 3,
) -> StageCosts:
    """Time every difference detector (``.score``) and model (``.predict_proba``) on the same small frames.

    A "previous" DD is timed against the frames in reverse order: a real comparison of distinct frames
    with no copy, and its cost does not depend on which frames it compares.
    """

    def dd_fn(dd: Any) -> Callable[[np.ndarray], Any]:
        if dd.spec.reference == "previous":
            return lambda f: dd.score(f, f[::-1])
        return lambda f: dd.score(f)

    return StageCosts(
        dd_ms={name: measure_cost_ms(dd_fn(dd), frames, batch_size, repeats) for name, dd in dds.items()},
        model_ms={name: measure_cost_ms(m.predict_proba, frames, batch_size, repeats) for name, m in models.items()},
        reference_ms=reference_ms,
    )
