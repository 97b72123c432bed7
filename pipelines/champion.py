"""The registry's champion policy: which registered cascade version a camera should use.

``champion_decision`` is a pure function of two summaries. In the pipeline the decision is taken after the
query on the held-out test segment (``MlflowTracker.decide_champion``, called by ``query_results``), so it answers
to the error measured there and to the bound certified on that answer, and cites both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from noscope_core.optimizer.cascade_artifact import CascadeArtifact

MODEL_PREFIX = "noscope-cascade-"


CHAMPION = "champion"


@dataclass(frozen=True)
class Registration:
    model_name: str  # registered model name, e.g. "noscope-cascade-vtest"
    version: int  # 0 when tracking is disabled
    champion_moved: bool
    reason: str  # why the alias moved or did not


@dataclass(frozen=True)
class StageShares:
    """The cost model's weights of one cascade: the share of all frames each stage sees.

    Expected ms per frame = ``dd_share`` · dd_ms + ``model_share`` · model_ms + ``reference_share`` · reference_ms,
    so two cascades priced with ONE table of stage costs differ only by what they do, not by the machine's load
    when each was measured.
    """

    dd_name: str | None
    dd_share: float
    model_name: str | None
    model_share: float
    reference_share: float

    def price_ms(self, stage_ms: Mapping[str, float], reference_ms: float) -> float | None:
        """Expected ms per frame with ``stage_ms`` (keys ``dd:<name>`` / ``model:<name>``); None when a stage of
        this cascade is not in the table."""
        total = self.reference_share * reference_ms
        for name, share, kind in ((self.dd_name, self.dd_share, "dd"), (self.model_name, self.model_share, "model")):
            if name is None:
                continue
            ms = stage_ms.get(f"{kind}:{name}")
            if ms is None:
                return None
            total += share * ms
        return total

    def to_tags(self) -> dict[str, str]:
        return {
            "stage.dd_name": self.dd_name or "",
            "stage.dd_share": repr(self.dd_share),
            "stage.model_name": self.model_name or "",
            "stage.model_share": repr(self.model_share),
            "stage.reference_share": repr(self.reference_share),
        }

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> StageShares | None:
        try:
            return cls(
                dd_name=tags["stage.dd_name"] or None,
                dd_share=float(tags["stage.dd_share"]),
                model_name=tags["stage.model_name"] or None,
                model_share=float(tags["stage.model_share"]),
                reference_share=float(tags["stage.reference_share"]),
            )
        except (KeyError, ValueError):
            return None

    @classmethod
    def from_cascade(cls, artifact: CascadeArtifact) -> StageShares:
        """Recovered from the chosen candidate: the DD sees every evaluated frame (1/skip), the reference its
        recorded share, and the model what is left of the expected cost at the measured prices."""
        best, costs = artifact.best, artifact.costs
        config = best.config
        dd_share = 1.0 / config.skip if config.dd_name else 0.0
        rest = best.cost_ms - best.reference_fraction * costs.reference_ms
        if config.dd_name:
            rest -= dd_share * costs.dd_ms.get(config.dd_name, 0.0)
        model_ms = costs.model_ms.get(config.model_name, 0.0) if config.model_name else 0.0
        model_share = min(max(rest / model_ms, 0.0), 1.0) if model_ms > 0 else 0.0
        return cls(config.dd_name, dd_share, config.model_name, model_share, float(best.reference_fraction))


@dataclass(frozen=True)
class HeldOut:
    """What the query on the held-out test segment measured (against the reference) and certified.

    ``fnr_bound`` / ``fpr_bound`` are the certificate's bounds on the answer's own frames (None: not certified);
    ``certified`` says whether they meet the targets, i.e. whether the promise was kept.
    """

    fnr: float | None
    fpr: float | None
    fnr_bound: float | None = None
    fpr_bound: float | None = None
    certified: bool = False

    @classmethod
    def from_result(cls, result: Mapping) -> HeldOut:
        """From a ``QueryResult.to_dict()`` of the test segment."""
        return cls(
            fnr=_optional_float(result.get("fnr")),
            fpr=_optional_float(result.get("fpr")),
            fnr_bound=_optional_float(result.get("fnr_bound")),
            fpr_bound=_optional_float(result.get("fpr_bound")),
            certified=bool(result.get("certified")),
        )

    def to_tags(self) -> dict[str, str]:
        tags = {"test_fnr": repr(self.fnr), "test_fpr": repr(self.fpr), "test_certified": str(self.certified).lower()}
        if self.fnr_bound is not None:
            tags |= {"certified_fnr": repr(self.fnr_bound), "certified_fpr": repr(self.fpr_bound)}
        return tags

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> HeldOut | None:
        """None when the version was never tested (its tags carry no test error)."""
        if "test_fnr" not in tags:
            return None
        try:
            return cls(
                fnr=_optional_float(tags.get("test_fnr")),
                fpr=_optional_float(tags.get("test_fpr")),
                fnr_bound=_optional_float(tags.get("certified_fnr")),
                fpr_bound=_optional_float(tags.get("certified_fpr")),
                certified=tags.get("test_certified") == "true",
            )
        except ValueError:
            return None

    def failure(self, max_fnr: float, max_fpr: float) -> str | None:
        """Why this answer disqualifies its cascade, or None: a promise the certificate could not keep, or a
        measured error above a target."""
        if self.fnr_bound is not None and not self.certified:
            return (
                f"its test query broke its promise (certified FNR <= {_pct(self.fnr_bound)} / FPR <= "
                f"{_pct(self.fpr_bound)} vs targets {_pct(max_fnr)} / {_pct(max_fpr)})"
            )
        if (self.fnr is not None and self.fnr > max_fnr + 1e-12) or (
            self.fpr is not None and self.fpr > max_fpr + 1e-12
        ):
            return (
                f"misses the targets on the test segment (FNR {_pct(self.fnr)} / FPR {_pct(self.fpr)} vs "
                f"{_pct(max_fnr)} / {_pct(max_fpr)})"
            )
        return None

    def cite(self) -> str:
        """The test error in words, for the decision's reason."""
        text = f"test segment FNR {_pct(self.fnr)} / FPR {_pct(self.fpr)}"
        if self.fnr_bound is not None:
            kept = "promise kept" if self.certified else "promise not kept"
            text += f", certified <= {_pct(self.fnr_bound)} / {_pct(self.fpr_bound)} ({kept})"
        return text


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.2f} %"


