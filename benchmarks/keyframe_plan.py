"""``python -m benchmarks.keyframe_plan``: the dense plan against the keyframe-first plan, end to end, each as a ratio
to OpenCV decode-only of the same file measured in the same run.

For each camera (the long synthetic one, and the first 30 minutes of the long real-pixel composited one) and each of
its files (the original and an H.264 re-encode with a 1.5 s GOP): decode the file into a frame store, label it (the
synthetic camera's exact truth; the real camera's SSD detections of the original from the shared detection cache,
declared at SSD's measured cost, so both files are judged against the same labels and nothing is labelled anew),
train one small model and the difference detectors on the train segment, then for NoScope's point rule and for the
certified default (0.95): optimize without decode costs (the dense plan) and with them (keyframe-first variants
compete), run each plan over the test segment with ``run_on_segment`` (streamed from the file, decode included,
certification charged) and time OpenCV decode-only (``VideoCapture.read`` of every test frame) beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import harness
from benchmarks.decode import GOP_S, encode_h264
from noscope_core.present.units import pct, times

RESULTS = harness.RESULTS_DIR
MODEL = "c1-f16-d32-s2"  # the fastest variant at inference: a long query wants it


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = harness.parser("benchmarks.keyframe_plan", __doc__)
    p.add_argument("--only", default="synthetic,vtest-long", help="cameras: synthetic, vtest-long")
    p.add_argument("--synthetic-frames", type=int, default=20_000)
    p.add_argument(
        "--real-frames", type=int, default=18_000, help="frames of vtest-long (its SSD cache covers ~20,600)"
    )
    p.add_argument("--files", default="original,h264", help="which files of each camera: original, h264")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument(
        "--synthetic-split",
        default=None,
        help="train,threshold,test fractions of the synthetic camera (default: the long-camera benchmark's)",
    )
    p.add_argument("--target", type=float, default=0.01)
    p.add_argument("--name", default="keyframe_plan")
    p.add_argument("--render", type=Path, default=None, help="only rewrite the tables of this results JSON")
    return p.parse_args(argv)


def cached_reference(original: Path, cache_root: Path):
    """SSD's detections of ``original`` from the shared detection cache, as a reference that needs no pixels."""
    from noscope_core.common.errors import DetectorError
    from noscope_core.reference.detection_cache import DetectionCache
    from noscope_core.reference.detectors import make_detector
    from noscope_core.reference.detectors.base import ReferenceDetector
    from noscope_core.spec.camera import DEFAULT_REFERENCE
    from noscope_core.video.probe import probe_video

    info = probe_video(original)
    ssd = make_detector(DEFAULT_REFERENCE, frame_size=(info.width, info.height))
    cache = DetectionCache(cache_root, info.fingerprint, ssd.identity())

    class CachedSSD(ReferenceDetector):
        name = "ssd-cached"
        needs_pixels = False

        def __init__(self) -> None:
            super().__init__()
            self.declare_cost(cache.cost_ms() or 60.0)

        @property
        def class_names(self) -> tuple[str, ...]:
            return ssd.class_names

        def identity(self) -> str:
            return f"cached:{info.fingerprint[:16]}:{ssd.identity()}"

        def _detect(self, frames, frame_indices):
            missing = cache.missing(frame_indices)
            if missing:
                raise DetectorError(f"{len(missing)} frames of {original.name} are not in the SSD cache")
            return cache.get(frame_indices)

    return CachedSSD()


