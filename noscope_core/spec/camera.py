"""The one description of what to answer and how: a camera (or a single ``noscope query``) as a frozen spec.

The command line, the camera registry (``cameras.yaml``), the benchmarks' cameras and the Dagster assets all
build a ``CameraSpec``; every default lives here once, as a named constant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from noscope_core.common.errors import QueryError
from noscope_core.common.paths import safe_name
from noscope_core.spec.decodings import parse_decodings
from noscope_core.spec.query import Query, parse_split, parse_target

#: how the certified planner may estimate a cascade's errors on new footage (noscope_core.optimizer.certified_cost
#: says what each does): the segment's "point" rates, a "mild" upper bound of them, or that bound with a "margin"
ESTIMATORS = ("point", "mild", "margin")

#: the reference detector that labels frames unless told otherwise
DEFAULT_REFERENCE = "ssd-mobilenet-v3"  # the reference a camera uses unless it names one
#: NoScope's error budget: at most 1% false negatives and 1% false positives against the reference
DEFAULT_MAX_FNR = 0.01
DEFAULT_MAX_FPR = 0.01
#: the targets are promises at this confidence (time-aware bounds, docs/guarantees.md); None: NoScope's point rule
DEFAULT_CONFIDENCE = 0.95
#: train / threshold / test fractions, in time order
DEFAULT_SPLIT = (0.5, 0.25, 0.25)
#: specialized-model training epochs (early stopping usually ends sooner)
DEFAULT_MAX_EPOCHS = 12
DEFAULT_SEED = 0
#: a registered camera's answers are planned for this much footage unless it declares its own (footage_hours /
#: footage_frames): NoScope trains once and answers hours of new footage, and an hour is the shortest stretch the
#: camera's new-footage files and benchmarks answer; a single ``noscope query`` plans for its test segment instead
DEFAULT_FOOTAGE_HOURS = 1.0
#: the id of a camera that is not in a registry (a single ``noscope query``)
ADHOC_CAMERA_ID = "query"


@dataclass(frozen=True)
class Targets:
    """The error budget against the reference; ``confidence``: the budget must hold at that confidence (the
    optimizer's time-aware bounds and the answer's certificate, docs/guarantees.md), None: NoScope's point rule
    (the rates measured on the threshold segment, no certificate)."""

    max_fnr: float = DEFAULT_MAX_FNR
    max_fpr: float = DEFAULT_MAX_FPR
    confidence: float | None = DEFAULT_CONFIDENCE

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_fnr", parse_target("max_fnr", self.max_fnr))
        object.__setattr__(self, "max_fpr", parse_target("max_fpr", self.max_fpr))
        object.__setattr__(self, "confidence", parse_confidence(self.confidence))

    def to_dict(self) -> dict:
        return {"max_fnr": self.max_fnr, "max_fpr": self.max_fpr, "confidence": self.confidence}


def parse_confidence(value) -> float | None:
    """A confidence in (0, 1), or None for NoScope's point rule (also spelled "none" on the command line)."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", "")):
        return None
    try:
        conf = float(value)
    except (TypeError, ValueError):
        conf = float("nan")
    if isinstance(value, bool) or not 0.0 < conf < 1.0:
        raise QueryError(
            f"confidence must lie strictly between 0 and 1, or be none, got {value!r}",
            f"e.g. --confidence {DEFAULT_CONFIDENCE} (the default), or --confidence none for NoScope's point rule",
        )
    return conf


@dataclass(frozen=True)
class SplitSpec:
    """How the footage is cut into train / threshold / test, in time order.

    ``blocks``: None chooses automatically (see ``noscope_core.spec.split``); 1 is NoScope's consecutive split."""

    fractions: tuple[float, float, float] = DEFAULT_SPLIT
    blocks: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "fractions", parse_split(self.fractions))
        if self.blocks is not None and int(self.blocks) < 1:
            raise QueryError(f"split blocks must be a positive integer or automatic, got {self.blocks!r}")


@dataclass(frozen=True)
class TrainingOptions:
    """How the specialized models are trained; ``models``: variant names of the default family (None: all).

    ``decodings``: cheaper decodings the optimizer may choose for this camera besides the exact one (e.g.
    ``("lr2", "nlf")``, see ``reading_costs.DECODINGS``); each one trains its own model family, so training time
    multiplies by ``1 + len(decodings)``. Empty (the default): the exact decoding only, as before."""

    max_epochs: int = DEFAULT_MAX_EPOCHS
    seed: int = DEFAULT_SEED
    models: tuple[str, ...] | None = None
    decodings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Checked before any work: a bad value found after minutes of decoding and labelling wastes the run.
        if self.max_epochs < 1:
            raise QueryError(f"--max-epochs must be at least 1, got {self.max_epochs}")
        if self.models is not None:
            object.__setattr__(self, "models", tuple(str(m) for m in self.models) or None)
        object.__setattr__(self, "decodings", parse_decodings_option(self.decodings))

    def to_dict(self) -> dict:
        return {
            "max_epochs": self.max_epochs,
            "seed": self.seed,
            "models": list(self.models) if self.models is not None else None,
            "decodings": list(self.decodings),
        }

    @classmethod
    def from_dict(cls, d: dict) -> TrainingOptions:
        """The options of ``to_dict`` (or a registry's ``training:`` block); missing keys take the defaults."""
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise QueryError(
                f"unknown training options {sorted(unknown)}", f"choose among {', '.join(cls.__dataclass_fields__)}"
            )
        return cls(
            max_epochs=int(d.get("max_epochs") or DEFAULT_MAX_EPOCHS),
            seed=int(d.get("seed", DEFAULT_SEED)),
            models=tuple(d["models"]) if d.get("models") else None,
            decodings=d.get("decodings") or (),
        )


