"""``noscope labels export|import``: a video's reference labels as a small file that can ship with the project.

``export`` writes the detection cache's detections of a video (every frame must be labelled; ``--label`` runs the
detector on the missing ones first, resumably) into a compressed pack with the video's fingerprint and the
detector's identity. ``import`` checks a pack against the video (fingerprint, detector, and the detector run live
on a fresh random sample of frames) and adds it to the detection cache; a pack that fails the check is ignored with
a one-line warning, and the frames are then labelled live when needed (``--strict`` makes that an error). The
engine is ``noscope_core.reference.label_pack``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from noscope_core.common.errors import ArtifactError, QueryError

#: where the project ships its packs (``make demo`` imports the registry cameras' packs from here)
PACK_DIR = Path(__file__).resolve().parent.parent / "data" / "labels"


def register(subparsers) -> None:
    p = subparsers.add_parser("labels", help="export or import (verified) a video's reference labels as a small file")
    sub = p.add_subparsers(dest="labels_command", required=True)
    e = sub.add_parser("export", help="write a video's cached reference detections into a label pack")
    e.add_argument("video", type=Path, help="the video whose every frame is in the detection cache")
    e.add_argument("-o", "--out", type=Path, default=None, help=f"the pack (default: {PACK_DIR}/VIDEO.REFERENCE.npz)")
    e.add_argument("--reference", default="ssd-mobilenet-v3", help="the detector whose detections to export")
    e.add_argument(
        "--min-score", type=float, default=None, help="keep the detections scoring at least this (default 0.5)"
    )
    e.add_argument(
        "--label",
        action="store_true",
        help="first run the detector on the frames the cache lacks (resumable: a killed run keeps what it labelled)",
    )
    e.set_defaults(func=run_export)
    i = sub.add_parser("import", help="check a label pack against its video (live sample) and add it to the cache")
    i.add_argument("pack", type=Path)
    where = i.add_mutually_exclusive_group()
    where.add_argument("--video", type=Path, default=None, help="the video (default: $NOSCOPE_HOME/videos/<its name>)")
    where.add_argument("--camera", default=None, help="a camera of the registry: its training video and reference")
    i.add_argument(
        "--sample", type=int, default=None, help="frames the detector labels live to check the pack (default 24)"
    )
    i.add_argument("--seed", type=int, default=None, help="the live sample's seed (default: fresh each time)")
    i.add_argument("--strict", action="store_true", help="a pack that fails its check is an error, not a warning")
    i.set_defaults(func=run_import)


def run_export(args) -> int:
    from noscope_core.reference.detection_cache import home_detection_cache
    from noscope_core.reference.detectors.factory import make_detector
    from noscope_core.reference.label_pack import DEFAULT_MIN_SCORE, pack_from_cache, write_pack
    from noscope_core.video.probe import probe_video

    video = _existing_video(args.video)
    info = probe_video(video)
    detector = make_detector(args.reference, video_path=video)
    cache = home_detection_cache(info.fingerprint, detector)
    min_score = DEFAULT_MIN_SCORE if args.min_score is None else args.min_score
    if not 0.0 <= min_score <= 1.0:
        raise QueryError(f"--min-score must lie in [0, 1], got {min_score}")
    missing = cache.missing(range(info.frame_count))
    if missing and args.label:
        from noscope_core.reference.detect import run_reference

        print(f"labelling {len(missing):,} of {info.frame_count:,} frames of {video.name} with {detector.name} ...")
        run_reference(video, detector, missing, cache=cache, progress=True)
    elif missing:
        raise QueryError(
            f"{len(missing):,} of the {info.frame_count:,} frames of {video.name} are not in the detection cache",
            "add --label to run the detector on them first",
        )
    pack = pack_from_cache(cache, range(info.frame_count), video.name, info.frame_count, detector.name, min_score)
    out = args.out or PACK_DIR / f"{video.stem}.{detector.name}.npz"
    write_pack(pack, out)
    print(
        f"{out}: {len(pack.frames)} frames, {len(pack.owner)} detections scoring >= {min_score:g} of {video.name} "
        f"by {detector.name} "
        f"({out.stat().st_size / 1024:.0f} KiB)"
    )
    return 0


def run_import(args) -> int:
    from noscope_core.common.paths import cache_dir, videos_dir
    from noscope_core.reference.detectors.factory import make_detector
    from noscope_core.reference.label_pack import DEFAULT_SAMPLE_FRAMES, import_verified, read_pack

    pack = read_pack(args.pack)
    sample = DEFAULT_SAMPLE_FRAMES if args.sample is None else args.sample
    if sample < 1:
        raise QueryError(f"--sample must be at least 1, got {sample}", "a pack is never imported unchecked")
    if args.camera:
        from noscope_core.flows.stages import open_reference
        from pipelines.resources import CameraRegistry

        cam = CameraRegistry().get(args.camera)
        video = _existing_video(cam.video)
        detector = open_reference(cam, video=video)
        min_score = cam.query.min_score
    else:
        video = _existing_video(args.video or videos_dir() / pack.video_name)
        detector = make_detector(pack.detector_name, video_path=video)
        min_score = None
    done = import_verified(args.pack, video, detector, cache_dir() / "detections", sample, args.seed, min_score)
    check = done.check
    if not check.ok:
        message = f"label pack {args.pack.name} refused for {video.name}: {check.reason}"
        if args.strict:
            raise ArtifactError(message, "make the pack again with `noscope labels export` from this video")
        print(f"noscope: warning: {message}; ignored, its frames will be labelled live", file=sys.stderr)
        return 0
    cost = (
        f", {detector.name} measured at {1000.0 / check.cost_ms_per_frame:.1f} frames/s"
        if check.cost_ms_per_frame
        else ""
    )
    print(
        f"label pack {args.pack.name}: {len(pack.frames)} frames of {video.name} by {detector.name}, "
        f"{check.reason} (seed {check.seed}){cost}; {done.frames_imported} frames added to the detection cache"
    )
    return 0


def _existing_video(path: Path) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise QueryError(f"video file not found: {path}", "make or fetch it first (e.g. noscope make-camera NAME)")
    return path