def opencv_decode_only_fps(video: Path, start: int, stop: int) -> float:
    """``VideoCapture.read`` of every frame in ``[start, stop)`` (BGR, full size): the floor the ratios use."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    try:
        if start:
            cap.set(cv2.CAP_PROP_POS_FRAMES, start)
        t0 = time.perf_counter()
        n = 0
        while n < stop - start:
            ok, _ = cap.read()
            if not ok:
                break
            n += 1
        return n / max(time.perf_counter() - t0, 1e-9)
    finally:
        cap.release()


def run_file(cam: dict, video: Path, detector, args, home: Path, log) -> dict[str, Any]:
    from noscope_core.flows import stages, test_segment
    from noscope_core.guarantees.certify_answer import CertifyOptions
    from noscope_core.optimizer import cascade_artifact
    from noscope_core.reference.label_artifact import ALL_SEGMENTS
    from noscope_core.spec.camera import CameraSpec, SplitSpec, Targets, TrainingOptions
    from noscope_core.video.probe import probe_video

    info = probe_video(video)
    spec = CameraSpec(
        video=video,
        query=cam["query"],
        camera_id=cam["name"],
        reference="synthetic" if cam["name"] == "synthetic" else "ssd",
        targets=Targets(args.target, args.target, None),
        split=SplitSpec(cam["split"]),
        training=TrainingOptions(max_epochs=args.epochs, models=(MODEL,)),
        max_frames=cam["frames"],
    )
    root = home / "bench" / "keyframe_plan"
    t0 = time.perf_counter()
    store = stages.decode(spec, root / "frames" / f"{video.stem}-{info.fingerprint[:12]}", progress=False)
    log(f"  store {store.n_frames:,} frames ({store.reader}) in {time.perf_counter() - t0:.0f} s")
    cache_root = home / "cache" / "detections"
    labels = stages.label(spec, store, detector, ALL_SEGMENTS, cache_root=cache_root, progress=False)
    log("  positive rate " + ", ".join(f"{k} {pct(v, 1)}" for k, v in labels.positive_rates().items()))
    work = root / "work" / f"{video.stem}-{info.fingerprint[:12]}-{cam['frames']}-{args.epochs}"
    t0 = time.perf_counter()
    prep = stages.prepare_cascade(spec, store, labels, work, reuse=True, log=log)
    log(f"  trained/loaded in {time.perf_counter() - t0:.0f} s")
    test = labels.segments.test
    truth = labels.segment("test").label
    cache = stages.detection_cache(cache_root, info.fingerprint, detector)
    out: dict[str, Any] = {"video": str(video), "frames_test": len(test), "test_segment": [test.start, test.stop]}
    out["positive_rates"] = labels.positive_rates()
    rows = []
    for rule, confidence in (("point rule", None), ("certified 0.95", 0.95)):
        s = dataclasses.replace(spec, targets=Targets(args.target, args.target, confidence))
        dense = stages.optimize(s, store, labels, prep.models, prep.dds, keyframe_first=False)
        priced = stages.optimize(s, store, labels, prep.models, prep.dds, keyframe_first=True)
        plans = [("dense", dense, "")]
        if priced.keyframe_plan is not None:
            plans.append(("keyframe-first", priced, "chosen by the optimizer"))
        elif priced.keyframe_best is not None:
            note = (
                f"not chosen: {priced.keyframe_best.total_ms:.3g} ms/frame against the dense "
                f"{priced.best.total_ms:.3g} (decode included); forced"
            )
            plans.append(("keyframe-first", dataclasses.replace(priced, best=priced.keyframe_best), note))
        else:
            plans.append(("keyframe-first", None, "no keyframe-first variant met the targets" + _why(priced)))
        for plan, art, note in plans:
            row: dict[str, Any] = {"rule": rule, "plan": plan, "note": note}
            if art is None:
                rows.append(row)
                log(f"  {rule:15s} {plan:15s} {note}")
                continue
            cascade = cascade_artifact.load_cascade(art, detector, prep.models_dir, prep.dd_dir)
            modes = ("persisted", "demuxed") if rule == "point rule" else ("persisted",)
            cv_runs = [opencv_decode_only_fps(video, test.start, test.stop)]
            by_mode = {}
            for mode in modes:
                with index_mode(video, mode):
                    by_mode[mode] = test_segment.run_on_segment(
                        cascade, art, store, test, video, truth=truth, certify=CertifyOptions(), cache=cache
                    )
                cv_runs.append(opencv_decode_only_fps(video, test.start, test.stop))
            res = by_mode["persisted"]
            cv = (cv_runs[0] + cv_runs[1]) / 2
            if "demuxed" in by_mode:
                cv_d = (cv_runs[1] + cv_runs[2]) / 2
                d = by_mode["demuxed"]
                row["index_demuxed"] = {
                    "e2e_fps": d.cascade_fps_e2e,
                    "opencv_decode_only_fps": cv_d,
                    "ratio_to_opencv": (d.cascade_fps_e2e or 0.0) / cv_d,
                    "ratio_to_opencv_without_reference": _without_reference(d, len(test)) / cv_d,
                    "seconds_e2e": d.seconds_e2e,
                    "test_fnr": d.fnr,
                    "test_fpr": d.fpr,
                }
            row.update(
                {
                    "cascade": art.best.describe(),
                    "fell_back": art.fell_back,
                    "fallback_reason": art.reason,
                    "expected_total_ms": art.best.total_ms,
                    "expected_decode_ms": art.best.decode_ms,
                    "threshold_fnr": art.best.fnr,
                    "threshold_fpr": art.best.fpr,
                    "e2e_fps": res.cascade_fps_e2e,
                    "opencv_decode_only_fps": cv,
                    "opencv_decode_only_fps_runs": cv_runs,
                    "ratio_to_opencv": (res.cascade_fps_e2e or 0.0) / cv,
                    "ratio_to_opencv_without_reference": _without_reference(res, len(test)) / cv,
                    "test_fnr": res.fnr,
                    "test_fpr": res.fpr,
                    "certified": res.certified,
                    "certify_frames": res.certificate.frames_labelled if res.certificate else 0,
                    "fnr_bound": res.certificate.fnr_bound if res.certificate else None,
                    "fpr_bound": res.certificate.fpr_bound if res.certificate else None,
                    "reference_call_fraction": res.reference_call_fraction,
                    "plan_run": res.plan,
                    "plan_counts": res.plan_counts,
                    "seconds": res.seconds,
                    "seconds_e2e": res.seconds_e2e,
                    "decode_costs": None if art.decode_costs is None else art.decode_costs.to_dict(),
                }
            )
            rows.append(row)
            log(
                f"  {rule:15s} {plan:15s} {row['e2e_fps']:8.0f} fr/s = {times(row['ratio_to_opencv'], digits=2)} OpenCV "
                f"({cv:.0f}); FNR {pct(res.fnr or 0)} FPR {pct(res.fpr or 0)}; {res.plan}"
                + (f"; {note}" if note else "")
                + (f"; index demuxed: {_demuxed(row)}" if "index_demuxed" in row else "")
            )
    out["rows"] = rows
    return out


@contextlib.contextmanager
def index_mode(video: Path, mode: str):
    """How the streaming run gets the keyframe index: ``persisted`` reads it from ``$NOSCOPE_HOME/cache/keyframes``
    (the optimizer wrote it when it measured decode costs), ``demuxed`` demuxes the file again (each query paying
    it, as before the index was kept). The answer's own look-up, outside the streaming run, leaves nothing in this
    process's memory either way, so the streaming run pays its load or its demux."""
    from noscope_core.flows import test_segment
    from noscope_core.video.probe import file_fingerprint
    from noscope_core.video.readers import keyframe_cache

    original = test_segment._keyframes
    target = keyframe_cache.index_path(file_fingerprint(video))

    def answer_keyframes(v):
        keys = original(v)
        keyframe_cache.forget()
        if mode == "demuxed":
            target.unlink(missing_ok=True)
        return keys

    keyframe_cache.forget()
    if mode == "demuxed":
        target.unlink(missing_ok=True)
    test_segment._keyframes = answer_keyframes
    try:
        yield
    finally:
        test_segment._keyframes = original
        keyframe_cache.keyframe_index(video)  # the next query finds it kept


