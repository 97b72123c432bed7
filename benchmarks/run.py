"""``python -m benchmarks.run [--quick] [--only NAME[,NAME]] [--long-frames N]``: the benchmark, in one process.

For each camera (the real default camera, the hour composited from its people, and a long synthetic one) it
prepares a cascade exactly as ``noscope query`` does, then runs on the same test segment at the same targets:
the reference on every frame, frame skipping, a MOG2 motion gate, and the cascade. It also measures the decode limit, each stage on its own,
and peak memory at two video lengths. Results: ``benchmarks/results/<name>.json`` and ``<name>.md``.

``--only`` takes cameras (vtest, vtest-long, synthetic) and/or sections (methods, limits, stages, memory); methods
always run for a selected camera because the other sections compare against them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import harness
from noscope_core.common.errors import QueryError
from noscope_core.guarantees.certify_answer import CertifyOptions
from noscope_core.present.units import pct, times
from noscope_core.spec.camera import (
    DEFAULT_CONFIDENCE,
    DEFAULT_MAX_EPOCHS,
    DEFAULT_MAX_FNR,
    DEFAULT_MAX_FPR,
    parse_confidence,
)

CAMERAS = ("vtest", "vtest-long", "synthetic")
SECTIONS = ("methods", "limits", "stages", "memory")
RESULTS_DIR = harness.RESULTS_DIR


def _confidence(value: str) -> float | None:
    try:
        return parse_confidence(value)
    except QueryError as err:  # argparse prints it as a usage error
        raise argparse.ArgumentTypeError(str(err)) from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = harness.parser("benchmarks.run", __doc__)
    p.add_argument("--quick", action="store_true", help="small synthetic camera, fewer repeats (a smoke run)")
    p.add_argument("--only", default=None, help=f"comma list of cameras {CAMERAS} and/or sections {SECTIONS}")
    p.add_argument("--long-frames", type=int, default=None, help="frames of the long synthetic camera")
    p.add_argument("--name", default=None, help="results file name (default: full, or quick with --quick)")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    p.add_argument(
        "--render",
        action="store_true",
        help="measure nothing: derive the goals and tables again from the existing results file (--name)",
    )
    p.add_argument("--max-fnr", type=float, default=DEFAULT_MAX_FNR)
    p.add_argument("--max-fpr", type=float, default=DEFAULT_MAX_FPR)
    p.add_argument(
        "--confidence",
        type=_confidence,
        default=DEFAULT_CONFIDENCE,
        help=f"the targets as promises at this confidence (default {DEFAULT_CONFIDENCE}); 'none': NoScope's point rule",
    )
    p.add_argument(
        "--no-certify",
        action="store_true",
        help="leave the cascade's answers uncertified (planned by the block-bound rule), as noscope query --no-certify",
    )
    p.add_argument(
        "--plan-for",
        choices=("test", "declared"),
        default="test",
        help="certified answers: choose the cascade for the test segment's length (default, as noscope query and "
        "noscope apply do) or keep the one planned for the camera's declared footage (an hour unless declared)",
    )
    p.add_argument(
        "--max-epochs", type=int, default=None, help=f"specialized-model epochs (default {DEFAULT_MAX_EPOCHS}, quick 3)"
    )
    p.add_argument("--models", default=None, help="comma list of specialized-model variants to train (all cameras)")
    p.add_argument(
        "--vtest-roi",
        default=None,
        help="region asked of the real camera, X0,Y0,X1,Y1 (default: the registry's bottom-left quadrant)",
    )
    args = p.parse_args(argv)
    wanted = [w.strip() for w in (args.only or "").split(",") if w.strip()]
    bad = [w for w in wanted if w not in CAMERAS + SECTIONS]
    if bad:
        p.error(f"--only: unknown {bad}; choose from {CAMERAS + SECTIONS}")
    cams = [w for w in wanted if w in CAMERAS]
    secs = [w for w in wanted if w in SECTIONS]
    # --quick runs only the small synthetic camera unless a real-pixel one is asked for by name (vtest-long: the
    # demo's two minutes instead of the hour)
    args.cameras = cams or (["synthetic"] if args.quick else list(CAMERAS))
    args.sections = set(secs or SECTIONS) | {"methods"}
    if args.long_frames is None:
        args.long_frames = 2_000 if args.quick else 100_000
    if args.long_frames < 400:
        p.error("--long-frames must be at least 400 (each segment needs enough frames to fit on)")
    if args.max_epochs is None:
        args.max_epochs = 3 if args.quick else DEFAULT_MAX_EPOCHS
    args.name = args.name or ("quick" if args.quick else "full")
    args.models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    return args


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent,
            timeout=10,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _dirty_engine_files() -> list[str] | None:
    """Engine files that differ from the commit: the run measured the working tree, so say where it differs."""
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--", "noscope_core", "benchmarks"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
            timeout=10,
        )
        files = [line[3:] for line in out.stdout.splitlines() if line.strip()]
        return [f for f in files if not f.startswith("benchmarks/results")]  # the outputs, not the code
    except (OSError, subprocess.SubprocessError):
        return None


def _meta(args: argparse.Namespace) -> dict[str, Any]:
    import cv2
    import numpy
    import sklearn
    import torch

    return {
        "name": args.name,
        "date_utc": harness.now_utc(),
        "git_commit": _git_commit(),
        "uncommitted_files": _dirty_engine_files(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "versions": {
            "torch": torch.__version__,
            "opencv": cv2.__version__,
            "numpy": numpy.__version__,
            "scikit-learn": sklearn.__version__,
        },
        "threads": {"torch": torch.get_num_threads(), "opencv": cv2.getNumThreads()},
        "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "NOSCOPE_HOME")},
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "args": {
            "quick": args.quick,
            "cameras": args.cameras,
            "sections": sorted(args.sections),
            "long_frames": args.long_frames,
            "max_epochs": args.max_epochs,
            "models": args.models,
            "confidence": args.confidence,
            "certify": not args.no_certify,
            "plan_for": args.plan_for,
        },
        "max_fnr": args.max_fnr,
        "max_fpr": args.max_fpr,
    }


def _cascade_time_split(row: dict) -> str:
    raw = row["seconds"]["raw"]
    total = row["seconds"]["total"]
    parts = {k: raw.get(k, 0.0) for k in ("decode", "preprocess", "dd", "model")}
    parts["decode"] = row["seconds"]["decode"]
    parts["reference"] = row["seconds"]["reference"]
    parts["other (Python glue)"] = max(0.0, total - sum(parts.values()))
    return ", ".join(f"{k} {pct(v / total, 0)}" for k, v in parts.items() if total > 0)


def bottlenecks(result: dict) -> list[str]:
    """Facts about where the cascade's time goes, straight from the measurements."""
    out = []
    for name, cam in result["cameras"].items():
        if cam.get("skipped"):
            continue
        rows = {r["method"]: r for r in cam["methods"]["rows"]}
        c = rows["cascade"]
        s = cam["methods"]["summary"]
        out.append(f"{name}: streaming cascade time split — {_cascade_time_split(c)} ({c['describe']}).")
        lim = cam.get("limits")
        frac = c["reference_fraction"]
        bound = (
            f"{pct(frac)} of test frames go to the reference, which bounds the speed-up over the reference on "
            f"every frame at {times(1 / frac)} however cheap the other stages"
            if frac
            else "no test frame goes to the reference: the cheap stages alone set the speed-up"
        )
        out.append(
            f"{name}: {bound} (measured: {times(c['speedup'])}); the optimizer predicted FNR "
            f"{pct(s['cascade_threshold_fnr'])} / FPR {pct(s['cascade_threshold_fpr'])} on the threshold segment, the "
            f"test segment measured {pct(c['fnr'])} / {pct(c['fpr'])}."
        )
        if lim:
            ceiling = lim.get("cascade_e2e_without_reference_over_decode")
            out.append(
                f"{name}: decode alone runs at {lim['decode_fps']:,.0f} frames/s, the engine's preprocess brings "
                f"decode+preprocess to {lim['decode_prep_fps']:,.0f} frames/s; the cascade end to end reaches "
                f"{pct(lim['cascade_e2e_over_decode'], 0)} of decode-only over the same frames "
                f"(median of {len(lim.get('paired_ratios', [])) or 1} side-by-side pairs)"
                + (
                    f", and {pct(ceiling, 0)} ({lim['cascade_e2e_without_reference_fps']:,.0f} frames/s) with the "
                    "reference's time taken out"
                    if ceiling
                    else ""
                )
                + "."
            )
    return out


