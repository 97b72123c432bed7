"""One path through the engine: decode → label → (reference-only decision) → train → fit difference detectors →
optimize → build the cascade → run it.

Every caller goes through these stages: ``noscope query`` and the benchmarks chain them in one process with
``prepare_cascade``; each Dagster asset calls the one stage it materializes. Each stage takes the camera's
``CameraSpec`` and the typed artifacts of the stages before it, and writes its own artifact atomically.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from noscope_core.cascade.costs import StageCosts
from noscope_core.common.artifacts import is_complete
from noscope_core.guarantees.bounds import evidence_unit_frames
from noscope_core.models import difference_artifact, model_artifact
from noscope_core.optimizer import cascade_artifact
from noscope_core.optimizer.cascade_artifact import CascadeArtifact
from noscope_core.reference import label_artifact
from noscope_core.reference.detection_cache import DetectionCache
from noscope_core.reference.detectors import ReferenceDetector, make_detector
from noscope_core.reference.label_artifact import FIT_SEGMENTS, LabelSet, check_labels, degenerate_reason
from noscope_core.spec.camera import CameraSpec
from noscope_core.video.decode_costs import measure_decode_costs
from noscope_core.video.framestore import FrameStore, build_frame_store
from noscope_core.video.views import ViewSpec, decoding_views, model_view, store_views


def _quiet(_msg: str) -> None:
    pass


def open_reference(
    spec: CameraSpec, frame_size: tuple[int, int] | None = None, video: str | Path | None = None
) -> ReferenceDetector:
    """The camera's reference detector for ``video`` (default: its training video)."""
    return make_detector(spec.reference_spec(video), reference_fps=spec.reference_fps, frame_size=frame_size)


def decode(spec: CameraSpec, root: str | Path, progress: bool = True) -> FrameStore:
    """Decode the camera's video once into a frame store holding the small frames the cheap stages read (with
    candidate decodings, the model view under each of them too: one decoding pass each)."""
    return build_frame_store(
        spec.video, root, views=[*store_views(spec.query), *candidate_views(spec)[1:]], progress=progress,
        max_frames=spec.max_frames,
    )  # fmt: skip


def candidate_views(spec: CameraSpec) -> list[ViewSpec]:
    """The model views the optimizer may choose among, the exact one first; only the exact one where the file is
    not read through PyAV (OpenCV cannot decode at reduced resolution or without the loop filter)."""
    if not spec.training.decodings:
        return [model_view(spec.query)]
    from noscope_core.video.readers import choose_reader

    if choose_reader(spec.video).choice.name != "pyav":
        return [model_view(spec.query)]
    return decoding_views(spec.query, spec.training.decodings)


def label(
    spec: CameraSpec,
    store: FrameStore,
    detector: ReferenceDetector,
    segments: Sequence[str] = FIT_SEGMENTS,
    cache_root: str | Path | None = None,
    progress: bool = True,
) -> LabelSet:
    """Run the reference on ``segments`` of the split (through the detection cache) and label them."""
    return label_artifact.label_segments(
        store,
        detector,
        spec.query,
        spec.split.fractions,
        segments,
        cache_root=cache_root,
        progress=progress,
        blocks=spec.split.blocks,
    )


#: the one decision whether a camera gets a cheap cascade: see ``label_artifact.degenerate_reason``
fallback_reason = degenerate_reason


def train(
    spec: CameraSpec,
    store: FrameStore,
    labels: LabelSet,
    out_dir: str | Path,
    logger_factory: Callable | None = None,
    progress: bool = False,
    view: ViewSpec | None = None,
) -> list:
    """Train the spec's specialized-model variants on the train segment (of ``view``, default the exact model
    view) into ``out_dir``; ``TrainResult``s."""
    return model_artifact.train_models(
        store,
        labels,
        out_dir,
        specs=model_artifact.model_family(spec.training.models),
        max_epochs=spec.training.max_epochs,
        seed=spec.training.seed,
        logger_factory=logger_factory,
        progress=progress,
        view=view,
    )


