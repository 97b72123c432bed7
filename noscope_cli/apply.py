"""``noscope apply CASCADE_OR_CAMERA VIDEO…``: answer new footage with a trained cascade, certified on each video.

The engine (``noscope_core.flows.apply_flow``) does the work; this module resolves the cascade (a ``cascade.json`` path, or a
camera id whose Dagster artifacts exist), checks every argument before any video is decoded, and prints.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from noscope_cli.query import _log, add_promise_arguments, promise_lines
from noscope_core.common.errors import QueryError


def register(subparsers) -> None:
    a = subparsers.add_parser(
        "apply", help="answer new videos with a trained cascade (a cascade.json or a camera id), certified on each"
    )
    a.add_argument("cascade", help="a cascade.json (models/ and difference/ beside it) or a camera id of the registry")
    a.add_argument("videos", type=Path, nargs="+", metavar="VIDEO")
    a.add_argument("--models", type=Path, default=None, help="specialized models folder (default: beside cascade.json)")
    a.add_argument("--difference", type=Path, default=None, help="difference detectors folder (default: beside it)")
    a.add_argument(
        "--reference", default=None, help="reference detector spec (default: the one the cascade was trained with)"
    )
    a.add_argument(
        "--reference-fps", type=float, default=None, help="declared reference speed (frames/s) instead of measuring it"
    )
    add_promise_arguments(
        a,
        confidence_help="certify each answer at this confidence (default: the cascade's own, 0.95 for a cascade "
        "chosen by the point rule); none: no certificate",
    )
    a.set_defaults(confidence=None)
    a.add_argument("--json", dest="json_out", type=Path, default=None, help="write the answers as JSON here")
    a.add_argument("--quiet", action="store_true")
    a.set_defaults(func=run)


@dataclasses.dataclass(frozen=True)
class ApplyPlan:
    """Everything ``apply`` needs, checked: the cascade, the videos, the reference and the options."""

    trained: object  # noscope_core.flows.apply_flow.TrainedCascade
    videos: tuple[Path, ...]
    reference_spec: str
    reference_fps: float | None
    certify: object  # CertifyOptions
    json_out: Path | None


def plan_from_args(args) -> ApplyPlan:
    """Resolve and check every argument; one-line errors, before any video is decoded or model loaded."""
    from noscope_core.flows.apply_flow import TrainedCascade, check_video, with_confidence
    from noscope_core.flows.query_flow import check_output_file
    from noscope_core.guarantees.certify_answer import CertifyOptions
    from noscope_core.spec.camera import DEFAULT_CONFIDENCE, parse_confidence

    check_output_file(args.json_out, "--json")
    certify = CertifyOptions.of(not args.no_certify, args.certify_budget, args.certify_seed)
    videos = tuple(check_video(v) for v in args.videos)
    reference_spec = args.reference
    target = Path(args.cascade).expanduser()
    if target.suffix == ".json" or target.is_file() or target.is_dir():
        if target.is_dir():
            target = target / "cascade.json"
        trained = TrainedCascade.load(target, args.models, args.difference)
    else:
        trained, camera_reference = _camera_cascade(args.cascade)
        reference_spec = reference_spec or camera_reference
    art = trained.artifact
    confidence = art.targets.confidence if args.confidence is None else parse_confidence(args.confidence)
    if args.confidence is None and confidence is None:
        confidence = DEFAULT_CONFIDENCE  # a cascade chosen by the point rule is still certified, unless asked not to
    trained = dataclasses.replace(trained, artifact=with_confidence(art, confidence))
    reference_spec = reference_spec or art.reference_name
    if reference_spec in ("onnx", "detections"):
        raise QueryError(
            f"the cascade's reference {reference_spec!r} was loaded from a file this command cannot know",
            f"pass --reference {reference_spec}:PATH",
        )
    return ApplyPlan(trained, videos, reference_spec, args.reference_fps, certify, args.json_out)


def _camera_cascade(camera_id: str):
    """The Dagster artifacts of a registry camera (``.noscope/artifacts/<camera>/…``) and its reference spec."""
    from noscope_core.flows.apply_flow import TrainedCascade
    from pipelines.resources import ArtifactStore, CameraRegistry

    registry = CameraRegistry()
    try:
        cam = registry.get(camera_id)
    except QueryError as err:
        raise QueryError(
            f"{camera_id!r} is neither a cascade.json nor a camera of the registry {registry.resolved_path()}",
            err.hint,
        ) from None
    store = ArtifactStore()
    cascade_json = store.path(cam.camera_id, "optimized_cascade", "cascade.json")
    if not cascade_json.is_file():
        raise QueryError(
            f"camera {camera_id!r} has no trained cascade under {store.resolved_root()}",
            "materialize its assets in Dagster first (make demo does), or give a cascade.json",
        )
    trained = TrainedCascade.load(
        cascade_json,
        store.path(cam.camera_id, "specialized_models", "models"),
        store.path(cam.camera_id, "difference_detectors", "detectors"),
    )
    return trained, cam.reference


def run(args) -> int:
    from noscope_core.common.atomic import write_json
    from noscope_core.flows.apply_flow import apply_to_video
    from noscope_core.reference.detection_cache import home_detection_cache
    from noscope_core.reference.detectors import make_detector
    from noscope_core.video.probe import probe_video

    log = (lambda *_: None) if args.quiet else _log
    plan = plan_from_args(args)
    results = []
    for video in plan.videos:
        info = probe_video(video)
        spec = f"synthetic:{video}" if plan.reference_spec == "synthetic" else plan.reference_spec
        detector = make_detector(spec, reference_fps=plan.reference_fps, frame_size=(info.width, info.height))
        log(f"applying {plan.trained.cascade_json} to {video} ...")
        # the certificate's labels (and a declared reference's route) land in the file's detection cache: a killed
        # answer keeps them, a re-run reads them (still charged at the reference's measured or declared cost)
        cache = home_detection_cache(info.fingerprint, detector)
        result = apply_to_video(plan.trained, video, detector, certify=plan.certify, cache=cache, route_cache=True)
        log(f"      {result.certify_reason}")
        results.append(result)
        print(format_applied(result))
    if plan.json_out is not None:
        data = [r.to_dict() for r in results]
        write_json(plan.json_out, data[0] if len(data) == 1 else data)
    return 0


def format_applied(r) -> str:
    """The human summary of one applied video (a ``QueryResult`` whose segment is the whole video)."""
    from noscope_core.present.frontier import preview_intervals
    from noscope_core.present.units import fps, times

    art = r.artifact
    lines = [
        f"video            {r.video}  ({len(r.test_segment)} frames)",
        f"query            {art.query.describe()}  (reference {art.reference_name})",
        f"cascade          {art.best.config.describe()}" + ("  [reference on every frame]" if art.fell_back else ""),
        *([f"planned for it   {art.footage_choice.reason}"] if art.footage_choice is not None else []),
        f"speed-up         {times(r.speedup)} (decode excluded), {times(r.speedup_e2e)} end to end, certification "
        "included",
        f"reference        {fps(r.reference_fps)}  ({r.reference_timing})",
        *promise_lines(r, unmeasured="not measured (the certificate bounds it)"),
        f"intervals        {len(r.intervals)} positive: {preview_intervals(r.intervals)}",
    ]
    return "\n".join(lines)