def accuracy_shortfall(row: dict | None) -> str | None:
    """Why a method's speed cannot count toward a goal: its measured error breaks a target, or its answer was
    not certified where certification was asked for; None when it counts."""
    if row is None:
        return "no such run"
    if not row.get("meets_targets"):
        fnr, fpr = row.get("fnr"), row.get("fpr")
        # the results files' goal tables (and a test) read "FNR 0.77% / FPR 1.29%"
        rates = "" if fnr is None or fpr is None else f": FNR {100 * fnr:.2f}% / FPR {100 * fpr:.2f}%"
        return f"accuracy not met{rates}"
    if row.get("certified") is False:
        return "not certified"
    return None


def speedup_goal(goal: str, target: str, value: float | None, floor: float, row: dict | None, fmt: str) -> dict:
    """A speed-up goal: met only when the speed-up reaches ``floor`` AND the row's accuracy is met (and, where
    certified, certified). A speed-up bought with errors beyond the targets is no speed-up at those targets."""
    if value is None:
        return {"goal": goal, "target": target, "measured": "not measured", "met": None}
    short = accuracy_shortfall(row)
    measured = fmt.format(value) + (f" ({short}: does not count)" if short else "")
    return {"goal": goal, "target": target, "measured": measured, "met": value >= floor and short is None}