def optimize(
    spec: CameraSpec,
    store: FrameStore,
    labels: LabelSet,
    models: Sequence,
    dds: Sequence,
    out_path: str | Path | None = None,
    models_dir: str | Path | None = None,
    dd_dir: str | Path | None = None,
    keyframe_first: bool = True,
    view: ViewSpec | None = None,
    stage_costs: StageCosts | None = None,
    certify: bool = True,
    footage_frames: int | None = None,
) -> CascadeArtifact:
    """The cascade to run, chosen on the threshold segment (``SearchOptions``'s rules; the block-bound estimates
    use evidence counted in blocks estimated on the train and threshold labels together).

    ``certify`` (the default; ``--no-certify`` turns it off): its answers will be certified, so the cascade with
    the lowest expected certified cost for an answer of ``footage_frames`` frames is chosen (default: the
    camera's declared footage, ``CameraSpec.answer_frames``; ``noscope apply`` passes its file's length).
    Without certification, the cheapest whose block-bound estimates meet the targets.

    ``keyframe_first``: measure reading the camera's video (dense decoding, keyframe-only scans, seeks) so plans
    are priced with decode included and a keyframe-first plan competes with the dense ones; only where the store
    was read through PyAV (the OpenCV reader cannot scan keyframes alone), and for exactly decoded views only (the
    keyframe-first executor hands the frames it decoded to the reference, which must see exact frames). ``view``:
    the store's view the cascade reads (default: the exact model view). ``stage_costs``: price with this table
    instead of timing the stages again."""
    view = view or model_view(labels.query)
    unit_frames = None
    if spec.targets.confidence is not None:
        unit_frames = evidence_unit_frames([labels.segment(s).label for s in FIT_SEGMENTS])
    decode_costs = keyframes = None
    if keyframe_first and store.reader == "pyav" and view.exact_decode:
        measured = measure_decode_costs(spec.video, view)
        if measured is not None:
            decode_costs, keyframes = measured
    if footage_frames is None:
        footage_frames = spec.answer_frames(store.fps, len(labels.segments.test.indices()))
    return cascade_artifact.choose_cascade(
        store,
        labels,
        models,
        dds,
        spec.targets,
        out_path=out_path,
        models_dir=models_dir,
        dd_dir=dd_dir,
        unit_frames=unit_frames,
        decode_costs=decode_costs,
        keyframes=keyframes,
        view=view,
        stage_costs=stage_costs,
        certify=certify,
        footage_frames=footage_frames,
        estimator=spec.planner_estimate,
    )


def reference_only(
    spec: CameraSpec, store: FrameStore, labels: LabelSet, reason: str, out_path: str | Path | None = None
) -> CascadeArtifact:
    """The cascade of last resort: the reference on every frame, with the reason nothing cheaper was possible."""
    return cascade_artifact.reference_only_artifact(labels, store, spec.targets, reason, out_path=out_path)


def detection_cache(root: str | Path, video_fingerprint: str, detector: ReferenceDetector) -> DetectionCache:
    """The reference's detections of one video, kept across runs (labelling and certification share them)."""
    return DetectionCache(Path(root), video_fingerprint, detector.identity())


@dataclass(frozen=True)
class PreparedCascade:
    """The chain's output between labels and the query: the cascade artifact and the pieces it was built from."""

    artifact: CascadeArtifact
    cascade_json: Path
    models_dir: Path | None  # None: the reference-only cascade needs no models
    dd_dir: Path | None
    models: tuple = ()
    dds: tuple = ()
    train_results: tuple = ()  # empty when the models were reused or not trained
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each stage that ran


def prepare_cascade(
    spec: CameraSpec,
    store: FrameStore,
    labels: LabelSet,
    work: str | Path,
    *,
    reuse: bool = False,
    allow_fallback: bool = True,
    log: Callable[[str], None] = _quiet,
    certify: bool = True,
    footage_frames: int | None = None,
) -> PreparedCascade:
    """Labels → (reference-only decision) → train → fit difference detectors → optimize, under ``work``.

    ``certify`` / ``footage_frames``: how the optimizer plans (see :func:`optimize`).

    ``reuse``: keep complete model and difference-detector folders from an earlier run (their index is checked
    against the query). ``allow_fallback=False`` raises the degenerate-labels error instead of falling back.
    """
    work = Path(work)
    cascade_json = work / "cascade.json"
    reason = fallback_reason(labels)
    if reason is not None:
        if not allow_fallback:
            for segment in FIT_SEGMENTS:
                check_labels(labels, segment)
        log(f"warning: {reason} -- falling back to the reference on every frame")
        art = reference_only(spec, store, labels, reason, out_path=cascade_json)
        return PreparedCascade(art, cascade_json, None, None)
    views = candidate_views(spec)
    if len(views) > 1:
        missing = [v.name for v in views if not store.has_view(v)]
        if missing:
            log(f"warning: the frame store lacks {', '.join(missing)} (decode with the spec's decodings); not offered")
        if len(missing) < len(views) - 1:
            plan = {"certify": certify, "footage_frames": footage_frames}
            return _prepare_per_view(spec, store, labels, work, views, reuse, log, plan)
    models_dir, dd_dir = work / "models", work / "difference"
    seconds: dict[str, float] = {}
    log("[3/5] training specialized models and difference detectors ...")
    models, results, dds = _train_and_fit(spec, store, labels, models_dir, dd_dir, None, reuse, log, seconds)
    log("[4/5] optimizing the cascade on the threshold segment ...")
    t0 = time.perf_counter()
    art = optimize(
        spec, store, labels, models, dds, out_path=cascade_json, models_dir=models_dir, dd_dir=dd_dir,
        certify=certify, footage_frames=footage_frames,
    )  # fmt: skip
    seconds["optimize"] = time.perf_counter() - t0
    return PreparedCascade(art, cascade_json, models_dir, dd_dir, tuple(models), tuple(dds), tuple(results), seconds)


