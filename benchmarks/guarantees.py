"""``python -m benchmarks.guarantees [--quick] [--cases PATTERN]``: does the accuracy promise hold on new footage?

A grid of queries, each run exactly as ``noscope query --evaluate`` runs it (``run_query_command``), twice: under
the guarantees (confidence 0.95, the answer certified on its own footage) and under NoScope's point rule
(confidence none, no certification). Per case it reports the optimizer's promised bound, the certified bound,
the error measured against the reference on the test segment, whether it fell back and why, the certification's
cost, the speed-up (certification included) and whether a claim broke ("broken promise"; the goal is zero).

Cases: the default camera's four quadrants with both real references; synthetic cameras with a lighting step or a
nudged view after the threshold segment (and one without drift), with a short and a long threshold segment; the
long real-pixel camera (``$NOSCOPE_HOME/videos/vtest-long.mp4``) at several regions and targets, run only once
its reference labels are all in the detection cache (labelling an hour costs about an hour here).

Results: ``benchmarks/results/guarantees.json`` and ``.md``, rewritten (atomically) after every case and merged
with the cases already there, so a run cut short or a ``--cases`` subset keeps every measurement.
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import json
import os
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from benchmarks import harness
from benchmarks.guarantees_judge import extract, judge, shorten
from noscope_core.footage.synthetic.scene import SyntheticScene
from noscope_core.spec.camera import CameraSpec, SplitSpec, Targets, TrainingOptions
from noscope_core.spec.query import ROI, Query

RESULTS_DIR = harness.RESULTS_DIR
CONFIDENCE = 0.95
#: declared cost of the synthetic reference, as in the main benchmark (about a YOLO-class detector on a CPU)
SYNTHETIC_REFERENCE_MS = 50.0
#: the three specialized models that infer fastest: the family's cost dominates a grid of 20+ trainings
MODELS = ("c1-f16-d32-s2", "c1-f32-d32-s2", "c2-f32-d64-s2")
MAX_EPOCHS = 4
QUADRANTS = {
    "tl": ROI(0.0, 0.0, 0.5, 0.5),
    "tr": ROI(0.5, 0.0, 1.0, 0.5),
    "bl": ROI(0.0, 0.5, 0.5, 1.0),
    "br": ROI(0.5, 0.5, 1.0, 1.0),
}


@dataclass(frozen=True)
class SyntheticVideo:
    """A synthetic camera the grid writes (once) under ``$NOSCOPE_HOME/bench/guarantees/``."""

    name: str
    n_frames: int
    scene: SyntheticScene

    def path(self, home: Path) -> Path:
        return home / "bench" / "guarantees" / f"{self.name}-{self.n_frames}.avi"


@dataclass(frozen=True)
class Case:
    """One query of the grid: footage, question, reference, targets and split."""

    name: str
    group: str  # vtest | synthetic | long
    video: Path | None  # None: a synthetic video, written on first use
    query: Query
    reference: str
    max_fnr: float
    max_fpr: float
    split: SplitSpec = SplitSpec()
    reference_ms: float | None = None  # declared reference cost (None: measured)
    synthetic: SyntheticVideo | None = None
    description: str = ""

    def video_path(self, home: Path) -> Path:
        return self.synthetic.path(home) if self.synthetic else Path(self.video)

    def spec(self, home: Path, confidence: float | None, models, max_epochs: int) -> CameraSpec:
        return CameraSpec(
            video=self.video_path(home),
            query=self.query,
            camera_id=f"grid-{self.group}",
            reference=self.reference,
            reference_fps=1000.0 / self.reference_ms if self.reference_ms else None,
            targets=Targets(self.max_fnr, self.max_fpr, confidence),
            split=self.split,
            training=TrainingOptions(max_epochs, models=models),
        )

    def to_dict(self, home: Path) -> dict:
        return {
            "name": self.name,
            "group": self.group,
            "video": str(self.video_path(home)),
            "query": self.query.describe(),
            "reference": self.reference,
            "max_fnr": self.max_fnr,
            "max_fpr": self.max_fpr,
            "split": list(self.split.fractions),
            "split_blocks": self.split.blocks,
            "reference_declared_ms": self.reference_ms,
            "synthetic_scene": self.synthetic.scene.to_dict() if self.synthetic else None,
            "synthetic_frames": self.synthetic.n_frames if self.synthetic else None,
            "description": self.description,
        }


def _roi_text(roi: ROI | None) -> str:
    return ",".join(f"{v:g}" for v in roi.as_tuple()) if roi else "whole frame"


def _synthetic_cases(quick: bool) -> list[Case]:
    # Short runs of cars (1.5 s among 3 s gaps): evidence blocks stay short, so the long threshold segment holds
    # ~90 independent appearances: enough for a promise at 10 %, just short at 5 % (~93 needed) and far from
    # 1 % (~410), as docs/guarantees.md predicts.
    base = SyntheticScene(seed=11, mean_gap_s=3.0, mean_stay_s=1.5)
    if quick:
        base = dataclasses.replace(base, width=96, height=64)
        n, split, drift_at = 600, (0.5, 0.25, 0.25), 450
        videos = [
            ("quick-none", base),
            ("quick-light", dataclasses.replace(base, drift_frame=drift_at, drift_gain=1.6)),
        ]
        return [
            Case(
                f"synthetic-{name}-10%",
                "synthetic",
                None,
                Query("car"),
                "synthetic",
                0.1,
                0.1,
                SplitSpec(split, blocks=1),
                SYNTHETIC_REFERENCE_MS,
                SyntheticVideo(name, n, scene),
                "tiny smoke camera",
            )
            for name, scene in videos
        ]
    out: list[Case] = []
    # (video length, split, drift frame): a short threshold segment as NoScope uses, and a long one
    plans = {
        "short": (4_000, (0.5, 0.25, 0.25), 3_000),
        "long": (10_000, (0.15, 0.55, 0.3), 7_000),
    }
    drifts = {
        "none": {},
        "light": {"drift_gain": 1.6},  # a lighting step: 60 % brighter from the test segment on
        "shift": {"drift_shift_px": (24, 12)},  # the camera nudged by 24 px right, 12 px down
    }
    grid = [
        ("short", "light", (0.01,)),
        ("short", "shift", (0.01,)),
        ("long", "none", (0.01, 0.05, 0.1)),
        ("long", "light", (0.01, 0.05, 0.1)),
        ("long", "shift", (0.01, 0.05, 0.1)),
    ]
    for plan, drift, targets in grid:
        n, split, drift_at = plans[plan]
        scene = dataclasses.replace(base, drift_frame=drift_at, **drifts[drift]) if drifts[drift] else base
        video = SyntheticVideo(f"{drift}-seed{base.seed}", n, scene)
        what = "no drift" if drift == "none" else f"{drift} drift from frame {drift_at:,} (the test segment)"
        for t in targets:
            out.append(
                Case(
                    f"synthetic-{plan}-{drift}-{t:.0%}",
                    "synthetic",
                    None,
                    Query("car"),
                    "synthetic",
                    t,
                    t,
                    SplitSpec(split, blocks=1),  # consecutive: the drift lands in the test segment only
                    SYNTHETIC_REFERENCE_MS,
                    video,
                    f"synthetic street, {n:,} frames, split {split}, {what}",
                )
            )
    return out


def all_cases(home: Path, quick: bool = False) -> list[Case]:
    """The grid, in the order it runs: default camera, synthetic, long camera (whose labels cost the most)."""
    if quick:
        return _synthetic_cases(quick=True)
    vtest = home / "videos" / "vtest.avi"
    out = [
        Case(
            f"vtest-{ref_short}-{q}",
            "vtest",
            vtest,
            Query("person", roi),
            ref,
            0.01,
            0.01,
            description=f"default camera, person in {_roi_text(roi)}, {ref} reference",
        )
        for ref, ref_short in (("ssd-mobilenet-v3", "ssd"), ("yolov3-tiny", "yolo"))
        for q, roi in QUADRANTS.items()
    ]
    out += _synthetic_cases(quick=False)
    long_video = home / "videos" / "vtest-long.mp4"
    # the bottom-left quadrant first: the region `make demo` and the long camera's docs ask
    long_regions = [("bl", QUADRANTS["bl"], 0.01), ("bl", QUADRANTS["bl"], 0.05)]
    long_regions += [(q, QUADRANTS[q], 0.01) for q in ("tl", "tr", "br")]
    long_regions += [("bottom", ROI(0.0, 0.5, 1.0, 1.0), 0.01)]
    out += [
        Case(
            f"long-{q}-{t:.0%}",
            "long",
            long_video,
            Query("person", roi),
            "ssd-mobilenet-v3",
            t,
            t,
            description=f"long real-pixel camera (one hour), person in {_roi_text(roi)}, SSD reference",
        )
        for q, roi, t in long_regions
    ]
    return out


def select(cases: list[Case], pattern: str | None) -> list[Case]:
    """Cases whose name matches any of the comma-separated shell patterns (``vtest-*,long-bl-*``)."""
    if not pattern:
        return cases
    pats = [p.strip() for p in pattern.split(",") if p.strip()]
    return [c for c in cases if any(fnmatch.fnmatchcase(c.name, p) for p in pats)]


def ensure_video(case: Case, home: Path, log) -> str | None:
    """Write a synthetic case's video if missing; the reason a case cannot run, or None."""
    from noscope_core.footage.synthetic.write import write_synthetic_video
    from noscope_core.reference.synthetic_truth import truth_path

    video = case.video_path(home)
    if case.synthetic:
        if not (video.is_file() and truth_path(video).is_file()):
            video.parent.mkdir(parents=True, exist_ok=True)
            log(f"  writing {video} ({case.synthetic.n_frames:,} frames) ...")
            write_synthetic_video(video, case.synthetic.n_frames, case.synthetic.scene)
        return None
    if not video.is_file():
        return f"{video} is missing (default camera: `noscope fetch`; long camera: see docs/long_camera.md)"
    return None