def goals(result: dict) -> list[dict]:
    """The benchmark's targets against what was measured (reported, never asserted). A speed-up counts only when the
    run that made it met its accuracy targets (:func:`speedup_goal`)."""
    g: list[dict] = []
    cams = result["cameras"]

    def row(cam: dict, method: str) -> dict | None:
        return next((r for r in cam["methods"]["rows"] if r["method"] == method), None)

    vt = cams.get("vtest")
    if vt and not vt.get("skipped"):
        s = vt["methods"]["summary"]
        best = s["cascade_over_best_baseline"]
        goal = f"vtest: cascade vs best baseline meeting the targets ({s['best_baseline']}), decode excluded"
        if best:
            g.append(speedup_goal(goal, "≥ 10×", best, 10, row(vt, "cascade"), "{:.1f}×"))
        else:
            g.append({"goal": goal, "target": "≥ 10×", "measured": "no baseline met the targets", "met": None})
        g.append(
            speedup_goal(
                "vtest: cascade vs reference on every frame, decode excluded",
                "≥ 100×",
                s["cascade_speedup"],
                100,
                row(vt, "cascade"),
                "{:.1f}×",
            )
        )
    for name, cam in cams.items():
        if cam.get("skipped") or not cam.get("limits"):
            continue
        frac = cam["limits"]["cascade_e2e_over_decode"]
        g.append(
            speedup_goal(
                f"{name}: cascade end to end vs decode only",
                "≥ 80%",
                100 * frac,
                80,
                row(cam, "cascade"),
                "{:.0f}%",
            )
        )
    syn = cams.get("synthetic")
    if syn and not syn.get("skipped"):
        s = syn["methods"]["summary"]
        n_test = sum(b - a for a, b in syn["methods"]["summary"]["test_ranges"])
        g.append(
            speedup_goal(
                f"synthetic ({n_test:,} test frames): cascade vs reference on every frame, decode excluded",
                "≥ 1,000×",
                s["cascade_speedup"],
                1000,
                row(syn, "cascade"),
                "{:,.0f}×",
            )
        )
        store = row(syn, "cascade_store")
        if store:
            g.append(
                speedup_goal(
                    "synthetic: the same on the frame store (NoScope's measure: frames decoded and shrunk beforehand)",
                    "≥ 1,000×",
                    store["speedup"],
                    1000,
                    store,
                    "{:,.0f}×",
                )
            )
    mem = result.get("memory")
    if mem and all("error" not in r for r in mem["decode"] + mem["query"]):
        for kind in ("decode", "query"):
            rs = sorted(mem[kind], key=lambda r: r["frames"])
            small, big = rs[0], rs[-1]
            ratio = big["peak_rss_mib"] / small["peak_rss_mib"]
            g.append(
                {
                    "goal": f"memory flat in video length ({kind}, {small['frames']:,} → {big['frames']:,} frames)",
                    "target": "peak ratio ≈ 1",
                    "measured": f"{small['peak_rss_mib']:.0f} → {big['peak_rss_mib']:.0f} MiB ({times(ratio, digits=2)})",
                    "met": ratio < 1.25,
                }
            )
    return g


