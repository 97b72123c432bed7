"""``python -m benchmarks.long_camera``: what the composited long camera costs and how a real detector sees it.

1. Generates the camera (default one hour at 10 fps) and times it; times 60 s at 30 fps against 60 s at 10 fps.
2. Runs the SSD reference on a sample of windows spread over the video (through the shared detection cache, so the
   labels are reused like any video's) and times it.
3. Compares SSD with the placement truth: the region query's positive rate, events per hour, and how often SSD
   misses a composited person; and, for contrast, how often SSD misses a real person in vtest.avi (frames inside a
   linked track where SSD has no box).
4. Writes small PNGs for docs/long_camera.md and ``benchmarks/results/long_camera.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks import harness

ROI = (0.0, 0.5, 0.5, 1.0)
RESULTS = harness.RESULTS_DIR / "long_camera.json"
IMG_DIR = Path(__file__).resolve().parent.parent / "docs" / "img"


def parse_args(argv=None) -> argparse.Namespace:
    p = harness.parser("benchmarks.long_camera", __doc__)
    p.add_argument("--seconds", type=float, default=3600.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--windows", type=int, default=8, help="sampled windows labelled by SSD")
    p.add_argument("--window-s", type=float, default=30.0, help="seconds per sampled window")
    p.add_argument("--regenerate", action="store_true", help="generate even if the video exists")
    p.add_argument("--skip-fps-compare", action="store_true")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument(
        "--demo-seconds",
        type=float,
        default=None,
        help="only measure generating + SSD-labelling every frame of a camera this long (the make demo cost)",
    )
    return p.parse_args(argv)


def runs(positive: np.ndarray, min_gap: int = 0) -> list[tuple[int, int]]:
    """(start, stop) of runs of True; runs separated by at most ``min_gap`` False frames are merged."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], positive.astype(np.int8), [0]])))
    out: list[tuple[int, int]] = []
    for s, e in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
        if out and s - out[-1][1] <= min_gap:
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def ssd_roi_positive(dets, roi=ROI, min_score=0.5) -> np.ndarray:
    x0, y0, x1, y1 = roi
    return np.array(
        [
            any(d.class_name == "person" and d.score >= min_score and x0 <= d.cx < x1 and y0 <= d.cy < y1 for d in f)
            for f in dets
        ]
    )


def iou_xywh(a, b) -> float:
    from noscope_core.footage.composite.sprites import iou

    return iou(np.asarray(a, float), np.asarray(b, float))


HEIGHT_BINS_PX = (24, 48, 96, 10_000)


def truth_misses(truth, frames, dets, static_boxes, min_visible=0.8, min_iou=0.3) -> dict:
    """Composited people (at least ``min_visible`` visible, 24 px tall or more) with no SSD person box overlapping
    them, by height; and SSD person boxes on no composited person, split into the background's own false persons
    (``static_boxes``: what SSD finds on the empty background) and the rest."""
    w, h = truth.width, truth.height
    pid = truth.class_names.index("person")
    checked = np.zeros(len(HEIGHT_BINS_PX) - 1, int)
    missed = np.zeros(len(HEIGHT_BINS_PX) - 1, int)
    n_ssd = on_static = elsewhere = 0
    alone = {True: [0, 0], False: [0, 0]}  # alone -> [checked, missed]
    missed_by_object: dict[int, int] = {}
    for f, frame_dets in zip(frames, dets, strict=True):
        rows = truth.rows_at(int(f))
        boxes = [truth.boxes_px[r] for r in rows if truth.class_id[r] == pid]
        ssd = [(d.x * w, d.y * h, d.w * w, d.h * h) for d in frame_dets if d.class_name == "person" and d.score >= 0.5]
        for r in rows:
            height = truth.boxes_px[r][3]
            if truth.class_id[r] != pid or truth.visible[r] < min_visible or height < HEIGHT_BINS_PX[0]:
                continue
            b = int(np.searchsorted(HEIGHT_BINS_PX, height, side="right")) - 1
            checked[b] += 1
            solo = not any(r2 != r and iou_xywh(truth.boxes_px[r2], truth.boxes_px[r]) > 0 for r2 in rows)
            alone[solo][0] += 1
            if not any(iou_xywh(truth.boxes_px[r], s) >= min_iou for s in ssd):
                missed[b] += 1
                alone[solo][1] += 1
                o = int(truth.object_id[r])
                missed_by_object[o] = missed_by_object.get(o, 0) + 1
        for s in ssd:
            n_ssd += 1
            if any(iou_xywh(b, s) >= min_iou for b in boxes):
                continue
            if any(iou_xywh(b, s) >= 0.5 for b in static_boxes):
                on_static += 1
            else:
                elsewhere += 1
    by_height = {
        f"{lo}-{hi}px" if hi < 10_000 else f">={lo}px": {
            "checked": int(c),
            "missed": int(m),
            "miss_rate": float(m / max(c, 1)),
        }
        for lo, hi, c, m in zip(HEIGHT_BINS_PX[:-1], HEIGHT_BINS_PX[1:], checked, missed, strict=True)
    }
    return {
        "people_checked": int(checked.sum()),
        "missed": int(missed.sum()),
        "miss_rate": float(missed.sum() / max(checked.sum(), 1)),
        "by_height": by_height,
        "miss_rate_alone": alone[True][1] / max(alone[True][0], 1),
        "miss_rate_overlapping_another": alone[False][1] / max(alone[False][0], 1),
        "checked_alone": alone[True][0],
        "objects_with_misses": len(missed_by_object),
        "share_of_misses_in_top5_objects": sum(sorted(missed_by_object.values())[-5:]) / max(int(missed.sum()), 1),
        "ssd_person_boxes": n_ssd,
        "ssd_boxes_on_background_false_persons": on_static,
        "ssd_boxes_on_nothing_else": elsewhere,
    }