def labels_missing(case: Case, home: Path) -> tuple[int, int]:
    """(frames without cached reference detections, frames in the video) for a case's reference and video."""
    from noscope_core.flows.stages import open_reference
    from noscope_core.reference.detection_cache import DetectionCache
    from noscope_core.video.probe import probe_video

    spec = case.spec(home, None, None, 1)
    info = probe_video(spec.video)
    detector = open_reference(spec, frame_size=(info.width, info.height))
    cache = DetectionCache(home / "cache" / "detections", info.fingerprint, detector.identity())
    return len(cache.missing(range(info.frame_count))), int(info.frame_count)


def _options(spec: CameraSpec, certify: bool, budget: int | None, work_root: Path | None):
    """QueryOptions for one run; certification options only where the engine has them (older engines lack them)."""
    from noscope_core.flows.query_flow import QueryOptions

    names = {f.name for f in dataclasses.fields(QueryOptions)}
    kw = {}
    if "certify" in names:
        kw["certify"] = certify
    if certify and budget is not None and "certify_budget" in names:
        kw["certify_budget"] = budget
    return QueryOptions(spec=spec, evaluate=True, work_root=work_root, **kw)


def run_one(case: Case, rule: str, args, home: Path, log) -> dict:
    """One query of ``case`` under ``rule`` ("guarded": confidence + certification; "point": NoScope's rule)."""
    from noscope_core.flows.query_flow import run_query_command

    confidence = CONFIDENCE if rule == "guarded" else None
    spec = case.spec(home, confidence, args.models, args.max_epochs)
    opts = _options(spec, certify=rule == "guarded", budget=args.certify_budget, work_root=args.work_root)
    t0 = time.perf_counter()
    try:
        data = run_query_command(opts, log=lambda m: log(f"    {m}")).to_dict()
    except Exception as err:  # noqa: BLE001 - one failing run must not lose the grid's other measurements
        log(traceback.format_exc())
        return {"error": f"{type(err).__name__}: {shorten(str(err), 300)}", "seconds": time.perf_counter() - t0}
    run = extract(data)  # reasons kept whole here; the table shortens them
    run["seconds"] = time.perf_counter() - t0
    run["engine_certifies"] = "certified" in data
    run.update(judge(run, case.max_fnr, case.max_fpr))
    return run


