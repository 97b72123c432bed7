"""What a cascade search is asked: the targets and how to judge them, the space searched, and the prices."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from noscope_core.cascade.keyframe_plan import DEFAULT_MARGINS
from noscope_core.common.errors import QueryError
from noscope_core.optimizer.certified_cost import DEFAULT_ESTIMATOR, ESTIMATORS
from noscope_core.spec.camera import Targets
from noscope_core.video.decode_costs import DecodeCosts

#: frame skips searched unless told otherwise
DEFAULT_SKIPS = (1, 2, 3, 5, 10, 15, 20, 30)


@dataclass(frozen=True)
class SearchOptions:
    """Options of :func:`noscope_core.optimizer.search.search_cascades`.

    How candidates are judged (``targets``, ``certify``):

    * ``targets.confidence`` None: NoScope's point rule, the cheapest cascade whose threshold-segment rates meet
      the targets (less ``safety_margin``).
    * a confidence and ``certify`` (the default): the answer will be certified, so the cascade with the lowest
      expected certified cost for an answer of ``footage_frames`` frames wins (``certified_cost``; default: the
      threshold segment's own length); the block bounds are still computed, as estimates.
    * a confidence and not ``certify``: the cheapest cascade whose block-bound estimates meet the targets, each
      rate bounded at δ/2 so both hold together at the confidence (uncorrected for the selection).

    The space: ``skips`` × each difference detector's ``dd_thresholds`` quantiles × model × about
    ``model_thresholds`` cuts per model. ``view`` is recorded in every config. ``unit_frames``: frames per
    evidence block of the bounds (default: the threshold labels' correlation time); ``fps`` lets reasons speak
    in hours. ``decode_costs`` prices reading the video; with ``keyframes`` (their positions in the segment;
    ``breaks``: where a new range of the segment starts) keyframe-first variants at ``keyframe_margins`` compete.
    """

    targets: Targets = Targets()
    certify: bool = True
    footage_frames: int | None = None
    estimator: str = DEFAULT_ESTIMATOR
    skips: tuple[int, ...] = DEFAULT_SKIPS
    dd_thresholds: int = 12
    model_thresholds: int = 40
    safety_margin: float = 0.0
    view: dict | None = None
    unit_frames: int | None = None
    fps: float | None = None
    decode_costs: DecodeCosts | None = None
    keyframes: np.ndarray | None = field(default=None, compare=False)
    breaks: np.ndarray | None = field(default=None, compare=False)
    keyframe_margins: tuple[float, ...] = DEFAULT_MARGINS

    def __post_init__(self) -> None:
        object.__setattr__(self, "skips", tuple(sorted({_check_skip(s) for s in self.skips})))
        object.__setattr__(self, "keyframe_margins", tuple(float(m) for m in self.keyframe_margins))
        if not self.skips:
            raise QueryError("no frame skip to search", "give at least one skip, e.g. 1")
        if self.dd_thresholds < 1 or self.model_thresholds < 2:
            raise QueryError("need at least 1 DD threshold and 2 model thresholds per search")
        if not 0.0 <= self.safety_margin < 1.0:
            raise QueryError(f"safety margin must lie in [0, 1), got {self.safety_margin}")
        if self.estimator not in ESTIMATORS:
            raise QueryError(f"unknown error estimator {self.estimator!r}", f"choose one of {', '.join(ESTIMATORS)}")
        if self.footage_frames is not None and (
            isinstance(self.footage_frames, bool) or int(self.footage_frames) != self.footage_frames
            or self.footage_frames < 1
        ):  # fmt: skip
            raise QueryError(
                f"the footage to answer must be a positive whole number of frames, got {self.footage_frames!r}",
                "e.g. footage_hours: 6 in cameras.yaml, or leave it out for the default",
            )

    @classmethod
    def point(cls, max_fnr: float, max_fpr: float, **kw) -> SearchOptions:
        """NoScope's rule: the threshold segment's rates against the targets."""
        return cls(Targets(max_fnr, max_fpr, None), **kw)

    @property
    def rule(self) -> str:
        """ "point", "bound" or "certified" (see the class docstring)."""
        if self.targets.confidence is None:
            return "point"
        return "certified" if self.certify else "bound"


def _check_skip(skip) -> int:
    if isinstance(skip, bool) or int(skip) != skip or skip < 1:
        raise QueryError(f"frame skips must be positive integers, got {skip!r}")
    return int(skip)