@dataclass(frozen=True)
class CascadeSummary:
    """What the champion rule compares: a cascade's threshold-segment errors and expected cost, and what it answers.

    ``shares`` and ``stage_ms`` (the stage costs its optimization measured side by side, keys ``dd:<name>`` /
    ``model:<name>``) let the rule price two cascades with one table; ``reference_ms`` the reference-priced cost.
    """

    query_key: str
    reference_identity: str
    fnr: float
    fpr: float
    cost_ms: float
    max_fnr: float
    max_fpr: float
    # the optimizer's block-bound estimates for unseen footage at its confidence; None: chosen by the point rule
    fnr_bound: float | None = None
    fpr_bound: float | None = None
    #: chosen for certified answers (the optimizer's "certified" rule): judged by its certified answers and their
    #: estimated cost, not by whether the threshold segment alone could bound it
    certified_plan: bool = False
    expected_certified_cost_ms: float | None = None
    reference_ms: float | None = None
    shares: StageShares | None = None
    stage_ms: Mapping[str, float] = field(default_factory=dict)
    # the query on the held-out test segment; None before it ran
    held_out: HeldOut | None = None

    @classmethod
    def from_cascade(cls, artifact: CascadeArtifact) -> CascadeSummary:
        costs = artifact.costs
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
            certified_plan=artifact.rule == "certified",
            expected_certified_cost_ms=artifact.best.expected_certified_cost_ms,
            reference_ms=float(costs.reference_ms),
            shares=StageShares.from_cascade(artifact),
            stage_ms={
                **{f"dd:{k}": float(v) for k, v in costs.dd_ms.items()},
                **{f"model:{k}": float(v) for k, v in costs.model_ms.items()},
            },
        )

    def to_tags(self) -> dict[str, str]:
        """The model-version tags :meth:`from_tags` reads back: exact values (``repr``), not for people."""
        tags = {
            "query_key": self.query_key,
            "reference_identity": self.reference_identity,
            "threshold_fnr": repr(self.fnr),
            "threshold_fpr": repr(self.fpr),
            "expected_cost_ms": repr(self.cost_ms),
            "max_fnr": repr(self.max_fnr),
            "max_fpr": repr(self.max_fpr),
            "threshold_fnr_bound": repr(self.fnr_bound),
            "threshold_fpr_bound": repr(self.fpr_bound),
            "plan_rule": "certified" if self.certified_plan else "bound",
            **(self.shares.to_tags() if self.shares is not None else {}),
        }
        if self.expected_certified_cost_ms is not None:
            tags["expected_certified_cost_ms"] = repr(float(self.expected_certified_cost_ms))
        if self.reference_ms is not None:
            tags["reference_ms"] = repr(float(self.reference_ms))
        return tags

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> CascadeSummary | None:
        """Read back from a model version's tags; None when they are incomplete (a version not made here)."""
        try:
            ref_ms = tags.get("reference_ms")
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
                certified_plan=tags.get("plan_rule") == "certified",
                expected_certified_cost_ms=_optional_float(tags.get("expected_certified_cost_ms")),
                reference_ms=None if ref_ms is None else float(ref_ms),
                shares=StageShares.from_tags(tags),
                held_out=HeldOut.from_tags(tags),
            )
        except (KeyError, ValueError):
            return None

    def meets(self, max_fnr: float, max_fpr: float) -> bool:
        """Point rule and bound rule: its threshold-segment rates meet the targets. A cascade planned for certified
        answers meets them by its certificate (judged on its held-out answer, rule 2), so this asks nothing more."""
        if self.certified_plan:
            return True
        return self.fnr <= max_fnr + 1e-12 and self.fpr <= max_fpr + 1e-12

    def with_held_out(self, held_out: HeldOut) -> CascadeSummary:
        return replace(self, held_out=held_out)

    def bound_breaks(self, max_fnr: float, max_fpr: float) -> bool:
        """Bound rule: its block-bound estimate (when it has one) is above a target. Not asked of a cascade planned
        for certified answers: its certificate, not the threshold segment, keeps the promise."""
        if self.certified_plan:
            return False
        return (self.fnr_bound is not None and self.fnr_bound > max_fnr + 1e-12) or (
            self.fpr_bound is not None and self.fpr_bound > max_fpr + 1e-12
        )