def plan_for_test_segment(prep, certify, log) -> None:
    """The benchmark answers the test segment, so its cascade is chosen for that length, as ``noscope query``
    plans for its test segment and ``noscope apply`` for its file: the artifact's priced frontier re-priced for the
    segment's frame count (:meth:`~noscope_core.flows.apply_flow.TrainedCascade.for_footage`); ``prep`` then holds
    the re-planned artifact and its cascade. Unchanged when the answers are not certified."""
    from noscope_core.flows.apply_flow import TrainedCascade
    from noscope_core.optimizer.cascade_artifact import load_cascade

    n_test = len(prep.labels.segments.test.indices())
    trained = TrainedCascade(prep.artifact, prep.cascade_json, prep.models_dir, prep.dd_dir)
    art = trained.for_footage(n_test, certify)
    if art.footage_choice is None:
        return
    prep.artifact = art
    prep.cascade = load_cascade(art, prep.detector, prep.models_dir, prep.dd_dir)
    log(f"  planned for the {n_test:,}-frame test segment: {art.best.describe()} ({art.footage_choice.reason})")


def run_camera(camera, args, home: Path, log) -> dict[str, Any]:
    from benchmarks.limits import decode_limits, stage_micro
    from benchmarks.methods import run_methods
    from benchmarks.stages import prepare

    out: dict[str, Any] = {"camera": camera.to_dict()}
    t0 = time.perf_counter()
    prep = prepare(
        camera,
        home,
        args.max_fnr,
        args.max_fpr,
        args.max_epochs,
        log=log,
        models=args.models,
        confidence=args.confidence,
        certify=not args.no_certify,
    )
    certify = CertifyOptions.of(not args.no_certify)
    planned = prep.artifact
    if args.plan_for == "test":
        plan_for_test_segment(prep, certify, log)
    out["prepare"] = {
        "seconds": prep.seconds,
        "notes": prep.notes,
        "cascade": prep.artifact.best.to_dict(),
        "planned_cascade": planned.best.to_dict(),
        "plan_rule": planned.rule,
        "footage_choice": None if prep.artifact.footage_choice is None else prep.artifact.footage_choice.to_dict(),
    }
    out["methods"] = run_methods(prep, args.max_fnr, args.max_fpr, log=log, certify=certify)
    if "limits" in args.sections:
        log("  decode limits ...")
        lim = decode_limits(prep, max_frames=2_000 if args.quick else 10_000, repeats=1 if args.quick else 3)
        casc = next(r for r in out["methods"]["rows"] if r["method"] == "cascade")
        # the goal's ratio: the pairs measured side by side (the unpaired one divides rates taken minutes apart)
        lim["cascade_e2e_over_decode"] = lim["paired_cascade_e2e_over_decode"]
        lim["cascade_e2e_over_decode_unpaired"] = casc["fps_e2e"] / lim["decode_fps"]
        # what the cascade's own stages allow once the reference's time is taken out: its ceiling
        no_ref_s = casc["seconds"]["total"] - casc["seconds"]["reference"]
        lim["cascade_e2e_without_reference_fps"] = casc["frames"] / no_ref_s if no_ref_s > 0 else None
        lim["cascade_e2e_without_reference_over_decode"] = (
            lim["cascade_e2e_without_reference_fps"] / lim["decode_fps"]
            if lim["cascade_e2e_without_reference_fps"]
            else None
        )
        out["limits"] = lim
        log(
            f"    grab {lim['grab_fps']:.0f}, decode {lim['decode_fps']:.0f}, +resize {lim['decode_resize_fps']:.0f}, "
            f"+preprocess {lim['decode_prep_fps']:.0f} frames/s; cascade e2e = "
            f"{pct(lim['cascade_e2e_over_decode'], 0)} of decode"
        )
    if "stages" in args.sections:
        log("  stage micro-benchmarks ...")
        if args.quick:
            out["stages"] = stage_micro(prep, thread_counts=(1,), dd_batches=(256,), n_frames=512)
        else:
            out["stages"] = stage_micro(prep)
    out["wall_seconds"] = time.perf_counter() - t0
    return out, prep


