"""``noscope query VIDEO --object CLASS``: train, optimize and run a cascade, then print what it found.

The engine (``noscope_core.flows.query_flow``) does the work; this module parses the arguments into its options
and prints the summary.
"""

from __future__ import annotations

import sys
from pathlib import Path

from noscope_core.common.errors import QueryError
from noscope_core.present.units import fps, pct, times
from noscope_core.spec import camera as spec
from noscope_core.spec.query import ROI, Query, parse_split, parse_target


def register(subparsers) -> None:
    q = subparsers.add_parser("query", help="train, optimize and run a cascade for VIDEO and an object class")
    q.add_argument("video", type=Path)
    q.add_argument("--object", required=True, help="object class, e.g. person, car, bus")
    q.add_argument("--roi", default=None, help="region of interest X0,Y0,X1,Y1 as fractions (box centre inside)")
    q.add_argument(
        "--reference",
        default=spec.DEFAULT_REFERENCE,
        help="ssd-mobilenet-v3 | yolov3-tiny | onnx:PATH | detections:PATH | synthetic",
    )
    q.add_argument(
        "--reference-fps", type=float, default=None, help="declared reference speed (frames/s) instead of measuring it"
    )
    q.add_argument("--max-fnr", type=float, default=spec.DEFAULT_MAX_FNR)
    q.add_argument("--max-fpr", type=float, default=spec.DEFAULT_MAX_FPR)
    add_promise_arguments(q)
    q.add_argument(
        "--split",
        default=",".join(f"{f:g}" for f in spec.DEFAULT_SPLIT),
        help="TRAIN,THRESHOLD,TEST fractions in time order",
    )
    q.add_argument(
        "--blocks",
        default="auto",
        help="split each of N consecutive blocks train/threshold/test (1 = NoScope's split; auto: 1, or more "
        "when the object never comes and goes in the first train or threshold segment)",
    )
    q.add_argument(
        "--min-score", type=float, default=Query.min_score, help="reference confidence that counts as present"
    )
    q.add_argument(
        "--smooth", type=int, default=Query.smooth_frames, help="label smoothing window in frames (odd; 1 = off)"
    )
    q.add_argument(
        "--evaluate", action="store_true", help="also run the reference on every test frame and report FNR/FPR"
    )
    q.add_argument("--json", dest="json_out", type=Path, default=None, help="write the result as JSON here")
    q.add_argument(
        "--timeline",
        type=Path,
        default=None,
        metavar="OUT.png",
        help="draw the positive intervals over the video's time, a thumbnail per interval, into this PNG",
    )
    q.add_argument(
        "--clips",
        type=Path,
        default=None,
        metavar="OUT.mp4",
        help="cut the positive stretches into one short video for a quick review",
    )
    q.add_argument("--max-epochs", type=int, default=spec.DEFAULT_MAX_EPOCHS)
    q.add_argument(
        "--decodings",
        default="",
        metavar="LIST",
        help="cheaper decodings the optimizer may choose instead of the exact one, e.g. lr2,nlf (lrN: reduced "
        "resolution, nlf: no loop filter); each trains its own models, so training takes that many times longer",
    )
    q.add_argument("--quiet", action="store_true")
    q.set_defaults(func=run)


def add_promise_arguments(parser, confidence_help: str | None = None) -> None:
    """--confidence, --certify-budget, --certify-seed, --no-certify: shared by ``query`` and ``apply``."""
    parser.add_argument(
        "--confidence",
        default=str(spec.DEFAULT_CONFIDENCE),
        help=confidence_help
        or f"the targets are promises at this confidence (default {spec.DEFAULT_CONFIDENCE}: time-aware bounds on "
        "the threshold segment, and the answer certified on its own frames); none: NoScope's point rule",
    )
    parser.add_argument(
        "--certify-budget",
        type=int,
        default=None,
        metavar="N",
        help="cap the reference frames certification may spend on an answer; the answer may then end uncertified "
        "(default: no cap, the riskiest frames go to the reference until the answer is certified)",
    )
    parser.add_argument(
        "--certify-seed",
        type=int,
        default=None,
        metavar="N",
        help="fix the seed of certification's random draws, for tests (default: fresh randomness for every "
        "answer, the seed recorded in its certificate)",
    )
    parser.add_argument(
        "--no-certify", action="store_true", help="skip certifying the answer (it then carries no bound)"
    )


def run(args) -> int:
    from noscope_core.flows.query_flow import run_query_command

    opts = options_from_args(args)
    pictures = {
        "--timeline": (getattr(args, "timeline", None), ".png"),
        "--clips": (getattr(args, "clips", None), ".mp4"),
    }
    for flag, (path, suffix) in pictures.items():
        check_output_path(flag, path, suffix)
    result = run_query_command(opts, log=(lambda *_: None) if args.quiet else _log)
    print(format_summary(result))
    for line in write_pictures(result.result, args.timeline, args.clips):
        print(line)
    return 0


def check_output_path(flag: str, path: Path | None, suffix: str) -> None:
    """Refuse an output path that cannot be written before any work starts (minutes of decoding and training)."""
    from noscope_core.flows.query_flow import check_output_file

    if path is None:
        return
    path = Path(path)
    if not path.is_dir() and path.suffix.lower() != suffix:
        raise QueryError(f"{flag} {path} does not end in {suffix}", f"name the file out{suffix}")
    check_output_file(path, flag, example=f"out{suffix}")


