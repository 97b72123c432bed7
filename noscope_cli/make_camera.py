"""``noscope make-camera``: a long fixed camera composited from a short real one (default: vtest.avi)."""

from __future__ import annotations

import sys
from pathlib import Path


def register(subparsers) -> None:
    from noscope_core.footage.composite.drift import DRIFT_CHOICES

    p = subparsers.add_parser(
        "make-camera",
        help="composite a long fixed-camera video from vtest.avi's background and people",
        description="Writes NAME.mp4 and NAME.truth.npz (the placement truth) under $NOSCOPE_HOME/videos, "
        "or at the path given. The people are cut out of the source once (SSD pass, cached). A camera already "
        "made with the same options is left as it is (--force makes it again).",
    )
    p.add_argument("name", nargs="?", default="vtest-long", help="camera name or output path (.mp4 or .avi)")
    p.add_argument("--seconds", type=float, default=3600.0, help="length in seconds (default 3600)")
    p.add_argument("--fps", type=float, default=10.0, help="frames per second (default 10, the source's)")
    p.add_argument("--seed", type=int, default=0, help="random seed: equal seeds give equal videos")
    p.add_argument(
        "--drift",
        default="",
        help=f"comma-separated drift variants starting half-way: {', '.join(DRIFT_CHOICES)}",
    )
    p.add_argument("--drift-start", type=float, default=0.5, help="share of the video after which drift starts")
    p.add_argument("--source", type=Path, help="the short real camera to cut from (default: vtest.avi)")
    p.add_argument("--peak-groups-per-min", type=float, default=None, help="arrivals at the busiest hour")
    p.add_argument("--force", action="store_true", help="make it again even if it exists with the same options")
    p.set_defaults(func=run)


def output_path(name: str) -> Path:
    """A bare name goes to ``$NOSCOPE_HOME/videos/NAME.mp4``; anything with a suffix or a folder is a path."""
    from noscope_core.common.paths import safe_name, videos_dir

    path = Path(name).expanduser()
    if path.suffix or len(path.parts) > 1:
        return path
    return videos_dir() / f"{safe_name(name, 'camera name')}.mp4"


def run(args) -> int:
    import dataclasses

    from noscope_core.footage.composite import LongCameraSpec, existing_camera, make_long_camera
    from noscope_core.footage.composite.drift import DriftSpec, parse_drift
    from noscope_core.footage.composite.scene import SceneSpec

    scene = SceneSpec()
    if args.peak_groups_per_min is not None:
        scene = dataclasses.replace(scene, peak_groups_per_min=args.peak_groups_per_min)
    spec = LongCameraSpec(
        seconds=args.seconds,
        fps=args.fps,
        seed=args.seed,
        drift=DriftSpec(parse_drift(args.drift), start_fraction=args.drift_start),
        scene=scene,
        source=str(args.source) if args.source else None,
    )
    out = output_path(args.name)
    if not args.force and (truth := existing_camera(spec, out)) is not None:
        print(f"{out}: up to date ({truth.n_frames} frames at {truth.fps:g} fps, same options); --force makes it again")
        return 0

    def progress(stage: str, done: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\r{stage}: {done}/{total} frames", end="", file=sys.stderr, flush=True)

    result = make_long_camera(spec, out, progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(
        f"{result.video_path}: {result.n_frames} frames at {result.fps:g} fps ({result.codec}), "
        f"{result.n_objects} objects from {result.source_tracks} source tracks; "
        f"rendered at {result.render_fps:.0f} frames/s"
    )
    print(f"placement truth: {result.truth_path}")
    return 0