def summarize(result: dict, json_path: Path, md_path: Path, log=print) -> None:
    """Derive the goals and bottlenecks from the measurements, write both files and print the tables."""
    from benchmarks.table import render
    from noscope_core.common.atomic import write_json, write_text

    cams = result.get("cameras", {})  # the JSON file sorts keys: summarize in the benchmark's own camera order
    result["cameras"] = {k: cams[k] for k in sorted(cams, key=lambda k: (CAMERAS + (k,)).index(k))}
    for key, derive in (("goals", goals), ("bottlenecks", bottlenecks)):
        try:
            result[key] = derive(result)
        except Exception as err:  # noqa: BLE001 - report, keep the measurements
            result[key] = []
            result.setdefault("errors", []).append(f"{key}: {type(err).__name__}: {err}")
            log(f"warning: could not derive {key}: {err}")
    write_json(json_path, result)
    md = render(result)
    write_text(md_path, md + "\n")
    print()
    print(md)
    print(f"\nwrote {json_path} and {md_path}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:  # presentation only: the measurements already on disk, summarized again
        json_path = args.results_dir / f"{args.name}.json"
        if not json_path.is_file():
            print(f"error: no results at {json_path}; run the benchmark first", file=sys.stderr)
            return 2
        summarize(json.loads(json_path.read_text()), json_path, json_path.with_suffix(".md"))
        return 0
    from benchmarks.cameras import composite_camera, default_camera, synthetic_camera
    from benchmarks.memory import memory_scaling
    from noscope_core.common.atomic import write_json
    from noscope_core.common.errors import NoScopeError
    from noscope_core.common.paths import noscope_home

    t_start = time.perf_counter()
    home = noscope_home()

    def log(msg: str) -> None:
        print(msg, flush=True)

    result: dict[str, Any] = {"meta": _meta(args), "cameras": {}}
    for name in args.cameras:
        log(f"== camera {name}")
        if name in ("vtest", "vtest-long"):
            from noscope_core.spec.query import ROI

            if name == "vtest-long":
                cam, why = composite_camera(home, quick=args.quick, log=log)
            elif args.vtest_roi:
                cam, why = default_camera(home, ROI.parse(args.vtest_roi))
            else:
                cam, why = default_camera(home)
            if cam is None:
                log(f"  skipped: {why}")
                what = "real default camera" if name == "vtest" else "camera composited from the real one"
                result["cameras"][name] = {"camera": {"name": name, "description": what}, "skipped": why}
                continue
        else:
            cam = synthetic_camera(home, args.long_frames, log=log)
        try:
            out, prep = run_camera(cam, args, home, log)
        except NoScopeError as err:  # e.g. labels with one class only: report it, go on with the next camera
            log(f"  failed: {err}")
            result["cameras"][name] = {"camera": cam.to_dict(), "skipped": f"failed: {err}"}
            continue
        result["cameras"][name] = out
        if name == "synthetic" and "memory" in args.sections:
            log("  memory ...")
            n = prep.store.n_frames
            result["memory"] = memory_scaling(prep, [n // 4, n], log=log)
    result["meta"]["load_after"] = [round(x, 2) for x in os.getloadavg()]
    result["wall_seconds"] = time.perf_counter() - t_start
    args.results_dir.mkdir(parents=True, exist_ok=True)
    json_path = args.results_dir / f"{args.name}.json"
    md_path = args.results_dir / f"{args.name}.md"
    write_json(json_path, result)  # the measurements first: a bug in the summaries below must not lose them
    summarize(result, json_path, md_path, log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
