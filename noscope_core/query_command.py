"""``noscope query``: label → train → optimize → run on the test segment, with every stage cached on disk."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from noscope_core import workflow
from noscope_core.atomic import write_json
from noscope_core.errors import DegenerateLabelsError, QueryError
from noscope_core.paths import noscope_home
from noscope_core.query import Query
from noscope_core.spec import CameraSpec


@dataclass(frozen=True)
class QueryOptions:
    """One ``noscope query`` run: the spec to answer, and what to do besides answering it."""

    spec: CameraSpec
    evaluate: bool = False  # also label the test segment and measure the cascade's error against the reference
    json_out: Path | None = None
    work_root: Path | None = None  # default: $NOSCOPE_HOME

    def __post_init__(self) -> None:
        # Checked before any work: a bad value found after minutes of decoding and training wastes the run.
        if self.json_out is not None and Path(self.json_out).is_dir():
            raise QueryError(f"--json {self.json_out} is a folder", "give the path of a file to write, e.g. out.json")


@dataclass(frozen=True)
class QueryCommandResult:
    """What ``noscope query`` answers, in the JSON shape of ``noscope query --json``."""

    data: dict


def run_query_command(opts: QueryOptions, log: Callable[[str], None] = print) -> QueryCommandResult:
    from noscope_core.detectors import make_detector
    from noscope_core.video import probe_video

    t0 = time.perf_counter()
    spec = opts.spec
    info = probe_video(spec.video)
    detector = make_detector(
        spec.reference_spec(), reference_fps=spec.reference_fps, frame_size=(info.width, info.height)
    )
    spec.query.validate_class(detector.class_names)
    root = opts.work_root or noscope_home()
    run_key = f"{info.fingerprint}|{spec.query.key()}|{detector.identity()}|{spec.split.fractions}"
    log(f"[1/5] decoding {spec.video} ({info.width}x{info.height}, {info.fps:g} fps) ...")
    store = workflow.decode(
        spec.video, root / "frames" / f"{info.fingerprint[:16]}-{_views_key(spec.query)}", spec.query
    )
    decode_report = _decode_report(store)
    if decode_report["frames_missing_at_end"] or decode_report["corrupt_frames"]:
        log(
            f"warning: {spec.video} is damaged: decoded {store.n_frames} of the {info.frame_count} frames it claims "
            f"({decode_report['frames_missing_at_end']} missing at the end, {decode_report['corrupt_frames']} "
            "undecodable in between, read as empty); the query uses the decoded frames"
        )
    segments_to_label = ("train", "threshold", "test") if opts.evaluate else ("train", "threshold")
    log(f"[2/5] reference labels ({detector.name}) for {', '.join(segments_to_label)} ...")
    labels = workflow.label(
        store,
        detector,
        spec.query,
        spec.split.fractions,
        segments_to_label,
        cache_root=root / "cache" / "detections",
        blocks=spec.split.blocks,
    )
    if labels.segments.blocks > 1:
        log(
            f"      split into {labels.segments.blocks} blocks (the first consecutive split never saw the object come and go)"
        )
    rates = labels.positive_rates()
    log("      positive rate " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in rates.items()))
    # models and thresholds depend on which frames were train / threshold: key the work folder on the split
    run_key += f"|{labels.segments.to_dict()}|{spec.training.max_epochs}"
    work = root / "runs" / hashlib.sha256(run_key.encode()).hexdigest()[:16]
    cascade_path = work / "cascade.json"
    try:
        workflow.check_labels(labels, "train")
        workflow.check_labels(labels, "threshold")
    except DegenerateLabelsError as err:
        log(f"warning: {err} -- falling back to the reference on every frame")
        art = workflow.reference_only_artifact(
            labels, store, spec.targets.max_fnr, spec.targets.max_fpr, str(err), out_path=cascade_path
        )
        models_dir = dd_dir = None
    else:
        models_dir, dd_dir = work / "models", work / "difference"
        log("[3/5] training specialized models and difference detectors ...")
        models = workflow.load_models(models_dir, spec.query) if _done(models_dir) else None
        if models is None:
            results = workflow.train(store, labels, models_dir, max_epochs=spec.training.max_epochs)
            models = [r.model for r in results]
            for r in results:
                log(f"      {r.model.name}: val accuracy {r.val_accuracy:.3f} ({r.train_seconds:.1f} s)")
        dds = (
            workflow.load_difference(dd_dir, spec.query)
            if _done(dd_dir)
            else workflow.fit_difference(store, labels, dd_dir)
        )
        log("[4/5] optimizing the cascade on the threshold segment ...")
        art = workflow.optimize(
            store,
            labels,
            models,
            dds,
            spec.targets.max_fnr,
            spec.targets.max_fpr,
            out_path=cascade_path,
            models_dir=models_dir,
            dd_dir=dd_dir,
            confidence=spec.targets.confidence,
        )
    info_dict = art.to_dict()
    log(f"      chosen: {info_dict['best']['describe']}")
    log("[5/5] running the cascade on the test segment ...")
    cascade = workflow.build_cascade(info_dict, detector, models_dir, dd_dir)
    truth = labels.segment("test").label if opts.evaluate else None
    result = workflow.run_query(cascade, info_dict, store, labels.segments.test, spec.video, truth=truth)
    data = dict(result.data)
    data["wall_seconds"] = time.perf_counter() - t0
    data["positive_rates"] = rates
    data["decode"] = decode_report
    if opts.json_out:
        write_json(opts.json_out, data)
    return QueryCommandResult(data)


def _decode_report(store) -> dict:
    """How much of the video could be decoded: a truncated or damaged file still answers from what decodes."""
    return {
        "frames": int(store.n_frames),
        "frames_claimed": int(store.meta.get("frames_claimed", store.n_frames)),
        "frames_missing_at_end": int(store.meta.get("frames_missing_at_end", 0)),
        "corrupt_frames": int(store.n_corrupt),
    }


def _done(folder: Path) -> bool:
    return (folder / "index.json").is_file()


def _views_key(query: Query) -> str:
    roi = query.roi.as_tuple() if query.roi else None
    return hashlib.sha256(repr(roi).encode()).hexdigest()[:8]
