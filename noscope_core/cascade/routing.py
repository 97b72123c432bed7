"""The cascade: frame skipping → difference detector → specialized model → reference detector, per frame.

Routing lives in a few small pure functions (:func:`dd_routes`, :func:`model_routes`, :func:`assign_labels`,
:func:`expand_to_frames`). The simulator (:func:`simulate`, used by the optimizer and the tests) and the
executor (:class:`noscope_core.cascade.execute.Cascade`) call the same functions in the same order, so the labels the optimizer predicts
from scores and the labels the executor produces from pixels cannot disagree.

Semantics, over a range of frames (positions 0..N−1):

* frames at positions 0, skip, 2·skip, … are *evaluated*; every other frame is SKIPPED and takes the label
  of the last evaluated frame before it;
* a "background" difference detector whose score is below the threshold says the scene is empty
  (DD_ABSENT); a "previous" one compares frame t with t−skip (the previous evaluated frame) and, below the
  threshold, carries that frame's label over (DD_CARRY). The first evaluated frame of a range has no previous
  frame, so a "previous" DD cannot decide it. A NaN score means "undefined" and never decides;
* the specialized model's probability p decides the rest: p < c_low → MODEL_ABSENT, p > c_high →
  MODEL_PRESENT, otherwise the reference detector is asked (REFERENCE). Without a model every frame that
  passes the DD goes to the reference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import IntEnum

import numpy as np

from noscope_core.common.errors import ArtifactError, QueryError

DD_REFERENCES = ("background", "previous")


class Route(IntEnum):
    """Which stage decided a frame's label (stored as int8 per frame)."""

    SKIPPED = 0
    DD_ABSENT = 1
    DD_CARRY = 2
    MODEL_ABSENT = 3
    MODEL_PRESENT = 4
    REFERENCE = 5


#: internal: passed the difference detector, not yet routed by the model
PENDING = -1


@dataclass(frozen=True)
class CascadeConfig:
    """One point in the optimizer's search space; JSON-serialisable with :meth:`to_dict`."""

    skip: int = 1  # evaluate every skip-th frame; skipped frames inherit the last label
    dd_name: str | None = None  # None = no difference detector
    dd_threshold: float = 0.0  # score < threshold = unchanged
    dd_reference: str | None = None  # "background" or "previous"; required with dd_name
    model_name: str | None = None  # None = every frame that passes the DD goes to the reference
    c_low: float = 0.0  # model p < c_low → absent
    c_high: float = 1.0  # model p > c_high → present; in between → ask the reference
    view: dict | None = None  # ViewSpec.to_dict() of the small-frame input (informational)

    def __post_init__(self) -> None:
        if isinstance(self.skip, bool) or int(self.skip) != self.skip or self.skip < 1:
            raise QueryError(f"frame skip must be a positive integer, got {self.skip!r}")
        object.__setattr__(self, "skip", int(self.skip))
        if self.dd_name is not None and self.dd_reference not in DD_REFERENCES:
            raise QueryError(
                f"difference detector {self.dd_name!r} needs dd_reference in {DD_REFERENCES}, got {self.dd_reference!r}"
            )
        if not (self.c_low <= self.c_high):
            raise QueryError(f"c_low {self.c_low} exceeds c_high {self.c_high}", "need c_low <= c_high")

    @classmethod
    def reference_only(cls) -> CascadeConfig:
        """Every frame goes to the reference: exact, and the baseline speed-ups are measured against."""
        return cls()

    @property
    def is_reference_only(self) -> bool:
        return self.skip == 1 and self.dd_name is None and self.model_name is None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> CascadeConfig:
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ArtifactError(f"cascade config has unknown fields {sorted(unknown)}", "re-run the optimizer")
        return cls(**d)

    def describe(self) -> str:
        """One line for humans, e.g. ``skip 5 → DD blocked-previous score<0.013: label of t-5 → model …``."""
        parts = [f"skip {self.skip}" if self.skip > 1 else "every frame"]
        if self.dd_name is not None:
            unchanged = "absent" if self.dd_reference == "background" else f"label of t-{self.skip}"
            parts.append(f"DD {self.dd_name} score<{self.dd_threshold:.4g}: {unchanged}")
        if self.model_name is None:
            parts.append("reference")
        else:
            parts.append(f"model {self.model_name}: absent p<{self.c_low:.4g}, present p>{self.c_high:.4g}")
            if self.c_low < self.c_high:
                parts.append("reference for the rest")
        return " → ".join(parts)


# Routing is pure and shared by simulate() and Cascade, so the two cannot disagree.
def evaluated_positions(n: int, skip: int) -> np.ndarray:
    """Positions 0, skip, 2·skip, … below ``n``."""
    return np.arange(0, n, skip, dtype=np.int64)


