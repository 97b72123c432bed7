"""The optimized cascade as an artifact: the optimizer's choice on the threshold segment and everything needed to
rebuild and audit it (``cascade.json``), the reference-only cascade of last resort, and rebuilding either."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from noscope_core.cascade.costs import StageCosts, measure_stage_costs
from noscope_core.cascade.execute import Cascade
from noscope_core.cascade.keyframe_plan import KeyframePlan, keyframe_positions
from noscope_core.cascade.routing import CascadeConfig
from noscope_core.common.artifacts import file_hashes, read_index, sha256_file
from noscope_core.common.atomic import write_json
from noscope_core.common.errors import ArtifactError
from noscope_core.models.difference import DifferenceDetector
from noscope_core.models.specialized import SpecializedModel
from noscope_core.optimizer.candidate import Candidate, OptimizationResult
from noscope_core.optimizer.certified_cost import DEFAULT_ESTIMATOR
from noscope_core.optimizer.decoding_choice import DecodingChoice
from noscope_core.optimizer.footage_choice import FootageChoice, choose_for_footage
from noscope_core.optimizer.options import SearchOptions
from noscope_core.optimizer.search import search_cascades
from noscope_core.reference.label_artifact import LabelSet
from noscope_core.spec.camera import Targets
from noscope_core.spec.query import Query
from noscope_core.video.decode_costs import DecodeCosts
from noscope_core.video.views import ViewSpec, model_view

#: frames/s assumed when the video does not say (skips are chosen in seconds of video)
FALLBACK_FPS = 30.0
#: threshold-segment frames on which each stage's cost is timed
COST_SAMPLE_FRAMES = 512


def default_skips(fps: float, max_seconds: float = 3.0) -> list[int]:
    """Frame skips from 1 up to a few seconds of video."""
    fps = fps if fps and fps > 0 else FALLBACK_FPS
    skips = {1, 2, 3, 5}
    for sec in (0.5, 1.0, 1.5, 2.0, 3.0):
        if sec <= max_seconds:
            skips.add(max(1, int(round(fps * sec))))
    return sorted(skips)


def _dd_scores_for(dd, frames: np.ndarray, skip: int) -> np.ndarray:
    if dd.spec.reference == "background":
        return dd.score(frames)
    out = np.full(len(frames), np.nan, dtype=np.float32)
    if len(frames) > skip:
        out[skip:] = dd.score(frames[skip:], previous=frames[:-skip])
    return out


@dataclass(frozen=True)
class CascadeArtifact:
    """The optimizer's choice and everything needed to rebuild and audit it; on disk, ``cascade.json``."""

    query: Query
    view: ViewSpec  # the small frames the cascade's cheap stages read
    reference_name: str
    reference_identity: str  # the cascade only runs with a reference of this identity
    targets: Targets
    skips: tuple[int, ...]  # the frame skips searched
    fps: float  # of the video it was optimized on
    costs: StageCosts
    best: Candidate  # the chosen configuration, with its threshold-segment error and cost
    frontier: tuple[Candidate, ...]
    fell_back: bool  # best is the reference on every frame
    reason: str | None  # why it fell back
    n_evaluated: int
    model_files: dict[str, str] = field(default_factory=dict)  # file name -> sha256
    dd_files: dict[str, str] = field(default_factory=dict)
    optimize_seconds: float = 0.0
    #: reading the video, measured on it (None: plans priced without decode, as NoScope did)
    decode_costs: DecodeCosts | None = None
    dense_best: Candidate | None = None  # when best is a keyframe-first plan: the dense plan it beat
    keyframe_best: Candidate | None = None  # the cheapest keyframe-first plan that met the targets, chosen or not
    #: with candidate decodings: every view's priced option and why ``view`` was kept (None: one view offered)
    decoding: DecodingChoice | None = None
    #: how ``best`` was chosen (candidate.PLAN_RULES): "certified" by the lowest expected certified cost for an
    #: answer of ``footage_frames`` frames, "bound" by the block-bound estimates, "point" by NoScope's rule
    rule: str = "point"
    footage_frames: int | None = None
    estimator: str | None = None  # the certified planner's error-rate estimator
    #: when re-planned for one answer's own footage (``for_footage``): which candidate runs there and why
    footage_choice: FootageChoice | None = None

    def describe(self) -> str:
        """The chosen cascade in words, and the decoding it reads with when several were offered."""
        text = self.best.describe()
        if self.decoding is not None:
            text += f"; {self.decoding.describe(self.targets)}"
        return text

    def for_footage(
        self, footage_frames: int, available: Callable[[Candidate], bool] = lambda c: True
    ) -> CascadeArtifact:
        """The artifact re-planned for a certified answer of ``footage_frames`` frames (a file's length): its
        priced frontier re-priced for that length and the candidate with the lowest expected certified cost made
        ``best`` (the reference alone when none pays, with the length from which one would), among those whose
        pieces are ``available``. ``footage_choice`` records it. Unchanged (no ``footage_choice``) when the
        artifact was not planned for certification or its targets carry no confidence: nothing to price."""
        choice = choose_for_footage(
            (*self.frontier, self.best, *(c for c in (self.dense_best, self.keyframe_best) if c is not None)),
            self.best,
            footage_frames=footage_frames,
            reference_ms=self.costs.reference_ms,
            targets=self.targets,
            fps=self.fps,
            certify_frame_decode_ms=None if self.decode_costs is None else self.decode_costs.frame_ms,
            planned_frames=self.footage_frames,
            available=available,
        )
        if choice is None:
            return self
        best = choice.chosen
        fell_back = best.config.is_reference_only
        return replace(
            self,
            best=best,
            fell_back=fell_back,
            reason=choice.reason if fell_back else None,
            dense_best=self.dense_best if not choice.changed else None,
            footage_frames=choice.footage_frames,
            footage_choice=choice,
        )

    @property
    def keyframe_plan(self) -> KeyframePlan | None:
        """The keyframe-first plan the chosen cascade runs with; None: dense (every frame decoded)."""
        return self.best.keyframe_plan

    @classmethod
    def from_result(
        cls,
        result: OptimizationResult,
        *,
        costs: StageCosts,
        query: Query,
        view: ViewSpec,
        reference_name: str,
        reference_identity: str,
        targets: Targets,
        skips: Sequence[int],
        fps: float,
        model_files: dict[str, str] | None = None,
        dd_files: dict[str, str] | None = None,
        fallback_reason: str | None = None,
        optimize_seconds: float = 0.0,
        decode_costs: DecodeCosts | None = None,
    ) -> CascadeArtifact:
        """The artifact of one search; ``fallback_reason`` marks a fallback decided before the search."""
        return cls(
            query=query,
            view=view,
            reference_name=reference_name,
            reference_identity=reference_identity,
            targets=targets,
            skips=tuple(int(s) for s in skips),
            fps=float(fps),
            costs=costs,
            best=result.best,
            frontier=tuple(result.frontier),
            fell_back=bool(result.fell_back or fallback_reason),
            reason=fallback_reason or result.reason,
            n_evaluated=int(result.n_evaluated),
            model_files=dict(model_files or {}),
            dd_files=dict(dd_files or {}),
            optimize_seconds=float(optimize_seconds),
            decode_costs=decode_costs,
            dense_best=result.dense_best,
            keyframe_best=result.keyframe_best,
            rule=result.rule,
            footage_frames=result.footage_frames,
            estimator=result.estimator,
        )

    @property
    def query_key(self) -> str:
        return self.query.key()

    def to_dict(self) -> dict:
        return {
            "query": self.query.to_dict(),
            "query_key": self.query.key(),
            "view": self.view.to_dict(),
            "reference": {"name": self.reference_name, "identity": self.reference_identity},
            "targets": self.targets.to_dict(),
            "skips": list(self.skips),
            "fps": self.fps,
            "costs": self.costs.to_dict(),
            "best": self.best.to_dict(),
            "frontier": [c.to_dict() for c in self.frontier],
            "fell_back": self.fell_back,
            "reason": self.reason,
            "n_evaluated": self.n_evaluated,
            "model_files": dict(self.model_files),
            "dd_files": dict(self.dd_files),
            "optimize_seconds": self.optimize_seconds,
            "decode_costs": None if self.decode_costs is None else self.decode_costs.to_dict(),
            "dense_best": None if self.dense_best is None else self.dense_best.to_dict(),
            "keyframe_best": None if self.keyframe_best is None else self.keyframe_best.to_dict(),
            "rule": self.rule,
            "footage_frames": self.footage_frames,
            "estimator": self.estimator,
            # only when several decodings were offered: artifacts of one view keep their shape
            **({"decoding": self.decoding.to_dict()} if self.decoding is not None else {}),
            **({"footage_choice": self.footage_choice.to_dict()} if self.footage_choice is not None else {}),
        }

    @classmethod
    def from_dict(cls, d: dict) -> CascadeArtifact:
        targets = d["targets"]
        return cls(
            query=Query.from_dict(d["query"]),
            view=ViewSpec.from_dict(d["view"]),
            reference_name=str(d["reference"]["name"]),
            reference_identity=str(d["reference"]["identity"]),
            targets=Targets(float(targets["max_fnr"]), float(targets["max_fpr"]), targets.get("confidence")),
            skips=tuple(int(s) for s in d.get("skips") or ()),
            fps=float(d["fps"]),
            costs=StageCosts.from_dict(d["costs"]),
            best=Candidate.from_dict(d["best"]),
            frontier=tuple(Candidate.from_dict(c) for c in d.get("frontier") or ()),
            fell_back=bool(d.get("fell_back", False)),
            reason=d.get("reason"),
            n_evaluated=int(d.get("n_evaluated", 0)),
            model_files=dict(d.get("model_files") or {}),
            dd_files=dict(d.get("dd_files") or {}),
            optimize_seconds=float(d.get("optimize_seconds", 0.0)),
            # artifacts written before keyframe-first plans have neither key: dense, priced without decode
            decode_costs=DecodeCosts.from_dict(d["decode_costs"]) if d.get("decode_costs") else None,
            dense_best=Candidate.from_dict(d["dense_best"]) if d.get("dense_best") else None,
            keyframe_best=Candidate.from_dict(d["keyframe_best"]) if d.get("keyframe_best") else None,
            decoding=DecodingChoice.from_dict(d["decoding"]) if d.get("decoding") else None,
            # artifacts written before the certified planner: bounds mean the bound rule, else the point rule
            rule=str(d.get("rule") or ("bound" if targets.get("confidence") is not None else "point")),
            footage_frames=None if d.get("footage_frames") is None else int(d["footage_frames"]),
            estimator=d.get("estimator"),
            footage_choice=FootageChoice.from_dict(d["footage_choice"]) if d.get("footage_choice") else None,
        )

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> CascadeArtifact:
        d = read_index(path, "optimized cascade")
        try:
            return cls.from_dict(d)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ArtifactError(
                f"optimized cascade {path} lacks or mangles {exc}", "re-run the optimizer (optimized_cascade)"
            ) from None


