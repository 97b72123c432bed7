"""``python -m benchmarks.stream_memory CASCADE SHORT LONG``: does a cascade's answer stream in constant memory?

Peak RSS of one cascade's run (decode included, the keyframe-first plan when the cascade has one) over a short and a
long video, each in a fresh child process (``wait4``'s ``ru_maxrss``), with the C heap's mmap threshold pinned as
the engine pins it (``noscope_core.common.memory``) and, side by side in the same run, without it.

The reference is a stand-in so that the figure is the executor's, not the detector's, and the run takes minutes:
it needs pixels (every frame sent to it is re-decoded at full resolution, as for SSD), answers ``--boxes``
detections per frame at no cost, and goes through the real per-video detection cache (a temporary one), as
``noscope apply``'s reference route does. The cascade is run as planned (never re-planned for the video's length),
so both lengths run the same stages. Goal (issue 21): the long run's peak within 10 % of the short one's.

Example (the composited camera, hour 2 against hours 2-7 joined by ``benchmarks.certified_hours``)::

    python -m benchmarks.stream_memory .noscope/artifacts/vtest-long/optimized_cascade/cascade.json \\
        ~/.cache/noscope/videos/vtest-long-h2.mp4 ~/.cache/noscope/videos/vtest-long-h2-7.mp4 \\
        --models .noscope/artifacts/vtest-long/specialized_models/models \\
        --difference .noscope/artifacts/vtest-long/difference_detectors/detectors
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import harness

NAME = "stream_memory"
#: the goal: the long video's peak RSS within this share of the short one's
GOAL = 0.10
VARIANTS = ("pinned", "unpinned")


def parse_args(argv=None) -> argparse.Namespace:
    p = harness.parser("benchmarks.stream_memory", __doc__)
    p.add_argument("cascade", type=Path, help="a cascade.json")
    p.add_argument("short", type=Path, help="the short video")
    p.add_argument("long", type=Path, help="the long video (the same camera)")
    p.add_argument("--models", type=Path, default=None, help="specialized models folder (default: beside cascade)")
    p.add_argument("--difference", type=Path, default=None, help="difference detectors folder")
    p.add_argument("--boxes", type=int, default=20, help="detections the stand-in reference answers per frame")
    p.add_argument("--variants", default=",".join(VARIANTS), help="pinned, unpinned or both (comma-separated)")
    p.add_argument("--results-dir", type=Path, default=harness.RESULTS_DIR)
    p.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)  # one run, in this process
    p.add_argument("--video", type=Path, help=argparse.SUPPRESS)
    return p.parse_args(argv)


class StandInReference:
    """Stands in for the reference the cascade was optimized with (its name and identity, so the cascade loads):
    needs pixels, costs nothing, answers ``boxes`` deterministic detections per frame."""

    needs_pixels = True
    declared_cost_ms = 70.0
    cost_ms_per_frame = 70.0
    class_names = ("person",)

    def __init__(self, boxes: int, name: str, identity: str) -> None:
        self.boxes, self.name, self._identity = boxes, name, identity

    def identity(self) -> str:
        return self._identity

    def detect(self, frames, frame_indices) -> list:
        from noscope_core.reference.detection import Detection

        if len(frames) != len(frame_indices):
            raise ValueError(f"{len(frames)} frames for {len(frame_indices)} indices")
        out = []
        for i in frame_indices:
            u = (int(i) * 7919) % 1000 / 1000.0
            out.append([Detection("person", 0.3 + 0.7 * u, 0.01 * k, u / 2, 0.1, 0.2) for k in range(self.boxes)])
        return out


def child(args: argparse.Namespace) -> dict:
    """One run in this process: the cascade over ``args.video``; its counts and seconds (RSS: the parent's)."""
    import time

    import noscope_core.cascade.execute as execute
    import noscope_core.cascade.keyframe_run as keyframe_run
    from noscope_core.flows.apply_flow import TrainedCascade
    from noscope_core.reference.detection_cache import CachedDetector, DetectionCache
    from noscope_core.video.probe import probe_video

    if args.child == "unpinned":  # the executor as it was: glibc's adaptive threshold, no trim
        for module in (execute, keyframe_run):
            module.streaming_allocator = lambda: False
            module.release_free_memory = lambda: None
    trained = TrainedCascade.load(args.cascade, args.models, args.difference)
    info = probe_video(args.video)
    with tempfile.TemporaryDirectory(prefix="stream-memory-") as tmp:
        art = trained.artifact
        reference = StandInReference(args.boxes, art.reference_name, art.reference_identity)
        cache = DetectionCache(tmp, info.fingerprint, f"stand-in|boxes={args.boxes}")
        cascade = trained.cascade_for(CachedDetector(reference, cache), trained.artifact)
        t0 = time.perf_counter()
        run = keyframe_run.run_plan(cascade, trained.artifact.keyframe_plan, args.video)
        seconds = time.perf_counter() - t0
    return {
        "frames": len(run.frame_index),
        "reference_frames": int(run.reference_calls),
        "seconds": round(seconds, 1),
        "plan": run.plan,
    }


def run_child(args: argparse.Namespace, variant: str, video: Path) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.stream_memory", str(args.cascade), str(args.short), str(args.long)]
    cmd += ["--child", variant, "--video", str(video), "--boxes", str(args.boxes)]
    if args.models:
        cmd += ["--models", str(args.models)]
    if args.difference:
        cmd += ["--difference", str(args.difference)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the {variant} run over {video} failed (exit {os.waitstatus_to_exitcode(status)})")
    row = json.loads(out.strip().splitlines()[-1])
    return {"variant": variant, "video": str(video), **row, "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}


def render(result: dict) -> str:
    lines = [
        "# Does the answer stream? Peak RSS over a short and a long video",
        "",
        f"Measured {result['meta']['date_utc']} on {result['meta']['machine']}, commit {result['meta']['commit']}: "
        f"`{result['meta']['cascade']}`, a stand-in reference answering {result['meta']['boxes']} boxes per frame "
        "through the detection cache (`python -m benchmarks.stream_memory`). Goal: the long run's peak within "
        f"{GOAL:.0%} of the short one's.",
        "",
        "| C heap | short: frames | to the reference | peak RSS | long: frames | to the reference | peak RSS "
        "| ratio | seconds (short / long) | goal met |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for v in result["variants"]:
        s, l_ = v["short"], v["long"]
        lines.append(
            f"| {v['variant']} | {s['frames']:,} | {s['reference_frames']:,} | {s['peak_rss_mib']:,.0f} MiB "
            f"| {l_['frames']:,} | {l_['reference_frames']:,} | {l_['peak_rss_mib']:,.0f} MiB | {v['ratio']:.2f} "
            f"| {s['seconds']:g} / {l_['seconds']:g} | {'yes' if v['met'] else 'no'} |"
        )
    lines += ["", f"Plan: {result['variants'][0]['short']['plan']}.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args)), flush=True)
        return 0
    from benchmarks.run import _git_commit

    for path in (args.cascade, args.short, args.long):
        if not path.is_file():
            raise SystemExit(f"{path} does not exist")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if bad := [v for v in variants if v not in VARIANTS]:
        raise SystemExit(f"unknown variant(s) {', '.join(bad)}: choose from {', '.join(VARIANTS)}")
    result: dict = {
        "meta": {
            "date_utc": harness.now_utc(),
            "machine": harness.machine(),
            "commit": _git_commit(),
            "cascade": str(args.cascade),
            "boxes": args.boxes,
        },
        "variants": [],
    }
    for variant in variants:
        short = run_child(args, variant, args.short)
        long = run_child(args, variant, args.long)
        ratio = long["peak_rss_mib"] / short["peak_rss_mib"]
        row = {"variant": variant, "short": short, "long": long, "ratio": round(ratio, 3)}
        row["met"] = abs(ratio - 1) <= GOAL
        result["variants"].append(row)
        print(
            f"{variant}: {short['peak_rss_mib']:.0f} MiB -> {long['peak_rss_mib']:.0f} MiB ({ratio:.2f}x)", flush=True
        )
    harness.publish(args.results_dir, NAME, result, render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
