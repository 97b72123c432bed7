"""The registry's champion policy: which registered cascade version a camera should use.

``champion_decision`` is a pure function of two summaries; ``MlflowTracker.register_cascade`` applies it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from noscope_core.cascade_artifact import CascadeArtifact

MODEL_PREFIX = "noscope-cascade-"


CHAMPION = "champion"


@dataclass(frozen=True)
class Registration:
    model_name: str  # registered model name, e.g. "noscope-cascade-vtest"
    version: int  # 0 when tracking is disabled
    champion_moved: bool
    reason: str  # why the alias moved or did not


@dataclass(frozen=True)
class CascadeSummary:
    """What the champion rule compares: a cascade's threshold-segment errors and expected cost, and what it answers."""

    query_key: str
    reference_identity: str
    fnr: float
    fpr: float
    cost_ms: float
    max_fnr: float
    max_fpr: float
    # the optimizer's upper bounds for unseen footage at its confidence; None: chosen by the point rule
    fnr_bound: float | None = None
    fpr_bound: float | None = None

    @classmethod
    def from_cascade(cls, artifact: CascadeArtifact) -> CascadeSummary:
        return cls(
            query_key=artifact.query_key,
            reference_identity=artifact.reference_identity,
            fnr=artifact.best.fnr,
            fpr=artifact.best.fpr,
            cost_ms=artifact.best.cost_ms,
            max_fnr=artifact.targets.max_fnr,
            max_fpr=artifact.targets.max_fpr,
            fnr_bound=artifact.best.fnr_bound,
            fpr_bound=artifact.best.fpr_bound,
        )

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> CascadeSummary | None:
        """Read back from a model version's tags; None when they are incomplete (a version not made here)."""
        try:
            return cls(
                query_key=tags["query_key"],
                reference_identity=tags["reference_identity"],
                fnr=float(tags["threshold_fnr"]),
                fpr=float(tags["threshold_fpr"]),
                cost_ms=float(tags["expected_cost_ms"]),
                max_fnr=float(tags["max_fnr"]),
                max_fpr=float(tags["max_fpr"]),
                fnr_bound=_optional_float(tags.get("threshold_fnr_bound")),
                fpr_bound=_optional_float(tags.get("threshold_fpr_bound")),
            )
        except (KeyError, ValueError):
            return None

    def meets(self, max_fnr: float, max_fpr: float) -> bool:
        return self.fnr <= max_fnr + 1e-12 and self.fpr <= max_fpr + 1e-12

    def bound_breaks(self, max_fnr: float, max_fpr: float) -> bool:
        """Its promised bound (when it has one) is above a target: the promise cannot be kept."""
        return (self.fnr_bound is not None and self.fnr_bound > max_fnr + 1e-12) or (
            self.fpr_bound is not None and self.fpr_bound > max_fpr + 1e-12
        )


def _optional_float(text: str | None) -> float | None:
    return None if text in (None, "", "None", "none") else float(text)


def champion_decision(new: CascadeSummary, champion: CascadeSummary | None, force: bool = False) -> tuple[bool, str]:
    """Whether the ``champion`` alias moves to ``new``, and why. Rules, first match wins:

    1. ``force`` → move.
    2. no champion yet (or one whose tags cannot be read) → move.
    3. the champion answers another query or trusts another reference → move: it answers a stale question.
    4. ``new`` misses the camera's targets on the threshold segment → stay.
    5. ``new``'s upper bound for unseen footage (when it was optimized at a confidence) breaks a target → stay:
       the champion never moves to a cascade whose promise cannot be kept.
    6. the champion misses those (current) targets, or its bound breaks them, e.g. after they were tightened
       → move.
    7. both meet the targets: move when ``new``'s expected cost_ms is <= the champion's, else stay.

    Errors are compared against the targets rather than against each other on purpose: within the error budget
    the user set, the cheaper cascade is the better one (that is the optimizer's own objective).
    """
    if force:
        return True, "forced"
    if champion is None:
        return True, "first registered cascade for this camera"
    if champion.query_key != new.query_key:
        return True, "the champion answers a different query"
    if champion.reference_identity != new.reference_identity:
        return True, "the champion was optimized for a different reference detector"
    if not new.meets(new.max_fnr, new.max_fpr):
        return False, (
            f"misses the targets (FNR {new.fnr:.4f} / FPR {new.fpr:.4f} vs "
            f"{new.max_fnr:g} / {new.max_fpr:g}); champion kept"
        )
    if new.bound_breaks(new.max_fnr, new.max_fpr):
        return False, (
            f"its bound for unseen footage breaks the targets (FNR <= {new.fnr_bound} / FPR <= {new.fpr_bound} "
            f"vs {new.max_fnr:g} / {new.max_fpr:g}); champion kept"
        )
    if not champion.meets(new.max_fnr, new.max_fpr):
        return True, "the champion misses the current targets"
    if champion.bound_breaks(new.max_fnr, new.max_fpr):
        return True, "the champion's bound for unseen footage breaks the current targets"
    if new.cost_ms <= champion.cost_ms:
        return True, f"meets the targets at {new.cost_ms:.3f} ms/frame <= champion's {champion.cost_ms:.3f}"
    return False, f"meets the targets but costs {new.cost_ms:.3f} ms/frame > champion's {champion.cost_ms:.3f}"