def _train_and_fit(
    spec: CameraSpec,
    store: FrameStore,
    labels: LabelSet,
    models_dir: Path,
    dd_dir: Path,
    view: ViewSpec | None,
    reuse: bool,
    log: Callable[[str], None],
    seconds: dict[str, float],
) -> tuple[list, list, list]:
    """(models, train results, difference detectors) of one view, reusing complete folders when asked."""
    t0 = time.perf_counter()
    models, results = None, []
    if reuse and is_complete(models_dir):
        models = model_artifact.load_models(models_dir, spec.query)
    if models is None:
        results = train(spec, store, labels, models_dir, view=view)
        models = [r.model for r in results]
        for r in results:
            log(f"      {r.model.name}: val accuracy {r.val_accuracy:.3f} ({r.train_seconds:.1f} s)")
    seconds["train"] = seconds.get("train", 0.0) + time.perf_counter() - t0
    t0 = time.perf_counter()
    if reuse and is_complete(dd_dir):
        dds = difference_artifact.load_difference(dd_dir, spec.query)
    else:
        dds = difference_artifact.fit_difference(store, labels, dd_dir, view=view)
    seconds["fit_difference"] = seconds.get("fit_difference", 0.0) + time.perf_counter() - t0
    return models, results, dds


def view_folder(view: ViewSpec, default: ViewSpec) -> str:
    """Where a view's models and difference detectors lie under the work folder: the default view's where they
    always were, every other view's under ``views/<name>`` (so no view ever reads another's models)."""
    return "" if view.name == default.name else f"views/{view.name}"


def _prepare_per_view(
    spec: CameraSpec,
    store: FrameStore,
    labels: LabelSet,
    work: Path,
    views: Sequence[ViewSpec],
    reuse: bool,
    log: Callable[[str], None],
    plan: dict,
) -> PreparedCascade:
    """Train, fit and optimize once per candidate view, price each view's cascade with the reading costs measured
    on the camera's file, and keep the cheapest that meets the targets (``decoding_choice.decide_decoding``)."""
    from noscope_core.optimizer.decoding_choice import decide_decoding, price_option
    from noscope_core.video.reading_costs import measure_reading_costs

    default = views[0]
    decodings = dict(zip((v.name for v in views), ("", *spec.training.decodings), strict=True))
    views = [v for v in views if store.has_view(v)]
    seconds: dict[str, float] = {}
    pieces: dict[str, tuple] = {}
    stage_costs = None  # the first view's timings price every view: same models, same frame size, same cost
    for view in views:
        folder = work / view_folder(view, default)
        models_dir, dd_dir = folder / "models", folder / "difference"
        log(f"[3/5] training specialized models and difference detectors on {view.name} ...")
        models, results, dds = _train_and_fit(spec, store, labels, models_dir, dd_dir, view, reuse, log, seconds)
        log(f"[4/5] optimizing the cascade on {view.name} ...")
        t0 = time.perf_counter()
        art = optimize(
            spec, store, labels, models, dds, models_dir=models_dir, dd_dir=dd_dir, view=view, stage_costs=stage_costs,
            **plan,
        )  # fmt: skip
        stage_costs = stage_costs or art.costs
        seconds["optimize"] = seconds.get("optimize", 0.0) + time.perf_counter() - t0
        pieces[view.name] = (art, models_dir, dd_dir, models, dds, results)
    t0 = time.perf_counter()
    costs = measure_reading_costs(spec.video, views, reader=store.reader)
    seconds["reading_costs"] = time.perf_counter() - t0
    options = {name: price_option(decodings[name], p[0], costs) for name, p in pieces.items()}
    choice = decide_decoding(options, default.name, {v.name: view_folder(v, default) for v in views}, costs)
    art, models_dir, dd_dir, models, dds, results = pieces[choice.chosen_view]
    art = dataclasses.replace(art, decoding=choice)
    cascade_json = work / "cascade.json"
    art.save(cascade_json)
    log(f"      {choice.describe(spec.targets)}")
    return PreparedCascade(art, cascade_json, models_dir, dd_dir, tuple(models), tuple(dds), tuple(results), seconds)