def _without_reference(res, n: int) -> float:
    """End-to-end frames/s of the streaming run with the reference's (charged) time left out: reading + cheap stages."""
    if not res.seconds_e2e:
        return float("nan")
    rest = res.seconds_e2e["total"] - res.seconds_e2e["reference"]
    return n / rest if rest > 0 else float("inf")


def _why(art) -> str:
    return f" (the dense choice fell back: {art.reason})" if art.fell_back else ""


def cameras(args, home: Path, log) -> list[dict]:
    from benchmarks.cameras import VTEST_ROI, synthetic_camera
    from noscope_core.reference.detectors.synthetic import SyntheticDetector
    from noscope_core.spec.query import Query

    out = []
    only = set(args.only.split(","))
    files = args.files.split(",")
    if "synthetic" in only:
        cam = synthetic_camera(home, args.synthetic_frames, log=log)
        orig = cam.video
        videos = {"original": orig}
        if "h264" in files:
            videos["h264"] = encode_h264(orig, home / "bench" / "h264" / f"{orig.stem}-gop{GOP_S:g}s.mp4", log=log)
        out.append(
            {
                "name": "synthetic",
                "query": Query("car"),
                "split": tuple(float(x) for x in args.synthetic_split.split(","))
                if args.synthetic_split
                else cam.split,
                "frames": None,
                "videos": {k: v for k, v in videos.items() if k in files},
                "detector": SyntheticDetector(orig, 50.0),
                "description": cam.description,
            }
        )
    if "vtest-long" in only:
        orig = home / "videos" / "vtest-long.mp4"
        if not orig.is_file():
            log(f"skipped vtest-long: {orig} is missing (noscope make-camera vtest-long)")
        else:
            n = args.real_frames
            videos = {"original": orig}
            if "h264" in files:
                videos["h264"] = encode_h264(
                    orig, home / "bench" / "h264" / f"vtest-long-{n}-gop{GOP_S:g}s.mp4", log=log, max_frames=n
                )
            out.append(
                {
                    "name": "vtest-long",
                    "query": Query("person", VTEST_ROI),
                    "split": (0.5, 0.25, 0.25),
                    "frames": n,
                    "videos": {k: v for k, v in videos.items() if k in files},
                    "detector": cached_reference(orig, home / "cache" / "detections"),
                    "description": f"first {n:,} frames of the composited hour (768x576, 10 fps), person in the "
                    "bottom-left quadrant; SSD's cached detections of the original as the reference of both files",
                }
            )
    return out