def track_misses(dets, width, height, min_len=10) -> dict:
    """Frames inside moving IoU-linked SSD tracks (gaps of up to 3 frames bridged) where SSD has no box: the
    detector's misses of a person who is there before and after. Works without truth, so on real footage too."""
    from noscope_core.footage.composite.bank import person_boxes
    from noscope_core.footage.composite.sprites import link_tracks

    boxes = person_boxes(dets, width, height, 0.5)
    inside = missed = 0
    for tr in link_tracks(boxes):
        span = tr[-1][0] - tr[0][0] + 1
        first, last = boxes[tr[0][0]][tr[0][1]], boxes[tr[-1][0]][tr[-1][1]]
        travel = np.hypot(first[0] + first[2] / 2 - last[0] - last[2] / 2, first[1] + first[3] - last[1] - last[3])
        # a track that does not move is the detector's false person on the background (a post, a sign)
        if span < min_len or travel < 0.5 * first[3]:
            continue
        inside += span
        missed += span - len(tr)
    return {"track_frames": inside, "missed": missed, "miss_rate": missed / max(inside, 1)}


def label(video: Path, indices, detector):
    from noscope_core.reference.detect import run_reference
    from noscope_core.reference.detection_cache import home_detection_cache
    from noscope_core.video.probe import probe_video

    info = probe_video(video)
    cache = home_detection_cache(info.fingerprint, detector)
    t = time.perf_counter()
    run = run_reference(video, detector, indices, cache)
    return run, time.perf_counter() - t