def run_case(case: Case, args, home: Path, log) -> dict:
    out: dict = {"case": case.to_dict(home), "date_utc": _now()}
    reason = ensure_video(case, home, log)
    if reason is None and case.group == "long" and not args.allow_labelling:
        missing, total = labels_missing(case, home)
        if missing:
            reason = (
                f"reference labels incomplete: {missing:,} of {total:,} frames not in the detection cache "
                "(labelling them here would cost about an hour per hour of footage; rerun when the cache is "
                "complete, or pass --allow-labelling)"
            )
    if reason:
        out["skipped"] = reason
        return out
    for rule in args.rules:
        log(f"  {rule} ...")
        out[rule] = run_one(case, rule, args, home, log)
    return out


def _now() -> str:
    return harness.now_utc()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = harness.parser("benchmarks.guarantees", __doc__)
    p.add_argument("--quick", action="store_true", help="two tiny synthetic cases (a smoke run)")
    p.add_argument("--cases", default=None, help="comma list of shell patterns of case names, e.g. 'vtest-*'")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("--render", action="store_true", help="measure nothing: rewrite the table from the results file")
    p.add_argument("--merge", action="append", default=[], help="also take the cases of this results file (repeat)")
    p.add_argument("--rules", default="guarded,point", help="guarded (0.95 + certification) and/or point")
    p.add_argument("--max-epochs", type=int, default=None, help=f"default {MAX_EPOCHS}, quick 1")
    p.add_argument("--models", default=None, help=f"comma list of model variants (default {','.join(MODELS)})")
    p.add_argument("--certify-budget", type=int, default=None, help="reference frames for certification")
    p.add_argument("--allow-labelling", action="store_true", help="run long-camera cases on an incomplete cache")
    p.add_argument("--stop-after-min", type=float, default=None, help="start no new case after this many minutes")
    p.add_argument("--fresh", action="store_true", help="drop the cases already in the results file")
    p.add_argument("--note", default=None, help="a line for the table, e.g. which engine branch this measured")
    p.add_argument("--name", default=None, help="results file name (default guarantees, or guarantees-quick)")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    p.add_argument("--work-root", type=Path, default=None, help="where stages cache their work (default $NOSCOPE_HOME)")
    args = p.parse_args(argv)
    args.rules = [r.strip() for r in args.rules.split(",") if r.strip()]
    if not args.rules or any(r not in ("guarded", "point") for r in args.rules):
        p.error("--rules: choose from guarded, point")
    if args.max_epochs is None:
        args.max_epochs = 1 if args.quick else MAX_EPOCHS
    if args.models:
        args.models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    else:
        args.models = MODELS[:1] if args.quick else MODELS
    args.name = args.name or ("guarantees-quick" if args.quick else "guarantees")
    return args