def render(res: dict[str, Any]) -> str:
    lines = [
        f"Measured {res['meta']['when']} on {res['meta']['machine']} (shared with other work). Each row: one "
        f"`run_on_segment` over the test segment streamed from the file (decode included, certification charged), "
        f"frames/s and its ratio to OpenCV decode-only (`VideoCapture.read` of the same test frames, BGR, full "
        f"size; mean of one pass before and one after the run). Targets {100 * res['meta']['target']:g} %/"
        f"{100 * res['meta']['target']:g} %. The streaming run reads the keyframe index kept under "
        f"`$NOSCOPE_HOME/cache/keyframes` (written when the optimizer measured decode costs); the point-rule rows "
        f"also ran once more demuxing it anew, as every query did before it was kept (column *index demuxed*).",
        "",
        "| camera / file | rule | plan | end-to-end fr/s | × OpenCV decode-only | × without the reference | "
        "index demuxed: fr/s (×) | reference frames | test FNR / FPR | certified | what ran |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for cam in res["cameras"]:
        for fname, f in cam["files"].items():
            for r in f["rows"]:
                where = f"{cam['name']} / {fname}"
                if "e2e_fps" not in r:
                    lines.append(f"| {where} | {r['rule']} | {r['plan']} | — | — | — | — | — | — | — | {r['note']} |")
                    continue
                what = r["cascade"] if not r["fell_back"] else "reference on every frame (fell back)"
                if r.get("plan_counts"):
                    c = r["plan_counts"]
                    what += (
                        f"; {c['keyframes']:,} keyframes, {c['opened_frames']:,} of {f['frames_test']:,} "
                        f"frames opened in {c['ranges']:,} ranges"
                    )
                if r["note"]:
                    what += f" ({r['note']})"
                cert = "yes" if r["certified"] else "no"
                if r["rule"].startswith("certified"):
                    cert += f", {r['certify_frames']:,} frames"
                lines.append(
                    f"| {where} | {r['rule']} | {r['plan']} | {r['e2e_fps']:,.0f} | **{times(r['ratio_to_opencv'], digits=2)}** | "
                    f"{_times(r['ratio_to_opencv_without_reference'])} | {_demuxed(r)} | "
                    f"{pct(r['reference_call_fraction'])} | "
                    f"{pct(r['test_fnr'])} / {pct(r['test_fpr'])} | {cert} | {what} |"
                )
    return "\n".join(lines) + "\n"


def _demuxed(r: dict) -> str:
    d = r.get("index_demuxed")
    return "—" if not d else f"{d['e2e_fps']:,.0f} ({times(d['ratio_to_opencv'], digits=2)})"


def _times(x: float | None) -> str:
    return "—" if x is None or not np.isfinite(x) else times(x, digits=2)


def main(argv: Sequence[str] | None = None) -> int:
    from noscope_core.common.atomic import write_json, write_text
    from noscope_core.common.paths import noscope_home

    args = parse_args(argv)
    if args.render:  # the tables again from a results file, nothing measured
        write_text(args.render.with_suffix(".md"), render(json.loads(args.render.read_text())))
        return 0
    home = noscope_home()

    def log(msg: str) -> None:
        print(msg, flush=True)

    res: dict[str, Any] = {
        "meta": {
            "when": harness.now_utc(),
            "machine": harness.machine(),
            "target": args.target,
            "model": MODEL,
            "epochs": args.epochs,
            "synthetic_split": args.synthetic_split,
            "load_before": [round(x, 2) for x in os.getloadavg()],
        },
        "cameras": [],
    }
    t0 = time.perf_counter()
    for cam in cameras(args, home, log):
        log(f"== {cam['name']}")
        entry = {"name": cam["name"], "description": cam["description"], "files": {}}
        for fname, video in cam["videos"].items():
            log(f"- {fname}: {video}")
            entry["files"][fname] = run_file(cam, video, cam["detector"], args, home, log)
            res["cameras"] = [c for c in res["cameras"] if c["name"] != cam["name"]] + [entry]
            write_json(RESULTS / f"{args.name}.json", _jsonable(res))  # what is measured so far survives a crash
    res["wall_seconds"] = time.perf_counter() - t0
    res["meta"]["load_after"] = [round(x, 2) for x in os.getloadavg()]
    write_json(RESULTS / f"{args.name}.json", _jsonable(res))
    write_text(RESULTS / f"{args.name}.md", render(res))
    log(render(res))
    return 0


def _jsonable(x: Any) -> Any:
    return json.loads(json.dumps(x, default=lambda o: o.item() if isinstance(o, np.generic) else str(o)))


if __name__ == "__main__":
    raise SystemExit(main())
