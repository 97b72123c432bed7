"""What the optimizer hands on: scored candidate cascades and the search's outcome (typed, JSON round-trip)."""

from __future__ import annotations

from dataclasses import dataclass

from noscope_core.cascade.keyframe_plan import KeyframePlan
from noscope_core.cascade.routing import CascadeConfig
from noscope_core.optimizer.certified_cost import AnswerShape

#: how a search accepts and ranks candidates (OptimizationResult.rule)
PLAN_RULES = ("certified", "bound", "point")


@dataclass(frozen=True)
class Candidate:
    """A configuration with its error rates on the threshold segment and its expected cost."""

    config: CascadeConfig
    fnr: float
    fpr: float
    cost_ms: float  # expected per-frame cost from measured stage costs
    reference_fraction: float  # share of all frames sent to the reference
    speedup: float  # reference_ms / cost_ms
    #: block-bound ESTIMATES of FNR and FPR on unseen footage (noscope_core.guarantees.bounds), jointly at the
    #: search's confidence for this one cascade, uncorrected for the selection; None when searched without one
    fnr_bound: float | None = None
    fpr_bound: float | None = None
    #: expected per-frame cost of reading the video (ms); None: priced without decode costs (NoScope's rule)
    decode_ms: float | None = None
    #: None: a dense plan (every frame decoded); else the keyframe-first plan run with ``config``
    keyframe_plan: KeyframePlan | None = None
    #: the answer as the certificate will see it (shares of frames, the planner's expected errors); None: not
    #: planned for certification
    answer_shape: AnswerShape | None = None
    #: the certified planner's ESTIMATE for an answer of ``footage_frames`` frames: reference frames the
    #: certificate is expected to spend (draws + tightening), the cost per answered frame with them, and the
    #: speed-up over the reference that leaves (None: not planned for certification)
    footage_frames: int | None = None
    expected_certify_frames: float | None = None
    expected_certified_cost_ms: float | None = None
    expected_speedup_certified: float | None = None

    @property
    def error(self) -> float:
        return max(self.fnr, self.fpr)

    @property
    def total_ms(self) -> float:
        """Per-frame cost with reading the video included (when it was priced)."""
        return self.cost_ms + (self.decode_ms or 0.0)

    @property
    def certified_total_ms(self) -> float | None:
        """Per answered frame, certification and reading (when priced) included; None: not planned for it."""
        if self.expected_certified_cost_ms is None:
            return None
        return self.expected_certified_cost_ms + (self.decode_ms or 0.0)

    def describe(self) -> str:
        text = self.config.describe()
        if self.keyframe_plan is not None:
            text += f"; {self.keyframe_plan.describe(self.config)}"
        return text

    def to_dict(self) -> dict:
        return {
            "config": self.config.to_dict(),
            "describe": self.describe(),
            "fnr": self.fnr,
            "fpr": self.fpr,
            "cost_ms": self.cost_ms,
            "reference_fraction": self.reference_fraction,
            "speedup": self.speedup,
            "fnr_bound": self.fnr_bound,
            "fpr_bound": self.fpr_bound,
            "decode_ms": self.decode_ms,
            "keyframe_plan": None if self.keyframe_plan is None else self.keyframe_plan.to_dict(),
            "answer_shape": None if self.answer_shape is None else self.answer_shape.to_dict(),
            "footage_frames": self.footage_frames,
            "expected_certify_frames": self.expected_certify_frames,
            "expected_certified_cost_ms": self.expected_certified_cost_ms,
            "expected_speedup_certified": self.expected_speedup_certified,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Candidate:
        """The candidate of ``to_dict``; keys of later versions missing from older artifacts read as None."""

        def opt(key: str) -> float | None:
            return None if d.get(key) is None else float(d[key])

        return cls(
            CascadeConfig.from_dict(d["config"]),
            float(d["fnr"]),
            float(d["fpr"]),
            float(d["cost_ms"]),
            float(d["reference_fraction"]),
            float(d["speedup"]),
            opt("fnr_bound"),
            opt("fpr_bound"),
            opt("decode_ms"),
            KeyframePlan.from_dict(d["keyframe_plan"]) if d.get("keyframe_plan") else None,
            AnswerShape.from_dict(d["answer_shape"]) if d.get("answer_shape") else None,
            None if d.get("footage_frames") is None else int(d["footage_frames"]),
            opt("expected_certify_frames"),
            opt("expected_certified_cost_ms"),
            opt("expected_speedup_certified"),
        )


@dataclass(frozen=True)
class OptimizationResult:
    best: Candidate
    frontier: list[Candidate]  # Pareto set over (cost_ms, max(fnr, fpr)): cost rises, error strictly falls
    fell_back: bool  # nothing cheaper than the reference met the targets; best is reference-only
    reason: str | None  # why it fell back
    n_evaluated: int  # configurations scored
    confidence: float | None = None  # the confidence the bounds were computed at; None: point rule
    unit_frames: int | None = None  # frames per evidence block behind the bounds
    #: when a keyframe-first plan won: the dense plan it beat (decode included); None otherwise
    dense_best: Candidate | None = None
    n_keyframe_plans: int = 0  # keyframe-first variants scored
    #: the cheapest keyframe-first variant that met the targets (chosen or not: it may have cost more than dense)
    keyframe_best: Candidate | None = None
    #: "certified": the lowest expected certified cost for ``footage_frames`` (the answer's certificate makes the
    #: promise); "bound": the cheapest whose block-bound estimates meet the targets (certification off);
    #: "point": NoScope's rule, the rates measured on the threshold segment
    rule: str = "point"
    footage_frames: int | None = None  # the answer's length the certified plan was made for
    estimator: str | None = None  # how the certified planner estimated error rates (certified_cost.ESTIMATORS)

    def to_dict(self) -> dict:
        return {
            "best": self.best.to_dict(),
            "frontier": [c.to_dict() for c in self.frontier],
            "fell_back": self.fell_back,
            "reason": self.reason,
            "n_evaluated": self.n_evaluated,
            "confidence": self.confidence,
            "unit_frames": self.unit_frames,
            "dense_best": None if self.dense_best is None else self.dense_best.to_dict(),
            "n_keyframe_plans": self.n_keyframe_plans,
            "keyframe_best": None if self.keyframe_best is None else self.keyframe_best.to_dict(),
            "rule": self.rule,
            "footage_frames": self.footage_frames,
            "estimator": self.estimator,
        }