def choose_cascade(
    store,
    labels: LabelSet,
    models: Sequence,
    dds: Sequence,
    targets: Targets,
    out_path: str | Path | None = None,
    skips: Sequence[int] | None = None,
    models_dir: str | Path | None = None,
    dd_dir: str | Path | None = None,
    fallback_reason: str | None = None,
    unit_frames: int | None = None,
    decode_costs: DecodeCosts | None = None,
    keyframes: np.ndarray | None = None,
    view: ViewSpec | None = None,
    stage_costs: StageCosts | None = None,
    certify: bool = True,
    footage_frames: int | None = None,
    estimator: str | None = None,
) -> CascadeArtifact:
    """Score every cheap stage once on the threshold segment, measure stage costs, search the cascade space.

    ``targets.confidence``: demand that the targets hold at that confidence (see ``SearchOptions``), with
    evidence counted in blocks of ``unit_frames`` frames (default: estimated on the threshold labels alone).
    ``decode_costs`` and ``keyframes`` (the video's keyframe frame numbers), both measured on the store's video
    (:func:`noscope_core.video.decode_costs.measure_decode_costs`), price reading the video and let a keyframe-first
    plan compete with the dense ones. ``view``: the store's view the cheap stages read (default: the query's model
    view, exactly decoded); the artifact records it, so the query reads the same pixels. ``stage_costs``: price
    the stages with this table instead of timing them again (views whose models share architectures and frame
    sizes then differ only in how their cascades route frames, not in timing noise). ``certify`` and
    ``footage_frames``: the answers will be certified, so plan for the lowest expected certified cost of an answer
    of that many frames (``SearchOptions``), its errors estimated by ``estimator`` (None: the planner's default)."""
    start = time.perf_counter()
    view = view or model_view(labels.query)
    frames = np.asarray(store.frames(view)[labels.segments.threshold.indices()])
    truth = labels.segment("threshold").label
    skips = list(skips or default_skips(store.fps))
    model_scores = {m.name: m.predict_proba(frames) for m in models}
    dd_cache: dict[tuple[str, int], np.ndarray] = {}
    by_name = {dd.spec.name: dd for dd in dds}

    def dd_scores(name: str, skip: int) -> np.ndarray:
        dd = by_name[name]
        key = (name, 1 if dd.spec.reference == "background" else skip)
        if key not in dd_cache:
            dd_cache[key] = _dd_scores_for(dd, frames, skip)
        return dd_cache[key]

    costs = stage_costs or measure_stage_costs(
        frames[: min(len(frames), COST_SAMPLE_FRAMES)],
        {dd.spec.name: dd for dd in dds},
        {m.name: m for m in models},
        labels.reference_ms,
    )
    kf_pos = breaks = None
    if keyframes is not None:
        kf_pos, breaks = keyframe_positions(labels.segments.threshold.indices(), keyframes)
    options = SearchOptions(
        targets,
        certify=certify,
        footage_frames=footage_frames,
        skips=tuple(skips),
        unit_frames=unit_frames,
        fps=store.fps,
        decode_costs=decode_costs,
        keyframes=kf_pos,
        breaks=breaks,
        estimator=DEFAULT_ESTIMATOR if estimator is None else estimator,
    )
    kinds = {dd.spec.name: dd.spec.reference for dd in dds}
    result = search_cascades(truth, model_scores, dd_scores, kinds, costs, options)
    art = CascadeArtifact.from_result(
        result,
        costs=costs,
        query=labels.query,
        view=view,
        reference_name=labels.reference_name,
        reference_identity=labels.reference_identity,
        targets=targets,
        skips=skips,
        fps=store.fps,
        model_files=file_hashes(models_dir, "*.pt") if models_dir else {},
        dd_files=file_hashes(dd_dir, "*.npz") if dd_dir else {},
        fallback_reason=fallback_reason,
        optimize_seconds=time.perf_counter() - start,
        decode_costs=decode_costs,
    )
    if out_path is not None:
        art.save(out_path)
    return art