def parse_decodings_option(value) -> tuple[str, ...]:
    """Candidate decodings besides the exact one, checked: a list, or one comma-separated string ("lr2,nlf")."""
    if not value:
        return ()
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, list | tuple):
        raise QueryError(f"decodings must be a list of names, got {value!r}", "e.g. decodings: [lr2, nlf]")
    return tuple(d for d in parse_decodings(value) if d)


@dataclass(frozen=True)
class CameraSpec:
    """What to look for in which footage, which reference to trust, the error budget and how to get there."""

    video: Path  # the footage the cascade is trained on (split into train / threshold / test)
    query: Query
    camera_id: str = ADHOC_CAMERA_ID
    reference: str = DEFAULT_REFERENCE  # a make_detector spec; "synthetic" reads the video's own ground truth
    reference_fps: float | None = None  # declared reference speed instead of measuring it
    targets: Targets = Targets()
    split: SplitSpec = SplitSpec()
    training: TrainingOptions = TrainingOptions()
    max_frames: int | None = None  # decode at most this many frames (for quick runs)
    footage_dir: Path | None = None  # new footage arrives here; the sensor queries every new file
    #: how long the footage the camera answers is, declared in frames or hours (at most one; see answer_frames)
    footage_frames: int | None = None
    footage_hours: float | None = None
    #: how the certified planner estimates a cascade's errors on new footage (one of ESTIMATORS); None: its
    #: default (a margin over the segment's errors); "mild" for a camera whose footage is as steady as its segment
    planner_estimate: str | None = None
    extra: dict = field(default_factory=dict, compare=False)  # registry keys this spec does not know

    def __post_init__(self) -> None:
        safe_name(self.camera_id, "camera id")
        object.__setattr__(self, "video", Path(self.video))
        if self.footage_frames is not None and self.footage_hours is not None:
            raise QueryError(
                f"camera {self.camera_id}: footage_frames and footage_hours both given", "declare the footage once"
            )
        if self.footage_frames is not None and (
            isinstance(self.footage_frames, bool) or int(self.footage_frames) != self.footage_frames
            or self.footage_frames < 1
        ):  # fmt: skip
            raise QueryError(
                f"camera {self.camera_id}: footage_frames must be a positive whole number, got {self.footage_frames!r}",
                "e.g. footage_frames: 216000, or footage_hours: 6",
            )
        if self.footage_hours is not None and not (
            isinstance(self.footage_hours, int | float) and not isinstance(self.footage_hours, bool)
            and 0 < self.footage_hours < float("inf")
        ):  # fmt: skip
            raise QueryError(
                f"camera {self.camera_id}: footage_hours must be a positive number of hours, got {self.footage_hours!r}",
                "e.g. footage_hours: 6",
            )

        if self.planner_estimate is not None and self.planner_estimate not in ESTIMATORS:
            raise QueryError(
                f"camera {self.camera_id}: unknown planner_estimate {self.planner_estimate!r}",
                f"choose one of {', '.join(ESTIMATORS)}",
            )

    def answer_frames(self, fps: float, test_frames: int | None = None) -> int:
        """How many frames an answer of this camera is planned for: the declared footage; else, for a single
        ``noscope query``, ``test_frames`` (the test segment it answers); else DEFAULT_FOOTAGE_HOURS at ``fps``."""
        if self.footage_frames is not None:
            return int(self.footage_frames)
        hours = self.footage_hours
        if hours is None and self.camera_id == ADHOC_CAMERA_ID and test_frames:
            return int(test_frames)
        return max(1, round((DEFAULT_FOOTAGE_HOURS if hours is None else hours) * 3600 * fps))

    def reference_spec(self, video: str | Path | None = None) -> str:
        """The ``make_detector`` spec; the bare synthetic reference reads the ground truth of ``video``."""
        return f"synthetic:{video or self.video}" if self.reference == "synthetic" else self.reference

    def to_dict(self) -> dict:
        return {
            "camera_id": self.camera_id,
            "video": str(self.video),
            "query": self.query.to_dict(),
            "reference": self.reference,
            "reference_fps": self.reference_fps,
            "max_fnr": self.targets.max_fnr,
            "max_fpr": self.targets.max_fpr,
            "split": list(self.split.fractions),
            "split_blocks": self.split.blocks,
            "confidence": self.targets.confidence,
            "footage_dir": str(self.footage_dir) if self.footage_dir else None,
            "max_frames": self.max_frames,
            # only when declared: specs (and the figures keyed on them) without a footage length stay as they were
            **({"footage_frames": self.footage_frames} if self.footage_frames is not None else {}),
            **({"footage_hours": self.footage_hours} if self.footage_hours is not None else {}),
            **({"planner_estimate": self.planner_estimate} if self.planner_estimate is not None else {}),
            # only when set: specs (and the figures keyed on them) without decodings stay as they were
            **({"decodings": list(self.training.decodings)} if self.training.decodings else {}),
        }