def dd_routes(config: CascadeConfig, dd_scores: np.ndarray) -> np.ndarray:
    """Routes of evaluated frames after the difference detector: DD_ABSENT / DD_CARRY, or PENDING.

    ``dd_scores`` has one entry per evaluated frame, NaN where undefined (all NaN without a DD).
    """
    scores = np.asarray(dd_scores, dtype=np.float64)
    routes = np.full(len(scores), PENDING, dtype=np.int8)
    if config.dd_name is None:
        return routes
    unchanged = scores < config.dd_threshold  # NaN compares False: an undefined score never decides
    routes[unchanged] = Route.DD_ABSENT if config.dd_reference == "background" else Route.DD_CARRY
    return routes


def model_routes(config: CascadeConfig, routes: np.ndarray, model_scores: np.ndarray | None) -> np.ndarray:
    """Route the PENDING frames by model probability (only those entries of ``model_scores`` are read)."""
    routes = routes.copy()
    pending = routes == PENDING
    if config.model_name is None:
        routes[pending] = Route.REFERENCE
        return routes
    if not pending.any():
        return routes
    p = np.asarray(model_scores, dtype=np.float64)[pending]
    # NaN p lands on the reference: an unusable score must not decide a frame
    routes[pending] = np.where(
        p < config.c_low, Route.MODEL_ABSENT, np.where(p > config.c_high, Route.MODEL_PRESENT, Route.REFERENCE)
    )
    return routes


def assign_labels(routes: np.ndarray, reference_labels: np.ndarray, carry_in: bool = False) -> np.ndarray:
    """Labels of evaluated frames: decided frames by their route, DD_CARRY frames from the last decided one.

    ``reference_labels`` is read at REFERENCE frames only; ``carry_in`` is the label before the first frame.
    """
    routes = np.asarray(routes, dtype=np.int8)
    if (routes == PENDING).any():
        raise ValueError("frames still PENDING: route them with model_routes() first")
    n = len(routes)
    value = routes == Route.MODEL_PRESENT
    ref = routes == Route.REFERENCE
    value[ref] = np.asarray(reference_labels, dtype=bool)[ref]
    last = np.where(routes != Route.DD_CARRY, np.arange(n), -1)
    np.maximum.accumulate(last, out=last)
    return np.where(last >= 0, value[np.maximum(last, 0)], bool(carry_in))


def expand_to_frames(
    positions: np.ndarray, routes_eval: np.ndarray, labels_eval: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame (labels, routes) over ``n`` frames from evaluated ``positions`` (sorted, starting at 0).

    Every other frame is SKIPPED and inherits the label of the last evaluated frame before it.
    """
    owner = np.searchsorted(positions, np.arange(n), side="right") - 1
    if n and owner[0] < 0:
        raise ValueError("the first frame of a range must be evaluated")
    labels = np.asarray(labels_eval, dtype=bool)[owner] if n else np.zeros(0, dtype=bool)
    routes = np.full(n, Route.SKIPPED, dtype=np.int8)
    routes[positions] = routes_eval
    return labels, routes


def range_dd_scores(config: CascadeConfig, dd_scores: np.ndarray | None, positions: np.ndarray) -> np.ndarray:
    """DD scores of the evaluated frames of a range (NaN = undefined): a "previous" DD's first one always is."""
    if config.dd_name is None:
        return np.full(len(positions), np.nan)
    if dd_scores is None:
        raise ValueError(f"config uses difference detector {config.dd_name!r} but no DD scores were given")
    scores = np.asarray(dd_scores, dtype=np.float64)[positions]
    if config.dd_reference == "previous" and len(scores):
        scores[0] = np.nan
    return scores


def simulate(
    config: CascadeConfig, truth: np.ndarray, dd_scores: np.ndarray | None, model_scores: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Labels (N,) bool and routes (N,) int8 the cascade would produce on a segment.

    ``dd_scores`` are per-frame scores computed for this config's skip (for a "previous" DD, frame t against
    t−skip; NaN where undefined), ``model_scores`` per-frame probabilities, and ``truth`` the reference's
    labels, used for the frames the cascade sends to the reference.
    """
    truth = np.asarray(truth, dtype=bool).reshape(-1)
    n = len(truth)
    for name, arr in (("DD scores", dd_scores), ("model scores", model_scores)):
        if arr is not None and len(arr) != n:
            raise ValueError(f"{name} cover {len(arr)} frames but the truth covers {n}")
    if config.model_name is not None and model_scores is None:
        raise ValueError(f"config uses model {config.model_name!r} but no model scores were given")
    positions = evaluated_positions(n, config.skip)
    routes = dd_routes(config, range_dd_scores(config, dd_scores, positions))
    routes = model_routes(config, routes, None if model_scores is None else np.asarray(model_scores)[positions])
    labels_eval = assign_labels(routes, truth[positions])
    return expand_to_frames(positions, routes, labels_eval, n)