def _optional_float(text: str | None) -> float | None:
    return None if text in (None, "", "None", "none") else float(text)


def comparable_costs(new: CascadeSummary, champion: CascadeSummary) -> tuple[float, float, str]:
    """Both cascades' costs on one footing, and what that footing is (the units and basis, for the reason).

    a. ``new``'s stage costs (measured side by side in one step) price both cascades' stage shares, when that
       table holds the champion's stages: ms per frame with no load swing between the two.
    b. else, when both reference costs are known, cost as a share of one reference call per frame
       (``cost_ms / reference_ms``): each cascade priced against the reference measured on its own machine state.
    c. else the expected ms per frame each optimization measured (older versions without these tags).
    """
    if new.shares is not None and champion.shares is not None and new.reference_ms:
        a = new.shares.price_ms(new.stage_ms, new.reference_ms)
        b = champion.shares.price_ms(new.stage_ms, new.reference_ms)
        if a is not None and b is not None:
            return a, b, "ms/frame, both priced with this optimization's stage costs measured side by side"
    if new.reference_ms and champion.reference_ms:
        return (
            new.cost_ms / new.reference_ms,
            champion.cost_ms / champion.reference_ms,
            "reference calls/frame (expected cost priced in reference calls)",
        )
    return new.cost_ms, champion.cost_ms, "ms/frame, each as its optimization measured"


def champion_decision(new: CascadeSummary, champion: CascadeSummary | None, force: bool = False) -> tuple[bool, str]:
    """Whether the ``champion`` alias moves to ``new``, and why. Rules, first match wins:

    1. ``force`` → move.
    2. ``new`` was queried on the held-out test segment and its certified bound broke a target (the promise was
       not kept) or its measured error misses a target → stay: such a cascade never becomes champion, not even
       the first of its camera.
    3. no champion yet (or one whose tags cannot be read) → move.
    4. the champion answers another query or trusts another reference → move: it answers a stale question.
    5. ``new`` misses the camera's targets on the threshold segment → stay (not asked of a cascade planned for
       certified answers: its certified answer, rule 2, is what is judged).
    6. ``new``'s block-bound estimate (chosen by the bound rule, certification off) breaks a target → stay.
    7. the champion misses those (current) targets, on the threshold segment or on its own test segment, or its
       bound breaks them, e.g. after they were tightened → move.
    8. both meet the targets: move when ``new``'s cost is <= the champion's, both on the footing of
       :func:`comparable_costs` (never wall-clock speed-ups: re-training the same cascade minutes apart measured
       3.8× then 2.4×, and a champion must not be kept or replaced by the machine's load), else stay.

    Errors are compared against the targets rather than against each other on purpose: within the error budget
    the user set, the cheaper cascade is the better one (that is the optimizer's own objective). When ``new``
    carries its test answer, every reason (but "forced") ends by citing its test error.
    """
    if force:
        return True, "forced"
    if new.held_out is not None and (failure := new.held_out.failure(new.max_fnr, new.max_fpr)):
        return False, f"{failure}: never champion" + ("" if champion is None else ", champion kept")
    moved, reason = _decide(new, champion)
    if new.held_out is not None:
        reason = f"{reason}; {new.held_out.cite()}"
    return moved, reason


def _decide(new: CascadeSummary, champion: CascadeSummary | None) -> tuple[bool, str]:
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
            f"its block-bound estimate breaks the targets (FNR <= {new.fnr_bound} / FPR <= {new.fpr_bound} "
            f"vs {new.max_fnr:g} / {new.max_fpr:g}); champion kept"
        )
    if not champion.meets(new.max_fnr, new.max_fpr):
        return True, "the champion misses the current targets"
    if champion.held_out is not None and champion.held_out.failure(new.max_fnr, new.max_fpr):
        return True, "the champion misses the current targets on its test segment"
    if champion.bound_breaks(new.max_fnr, new.max_fpr):
        return True, "the champion's bound for unseen footage breaks the current targets"
    mine, theirs, basis = comparable_costs(new, champion)
    if mine <= theirs:
        return True, f"meets the targets at {mine:.4g} <= champion's {theirs:.4g} ({basis})"
    return False, f"meets the targets but costs {mine:.4g} > champion's {theirs:.4g} ({basis})"