def reference_only_artifact(
    labels: LabelSet, store, targets: Targets, reason: str, out_path: str | Path | None = None
) -> CascadeArtifact:
    """The cascade of last resort: the reference on every frame, with the reason nothing cheaper was possible."""
    cand = Candidate(CascadeConfig.reference_only(), 0.0, 0.0, labels.reference_ms, 1.0, 1.0)
    result = OptimizationResult(best=cand, frontier=[cand], fell_back=True, reason=reason, n_evaluated=1)
    art = CascadeArtifact.from_result(
        result,
        costs=StageCosts({}, {}, labels.reference_ms),
        query=labels.query,
        view=model_view(labels.query),
        reference_name=labels.reference_name,
        reference_identity=labels.reference_identity,
        targets=targets,
        skips=[1],
        fps=store.fps,
        fallback_reason=reason,
    )
    if out_path is not None:
        art.save(out_path)
    return art


def load_cascade(
    artifact: CascadeArtifact, detector, models_dir: str | Path | None, dd_dir: str | Path | None
) -> Cascade:
    """Rebuild the chosen cascade from its artifact; refuse stale pieces (other query, other reference, changed files)."""
    if artifact.reference_identity != detector.identity():
        raise ArtifactError(
            f"the cascade was optimized for reference {artifact.reference_name!r} with other weights or settings",
            "re-run the optimizer with this reference detector",
        )
    config = artifact.best.config
    model = dd = None
    if config.model_name:
        model = _load_checked(models_dir, f"{config.model_name}.pt", artifact.model_files, "specialized model")
    if config.dd_name:
        dd = _load_checked(dd_dir, f"{config.dd_name}.npz", artifact.dd_files, "difference detector")
    return Cascade(config, detector, artifact.query, artifact.view, dd=dd, model=model)


def _load_checked(folder, fname: str, hashes: dict[str, str], what: str):
    if folder is None:
        raise ArtifactError(f"the cascade needs the {what} {fname} but no folder was given")
    path = Path(folder) / fname
    if not path.is_file():
        raise ArtifactError(f"{what} {path} is missing", "re-run training and optimization")
    if hashes and hashes.get(fname) and hashes[fname] != sha256_file(path):
        raise ArtifactError(
            f"{what} {path} changed since the cascade was optimized (stale model)",
            "re-run the optimizer so the cascade matches the current models",
        )
    return SpecializedModel.load(path) if fname.endswith(".pt") else DifferenceDetector.load(path)
