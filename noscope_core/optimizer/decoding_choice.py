"""Which decoding a camera's cascade reads with, and why: the record the optimizer's per-view choice leaves.

When a camera offers cheaper decodings (``TrainingOptions.decodings``), every candidate view gets its own models
and its own optimized cascade; each is priced at its reading cost on the camera's file plus its cascade's stage
cost (with certification, its expected certified cost), and :func:`noscope_core.video.reading_costs.choose_view`
keeps the cheapest that meets the targets (did not fall back). :class:`DecodingChoice` is that decision as the saved artifact carries it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from noscope_core.video.reading_costs import ReadingCosts, ViewOption, choose_view

if TYPE_CHECKING:
    from noscope_core.optimizer.cascade_artifact import CascadeArtifact


@dataclass(frozen=True)
class DecodingOption:
    """One candidate view's best cascade, priced: reading + stages per frame, and whether it met the targets."""

    view: str
    decoding: str  # the name in reading_costs.DECODINGS ("" = exact)
    reading_ms: float  # per frame covered, read densely at the cascade's skip (ReadingCosts.ms)
    #: per frame: the optimizer's stage cost; for a cascade planned for certification its expected certified
    #: cost (stages plus the certificate's reference frames and their decoding, for the planned footage)
    cascade_ms: float
    #: its optimizer did not fall back: the point rates or the bound estimates within the targets, or (certified)
    #: an expected certified cost below the reference's
    meets_targets: bool
    skip: int
    cascade: str  # the chosen cascade of this view, in words
    fnr: float
    fpr: float
    fnr_bound: float | None = None
    fpr_bound: float | None = None
    reason: str | None = None  # why this view's optimizer fell back, when it did
    plan: str = "dense"  # or "keyframe-first": how the view's cascade reads the video
    certified: bool = False  # cascade_ms is the expected certified cost (the certified planner's rule)

    @property
    def total_ms(self) -> float:
        return self.reading_ms + self.cascade_ms

    def to_dict(self) -> dict:
        return {**asdict(self), "total_ms": self.total_ms}

    @classmethod
    def from_dict(cls, d: dict) -> DecodingOption:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass(frozen=True)
class DecodingChoice:
    """The views offered, each priced, the one kept and why; ``folder``: where the kept view's models and
    difference detectors lie, relative to the cascade.json ("" beside it)."""

    default_view: str
    chosen_view: str
    reason: str
    options: tuple[DecodingOption, ...]
    folder: str = ""
    reading_costs: dict | None = None  # ReadingCosts.to_dict(): ms per frame covered by view and skip

    @property
    def chosen(self) -> DecodingOption:
        return next(o for o in self.options if o.view == self.chosen_view)

    def describe(self, targets=None) -> str:
        """E.g. "decoding lr2 chosen: 0.31 ms/frame reading vs 0.52 exact, both meet 1 %/1 %"."""
        default = next(o for o in self.options if o.view == self.default_view)
        chosen = self.chosen
        name = chosen.decoding or "exact"
        rule = ""
        if targets is not None:
            rule = f" {100 * targets.max_fnr:g} %/{100 * targets.max_fpr:g} %"
            if targets.confidence is not None:
                how = "certified" if any(o.certified for o in self.options) else "estimates"
                rule += f" ({how} at {targets.confidence:g})"
        others = [o for o in self.options if o.view != chosen.view]
        parts = ", ".join(
            f"{o.reading_ms:.3g} {o.decoding or 'exact'}" + ("" if o.meets_targets else " (misses the targets)")
            for o in others
        )
        text = f"decoding {name} chosen: {chosen.reading_ms:.3g} ms/frame reading"
        if parts:
            text += f" vs {parts}"
        met = [o for o in self.options if o.meets_targets]
        if len(met) == len(self.options):
            text += f", {'all' if len(met) > 2 else 'both'} meet{rule or ' the targets'}"
        elif met:
            verb = "meets" if len(met) == 1 else "meet"
            text += f"; only {', '.join(o.decoding or 'exact' for o in met)} {verb}{rule or ' the targets'}"
        else:
            text += f"; none meets{rule or ' the targets'}"
        if chosen.view == default.view:
            text += f" ({self.reason})"
        return text

    def to_dict(self) -> dict:
        return {
            "default_view": self.default_view,
            "chosen_view": self.chosen_view,
            "reason": self.reason,
            "options": [o.to_dict() for o in self.options],
            "folder": self.folder,
            "reading_costs": self.reading_costs,
        }

    @classmethod
    def from_dict(cls, d: dict) -> DecodingChoice:
        return cls(
            default_view=str(d["default_view"]),
            chosen_view=str(d["chosen_view"]),
            reason=str(d["reason"]),
            options=tuple(DecodingOption.from_dict(o) for o in d["options"]),
            folder=str(d.get("folder") or ""),
            reading_costs=d.get("reading_costs"),
        )


def price_option(decoding: str, art: CascadeArtifact, costs: ReadingCosts) -> DecodingOption:
    """``art`` (one view's optimized cascade) priced with the reading costs measured on the camera's file.

    Every view is priced by the same instrument: reading at its cascade's skip (``ReadingCosts.ms``). A
    keyframe-first plan is priced there too, as a dense read at its skip: at most what it reads (it won in its
    view by reading less), so the comparison never favours a view for the plan's estimate being measured
    another way (the optimizer's ``decode_ms`` comes from a short dense pass that leaves no GOP tail undecoded).

    When the answers are certified (the artifact's rule "certified"), views compete by their cascades' expected
    certified cost: a cheap view whose cascade errs more pays for it in certificate frames."""
    best = art.best
    skip = int(best.config.skip)
    certified = art.rule == "certified" and best.expected_certified_cost_ms is not None
    cascade_ms = best.cost_ms
    if certified:
        assert best.expected_certified_cost_ms is not None  # `certified` says it is set
        cascade_ms = best.expected_certified_cost_ms + (best.expected_certify_decode_ms or 0.0)
    return DecodingOption(
        view=art.view.name,
        decoding=decoding,
        reading_ms=ViewOption.priced(art.view.name, skip, cascade_ms, True, costs).reading_ms,
        cascade_ms=float(cascade_ms),
        meets_targets=not art.fell_back,
        skip=skip,
        cascade=best.describe(),
        fnr=float(best.fnr),
        fpr=float(best.fpr),
        fnr_bound=best.fnr_bound,
        fpr_bound=best.fpr_bound,
        reason=art.reason if art.fell_back else None,
        plan="dense" if best.keyframe_plan is None else "keyframe-first",
        certified=certified,
    )


def decide_decoding(
    options: Mapping[str, DecodingOption],
    default_view: str,
    folders: Mapping[str, str],
    costs: ReadingCosts | None = None,
) -> DecodingChoice:
    """Keep the cheapest option that meets the targets (``choose_view``'s rules); ``folders``: view -> pieces folder."""
    choice = choose_view(
        [ViewOption(o.view, o.reading_ms, o.cascade_ms, o.meets_targets) for o in options.values()], default_view
    )
    return DecodingChoice(
        default_view=default_view,
        chosen_view=choice.view,
        reason=choice.reason,
        options=tuple(options.values()),
        folder=folders.get(choice.view, ""),
        reading_costs=costs.to_dict() if costs is not None else None,
    )