def write_pictures(result, timeline: Path | None, clips: Path | None) -> list[str]:
    """The test segment's positive intervals as a timeline picture and/or a review reel; one line each."""
    from noscope_core.video.probe import probe_video

    if timeline is None and clips is None:
        return []
    info = probe_video(result.video)
    lines = []
    if timeline is not None:
        from noscope_core.present.timeline import timeline_picture

        seg = result.test_segment
        pic = timeline_picture(
            result.video,
            result.intervals,
            info.fps,
            timeline,
            n_frames=max(info.frame_count, seg.stop),  # a container may under-report its length
            title=f"{Path(result.video).name}: test segment, frames {seg.start}-{seg.stop - 1}",
        )
        lines.append(
            f"timeline         {pic.path} ({pic.n_intervals} intervals, {pic.n_thumbnails} thumbnails"
            + (", capped" if pic.capped else "")
            + ")"
        )
    if clips is not None:
        if not result.intervals:
            lines.append(f"clips            none written to {clips}: no positive frames")
        else:
            from noscope_core.present.clips import positive_clips

            reel = positive_clips(result.video, result.intervals, info.fps, clips)
            lines.append(
                f"clips            {reel.path} ({reel.n_stretches} of {reel.n_intervals} stretches, "
                f"{reel.duration_s:.1f} s)"
            )
    return lines


def options_from_args(args):
    from noscope_core.flows.query_flow import QueryOptions

    camera = spec.CameraSpec(
        video=Path(args.video),
        query=Query(args.object, ROI.parse(args.roi), args.min_score, args.smooth),
        reference=args.reference,
        reference_fps=args.reference_fps,
        targets=spec.Targets(
            max_fnr=parse_target("--max-fnr", args.max_fnr),
            max_fpr=parse_target("--max-fpr", args.max_fpr),
            confidence=spec.parse_confidence(args.confidence),
        ),
        split=spec.SplitSpec(parse_split(args.split), parse_blocks(args.blocks)),
        training=spec.TrainingOptions(max_epochs=args.max_epochs, decodings=getattr(args, "decodings", "")),
    )
    return QueryOptions(
        camera,
        evaluate=args.evaluate,
        json_out=args.json_out,
        certify=not args.no_certify,
        certify_budget=args.certify_budget,
        certify_seed=args.certify_seed,
    )


def parse_blocks(text: str | int | None) -> int | None:
    if text in (None, "", "auto"):
        return None
    try:
        value = int(text)
    except (TypeError, ValueError):
        value = 0
    if value < 1:
        raise QueryError(f"--blocks must be 'auto' or a positive integer, got {text!r}")
    return value


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def format_summary(answer) -> str:
    """The human summary of a ``noscope_core.flows.query_flow.QueryCommandResult``."""
    from noscope_core.present.frontier import preview_intervals

    r, art, dec = answer.result, answer.result.artifact, answer.decode
    seg = r.test_segment
    lines = [
        f"video            {r.video}",
        f"query            {art.query.describe()}  (reference {art.reference_name})",
        f"test frames      {len(seg)}  (frames {seg.start}-{seg.stop - 1})",
    ]
    if dec.damaged:
        lines.append(
            f"DAMAGED VIDEO    decoded {dec.frames} of {dec.frames_claimed} frames "
            f"({dec.frames_missing_at_end} missing at the end, {dec.corrupt_frames} corrupt)"
        )
    lines += [
        f"cascade          {art.best.config.describe()}" + (f"  [FELL BACK: {art.reason}]" if art.fell_back else ""),
        *([f"decoding         {art.decoding.describe(art.targets).removeprefix('decoding ')}"] if art.decoding else []),
        f"reference        {fps(r.reference_fps)}" + (f"  ({r.reference_timing})" if r.reference_timing else ""),
        f"cascade          {fps(r.cascade_fps)}  ->  speed-up {times(r.speedup)} (decode excluded)",
    ]
    if r.speedup_e2e is not None:
        lines.append(
            f"end to end       {fps(r.cascade_fps_e2e)}  ->  speed-up {times(r.speedup_e2e)} (decode included)"
        )
    lines.append(f"reference calls  {r.reference_calls} ({pct(r.reference_call_fraction)} of test frames)")
    lines += promise_lines(r)
    lines.append(f"intervals        {len(r.intervals)} positive: {preview_intervals(r.intervals)}")
    return "\n".join(lines)


def promise_lines(r, unmeasured: str = "not measured (add --evaluate)") -> list[str]:
    """Each bound beside the measured error, and plainly whether the promise holds (a ``QueryResult``)."""
    art, cert = r.artifact, r.certificate
    t = art.targets

    def cell(x: float | None) -> str:
        return f"{pct(x, missing='-'):>7}"

    conf = "point rule (no promise)" if t.confidence is None else f"at {t.confidence:g} confidence"
    lines = [
        f"                 {'FNR':>7} {'FPR':>7}",
        f"targets          {cell(t.max_fnr)} {cell(t.max_fpr)}  {conf}",
    ]
    if art.best.fnr_bound is not None:
        lines.append(
            f"estimate, thresh {cell(art.best.fnr_bound)} {cell(art.best.fpr_bound)}  "
            "(the optimizer's block bound on the threshold segment: guides the choice, promises nothing)"
        )
    if cert is not None:
        lines.append(
            f"bound, this test {cell(cert.fnr_bound)} {cell(cert.fpr_bound)}  (certified on the answer's frames)"
        )
    if r.fnr is not None:
        lines.append(f"measured vs ref  {cell(r.fnr)} {cell(r.fpr)}")
    else:
        lines.append(f"measured vs ref  {unmeasured}")
    if cert is not None:
        verdict = "PROMISE KEPT" if cert.certified else "PROMISE NOT MET"
        seed = "" if cert.seed is None else f"; draws seeded {cert.seed}"
        lines.append(
            f"certificate      {verdict}: {r.certify_reason} ({cert.frames_labelled:,} reference frames{seed})"
        )
    else:
        lines.append(f"certificate      NOT CERTIFIED: {r.certify_reason}")
    return lines