def main(argv: list[str] | None = None) -> int:
    from benchmarks.guarantees_table import render, summarize
    from noscope_core.common.atomic import write_json, write_text
    from noscope_core.common.paths import noscope_home

    args = parse_args(argv)
    home = noscope_home()
    cases = select(all_cases(home, args.quick), args.cases)
    if args.list or not cases:
        for c in cases:
            print(f"{c.name:32s} {c.description}")
        if not cases:
            print(f"no case matches {args.cases!r}", file=sys.stderr)
        return 0 if cases else 2
    json_path = args.results_dir / f"{args.name}.json"
    md_path = args.results_dir / f"{args.name}.md"
    result = {"cases": {}}
    if json_path.is_file() and not args.fresh:
        result = json.loads(json_path.read_text())
    for extra in args.merge:  # cases measured by another run under another --name
        result.setdefault("cases", {}).update(json.loads(Path(extra).read_text()).get("cases", {}))
    if args.render:
        summarize(result)
        write_json(json_path, result)
        write_text(md_path, render(result))
        print(render(result))
        return 0
    from benchmarks.run import _git_commit

    result["meta"] = {
        "name": args.name,
        "date_utc": _now(),
        "git_commit": _git_commit(),
        "note": args.note,
        "confidence": CONFIDENCE,
        "rules": args.rules,
        "max_epochs": args.max_epochs,
        "models": list(args.models),
        "certify_budget": args.certify_budget,
        "machine": f"{os.cpu_count()} CPU cores",
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }

    def log(msg: str) -> None:
        print(msg, flush=True)

    t_start = time.perf_counter()
    ran: set[str] = set()
    for i, case in enumerate(cases):
        if args.stop_after_min is not None and time.perf_counter() - t_start > 60 * args.stop_after_min:
            log(f"out of time: {len(cases) - i} case(s) not started")
            for c in cases[i:]:
                result["cases"].setdefault(c.name, {"case": c.to_dict(home), "skipped": "not run: out of time"})
            break
        log(f"[{i + 1}/{len(cases)}] {case.name}: {case.description}")
        t0 = time.perf_counter()
        done = run_case(case, args, home, log)
        done["seconds"] = time.perf_counter() - t0
        result["cases"][case.name] = done
        ran.add(case.name)
        _save(result, json_path, md_path, ran, keep_others=not args.fresh)
    result["meta"]["load_after"] = [round(x, 2) for x in os.getloadavg()]
    _save(result, json_path, md_path, ran, keep_others=not args.fresh)
    print(md_path.read_text())
    return 0


def _save(result: dict, json_path: Path, md_path: Path, fresh_cases: set[str], keep_others: bool = True) -> None:
    """Write the results; ``keep_others``: keep the cases another run (``--cases`` in a second process) wrote."""
    from benchmarks.guarantees_table import render, summarize
    from noscope_core.common.atomic import write_json, write_text

    if keep_others and json_path.is_file():
        on_disk = json.loads(json_path.read_text()).get("cases", {})
        for name, case in on_disk.items():
            if name not in fresh_cases:
                result["cases"][name] = case
    summarize(result)
    write_json(json_path, result)
    write_text(md_path, render(result))


if __name__ == "__main__":
    sys.exit(main())
