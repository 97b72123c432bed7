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
        "--hour",
        default="1",
        help="which hour(s) of the camera, K or A-B (default 1): hour K > 1 continues the camera -- the same scene "
        "with a seed derived from (seed, K), written as NAME-hK; hour 1 is NAME itself",
    )
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


def output_path(name: str, hour: int = 1) -> Path:
    """A bare name goes to ``$NOSCOPE_HOME/videos/NAME.mp4``; anything with a suffix or a folder is a path.
    Hour K > 1 of the camera goes beside it as ``NAME-hK`` (same suffix)."""
    from noscope_core.common.paths import safe_name, videos_dir
    from noscope_core.footage.composite.make import hour_path

    path = Path(name).expanduser()
    if not (path.suffix or len(path.parts) > 1):
        path = videos_dir() / f"{safe_name(name, 'camera name')}.mp4"
    return hour_path(path, hour)


def parse_hours(text: str) -> list[int]:
    """``"3"`` -> [3]; ``"2-7"`` -> [2, ..., 7]; anything else is a one-line error."""
    from noscope_core.common.errors import QueryError

    a, sep, b = text.strip().partition("-")
    try:
        first, last = int(a), int(b) if sep else int(a)
    except ValueError:
        raise QueryError(f"--hour must be K or A-B (e.g. 2-7), got {text!r}") from None
    if not 1 <= first <= last:
        raise QueryError(f"--hour {text!r}: hours count from 1 and A-B needs A <= B", hint="e.g. --hour 2-7")
    return list(range(first, last + 1))


def run(args) -> int:
    import dataclasses

    from noscope_core.footage.composite import LongCameraSpec
    from noscope_core.footage.composite.drift import DriftSpec, parse_drift
    from noscope_core.footage.composite.make import hour_seed
    from noscope_core.footage.composite.scene import SceneSpec

    scene = SceneSpec()
    if args.peak_groups_per_min is not None:
        scene = dataclasses.replace(scene, peak_groups_per_min=args.peak_groups_per_min)
    base = LongCameraSpec(
        seconds=args.seconds,
        fps=args.fps,
        seed=args.seed,
        drift=DriftSpec(parse_drift(args.drift), start_fraction=args.drift_start),
        scene=scene,
        source=str(args.source) if args.source else None,
    )
    for hour in parse_hours(args.hour):
        spec = dataclasses.replace(base, seed=hour_seed(args.seed, hour))
        _make_one(spec, output_path(args.name, hour), args.force, f"hour {hour}: " if hour > 1 else "")
    return 0


def _make_one(spec, out: Path, force: bool, label: str) -> None:
    from noscope_core.footage.composite import existing_camera, make_long_camera

    if not force and (truth := existing_camera(spec, out)) is not None:
        print(
            f"{label}{out}: up to date ({truth.n_frames} frames at {truth.fps:g} fps, same options); "
            "--force makes it again"
        )
        return

    def progress(stage: str, done: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\r{stage}: {done}/{total} frames", end="", file=sys.stderr, flush=True)

    result = make_long_camera(spec, out, progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(
        f"{label}{result.video_path}: {result.n_frames} frames at {result.fps:g} fps ({result.codec}), "
        f"{result.n_objects} objects from {result.source_tracks} source tracks; "
        f"rendered at {result.render_fps:.0f} frames/s (seed {spec.seed})",
        flush=True,
    )
    print(f"placement truth: {result.truth_path}", flush=True)