def save_png(img: np.ndarray, name: str) -> str:
    """384x288 with 16 levels per channel: a third of the bytes in the repository, enough to judge realism."""
    IMG_DIR.mkdir(parents=True, exist_ok=True)
    small = cv2.resize(img, (384, 288), interpolation=cv2.INTER_AREA)
    path = IMG_DIR / name
    cv2.imwrite(str(path), (small & 0xF0) | 0x08, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return str(path.relative_to(IMG_DIR.parent.parent))


def main(argv=None) -> int:
    from noscope_core.common.paths import default_video, videos_dir
    from noscope_core.footage.composite import LongCameraSpec, load_truth, make_long_camera, truth_path
    from noscope_core.footage.composite.bank import source_bank
    from noscope_core.footage.composite.drift import DriftSpec
    from noscope_core.footage.composite.make import render_frames
    from noscope_core.reference.detectors import make_detector
    from noscope_core.video.frames import read_frames

    args = parse_args(argv)
    if args.demo_seconds is not None:
        return demo_cost(args.demo_seconds, args.seed, args.out.with_name("long_camera_demo.json"))
    out: dict = {"roi": ROI, "seconds": args.seconds, "seed": args.seed}
    spec = LongCameraSpec(seconds=args.seconds, seed=args.seed)
    video = videos_dir() / ("vtest-long.mp4" if args.seconds == 3600 else f"vtest-long-{args.seconds:g}s.mp4")
    t = time.perf_counter()
    bank = source_bank(default_video())
    out["bank_load_s"] = time.perf_counter() - t
    out["source_tracks"] = len(bank.people)
    out["source_views"] = sum(len(tr) for tr in bank.people)
    out["perspective"] = dataclasses.asdict(bank.perspective)
    reuse = video.is_file() and truth_path(video).is_file() and not args.regenerate
    if reuse:
        reuse = load_truth(truth_path(video)).spec_json == spec.to_json()
    if reuse and args.out.is_file():
        # the hour's generation time was measured when it was generated: keep it
        out["generate"] = json.loads(args.out.read_text()).get("generate")
    if not reuse:
        res = make_long_camera(spec, video, bank=bank)
        out["generate"] = {"frames": res.n_frames, "seconds": res.render_seconds, "fps": res.render_fps}
        print(f"generated {res.n_frames} frames in {res.render_seconds:.0f} s ({res.render_fps:.0f} frames/s)")
    truth = load_truth(truth_path(video))
    n = truth.n_frames

    if not args.skip_fps_compare:
        for fps in (10.0, 30.0):
            with tempfile.TemporaryDirectory() as tmp:
                r = make_long_camera(
                    LongCameraSpec(seconds=60, fps=fps, seed=args.seed), Path(tmp) / "c.mp4", bank=bank
                )
                out[f"generate_60s_at_{fps:g}fps"] = {
                    "frames": r.n_frames,
                    "seconds": r.render_seconds,
                    "fps": r.render_fps,
                    "seconds_per_video_hour": r.render_seconds * 60,
                    "bytes_per_video_hour": (Path(tmp) / "c.mp4").stat().st_size * 60,
                }
                print(fps, out[f"generate_60s_at_{fps:g}fps"])

    # truth over the whole video
    pos_truth = truth.positive(ROI, "person", 0.5)
    hours = n / truth.fps / 3600
    out["truth"] = {
        "positive_rate": float(pos_truth.mean()),
        "events_per_hour": len(runs(pos_truth, min_gap=int(truth.fps))) / hours,
        "objects": int(len(np.unique(truth.object_id))),
        "mean_people_on_screen": float(len(truth.frame) / n),
    }

    # SSD on sampled windows
    det = make_detector("ssd-mobilenet-v3")
    win = int(args.window_s * truth.fps)
    starts = np.linspace(0, n - win, args.windows).astype(int)
    idx = np.concatenate([np.arange(s, s + win) for s in starts])
    run, secs = label(video, idx, det)
    static = [
        (d.x * truth.width, d.y * truth.height, d.w * truth.width, d.h * truth.height)
        for d in det.detect([bank.background], [0])[0]
        if d.class_name == "person" and d.score >= 0.5
    ]
    out["ssd_on_empty_background"] = {"false_persons": len(static), "boxes_px": static}
    pos_ssd = ssd_roi_positive(run.detections)
    sampled_truth = pos_truth[idx]
    ev_ssd = sum(len(runs(pos_ssd[k * win : (k + 1) * win], min_gap=int(truth.fps))) for k in range(len(starts)))
    ev_truth = sum(
        len(runs(sampled_truth[k * win : (k + 1) * win], min_gap=int(truth.fps))) for k in range(len(starts))
    )
    cost_ms = run.cost_ms_per_frame
    out["ssd_sample"] = {
        "frames": int(len(idx)),
        "windows": [int(s) for s in starts],
        "frames_detected_now": run.frames_detected,
        "label_seconds": secs,
        "cost_ms_per_frame": cost_ms,
        "label_seconds_per_video_hour": (cost_ms or 0) / 1000 * 3600 * truth.fps,
        "positive_rate_ssd": float(pos_ssd.mean()),
        "positive_rate_truth_same_frames": float(sampled_truth.mean()),
        "frame_agreement": float((pos_ssd == sampled_truth).mean()),
        "ssd_pos_truth_neg": float((pos_ssd & ~sampled_truth).mean()),
        "ssd_neg_truth_pos": float((~pos_ssd & sampled_truth).mean()),
        "events_per_hour_ssd": ev_ssd / (len(idx) / truth.fps / 3600),
        "events_per_hour_truth_same_frames": ev_truth / (len(idx) / truth.fps / 3600),
        "truth_based": truth_misses(truth, idx, run.detections, static),
        "track_based": track_misses_windows(run.detections, win, truth.width, truth.height),
    }
    if run.frames_detected == 0 and args.out.is_file():
        # every frame came from the detection cache: the labelling time is the one measured when they were made
        before = json.loads(args.out.read_text()).get("ssd_sample", {})
        if before.get("frames") == len(idx) and before.get("frames_detected_now"):
            for key in ("frames_detected_now", "label_seconds", "cost_ms_per_frame", "label_seconds_per_video_hour"):
                out["ssd_sample"][key] = before[key]
    print(json.dumps(out["ssd_sample"], indent=1))

    # real vtest.avi: SSD misses inside tracks
    vrun, vsecs = label(default_video(), range(795), det)
    out["vtest"] = {
        "positive_rate_ssd": float(ssd_roi_positive(vrun.detections).mean()),
        "track_based": track_misses(vrun.detections, 768, 576),
        "events_per_hour_ssd": len(runs(ssd_roi_positive(vrun.detections), min_gap=10)) / (795 / 10 / 3600),
    }
    print(json.dumps(out["vtest"], indent=1))

    # pictures: composited frames beside real ones, and the drift variants
    pics = {}
    real = read_frames(default_video(), [100, 400])
    for i, img in zip((100, 400), real, strict=True):
        pics[f"vtest_{i}"] = save_png(img, f"vtest-{i}.png")
    busiest = int(np.argmax(np.bincount(truth.frame, minlength=n)))
    picks = sorted({int(n * 0.15), int(n * 0.53), busiest})
    for f, img in zip(picks, read_frames(video, picks), strict=True):
        pics[f"long_{f}"] = save_png(img, f"long-{f}.png")
    for kind in ("evening", "nudge", "rain", "vehicle"):
        s = LongCameraSpec(seconds=120, seed=args.seed, drift=DriftSpec((kind,), start_fraction=0.25))
        for f, img, placed in render_frames(s, bank):
            moved = f >= 400 and kind != "vehicle"
            if moved or any(p.class_name != "person" and p.visible > 0.95 for p in placed):
                pics[f"drift_{kind}"] = save_png(img, f"long-drift-{kind}.png")
                break
    out["images"] = pics
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from noscope_core.common.atomic import write_json

    write_json(args.out, out)
    print(f"wrote {args.out}")
    return 0


def demo_cost(seconds: float, seed: int, out_path: Path) -> int:
    """Cold cost of a demo-length camera: generation (source material cached) plus SSD on every frame."""
    from noscope_core.common.atomic import write_json
    from noscope_core.common.paths import default_video
    from noscope_core.footage.composite import LongCameraSpec, make_long_camera
    from noscope_core.footage.composite.bank import source_bank
    from noscope_core.reference.detect import run_reference
    from noscope_core.reference.detectors import make_detector

    t = time.perf_counter()
    bank = source_bank(default_video())
    bank_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "demo.mp4"
        res = make_long_camera(LongCameraSpec(seconds=seconds, seed=seed), video, bank=bank)
        det = make_detector("ssd-mobilenet-v3")
        t = time.perf_counter()
        run = run_reference(video, det, range(res.n_frames))  # no cache: a cold demo labels everything
        label_s = time.perf_counter() - t
    out = {
        "seconds": seconds,
        "frames": res.n_frames,
        "bank_load_s": bank_s,
        "generate_s": res.render_seconds,
        "label_s": label_s,
        "label_ms_per_frame": 1000 * label_s / res.n_frames,
        "total_s": bank_s + res.render_seconds + label_s,
        "ssd_positive_rate": float(ssd_roi_positive(run.detections).mean()),
    }
    write_json(out_path, out)
    print(json.dumps(out, indent=1))
    return 0


def track_misses_windows(dets, win, width, height) -> dict:
    parts = [track_misses(dets[k : k + win], width, height) for k in range(0, len(dets), win)]
    inside = sum(p["track_frames"] for p in parts)
    missed = sum(p["missed"] for p in parts)
    return {"track_frames": inside, "missed": missed, "miss_rate": missed / max(inside, 1)}


if __name__ == "__main__":
    raise SystemExit(main())
