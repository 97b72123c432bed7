"""``python -m benchmarks.certified_hours``: train once on hour 1 of the composited camera, answer hours 2..7.

NoScope's use, measured end to end on real pixels: the cascade is trained and chosen on hour 1 (SSD labels of the
whole hour, cached), then ``noscope apply`` answers the later hours -- one answer over all of them, certified on its
own frames at the stated confidence -- and the answer's TRUE error is measured on a uniform random sample of
frames of those hours labelled by SSD (a sample drawn with a fixed, recorded seed that nothing else uses).

Steps, each cached so a run resumes where it stopped:

1. hours: ``noscope make-camera --hour 2-7`` (hour K of the camera; hour 1 is ``vtest-long.mp4``), then the later
   hours joined into one file by remuxing (packets copied, no re-encode: every decoded frame is the hour's own);
2. truth sample: ``--truth-frames`` frames drawn uniformly without replacement over the later hours, labelled by SSD
   into the detection cache of each hour's own file (``--only truth`` does just this, e.g. in the background);
3. train: hour 1 decoded, labelled by SSD, split in time into train / threshold (``TRAIN_SPLIT``), models and
   difference detectors trained once, one cascade chosen per target by the planner for the answer's length (the
   lowest expected certified cost for that many frames);
4. apply: ``python -m noscope_cli apply CASCADE JOINED.mp4 --json ...`` per target in a child process (its peak RSS
   read from ``wait4``), the reference's cost declared at the rate this benchmark measured on fresh frames, so
   certification and tightening are charged at the reference's measured per-frame cost;
5. judge: the answer (its positive intervals) read at the sampled frames against SSD there -> sampled FNR / FPR
   with Clopper-Pearson 95 % intervals, beside the certificate's bounds; the ceiling N*t*p/ln(2/delta).

Memory: ``--rss-check`` also applies the first target to the first later hour alone, and the JSON records both
peak RSS figures (the answer must stream: within 10 % of each other).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks import harness

RESULTS_DIR = harness.RESULTS_DIR
NAME = "certified_hours"
#: the question: a person in the bottom-left quadrant (the region `make demo` and docs/long_camera.md ask)
ROI_BL = (0.0, 0.5, 0.5, 1.0)
REFERENCE = "ssd-mobilenet-v3"
#: the composited camera's frame rate (make-camera's default)
CAMERA_FPS = 10.0
#: hour 1 split in time: 60 % train, 39 % threshold, and the 1 % test share a split must have (never labelled nor
#: used here: the later hours are the test). The threshold segment is large because the planner estimates the
#: certificate's cost from it; the split's automatic blocks interleave both over the hour's daily rhythm.
TRAIN_SPLIT = (0.60, 0.39, 0.01)
#: the truth sample's seed: fixed, recorded, and used by nothing else in the system
SAMPLE_SEED = 20_211_107
#: the truth sample's size: a uniform sample of >= 10,000 frames (issue 21)
DEFAULT_TRUTH_FRAMES = 10_000
#: frames (spread over the first later hour) on which the reference's per-frame cost is timed
REFERENCE_TIMING_FRAMES = 64


@dataclass(frozen=True)
class Hours:
    """The camera's hours this benchmark reads: hour 1 (train) and the later ones (answered)."""

    base: Path  # hour 1: $NOSCOPE_HOME/videos/vtest-long.mp4
    later: tuple[int, ...]
    frames: int = 36_000  # frames per "hour" (the camera's --seconds times its fps)

    def path(self, hour: int) -> Path:
        from noscope_core.footage.composite.make import hour_path

        return hour_path(self.base, hour)

    @property
    def joined(self) -> Path:
        return self.base.with_name(f"{self.base.stem}-h{self.later[0]}-{self.later[-1]}{self.base.suffix}")


def parse_hours(text: str) -> tuple[int, ...]:
    a, sep, b = text.partition("-")
    try:
        first, last = int(a), int(b) if sep else int(a)
    except ValueError:
        raise SystemExit(f"--hours must be K or A-B with A >= 2 (e.g. 2-7), got {text!r}") from None
    if not 2 <= first <= last:
        raise SystemExit(f"--hours {text!r}: the later hours start at 2 (hour 1 trains) and A-B needs A <= B")
    return tuple(range(first, last + 1))


def truth_sample(frames_per_hour: Sequence[int], n: int, seed: int = SAMPLE_SEED) -> list[np.ndarray]:
    """``n`` frames uniformly without replacement over the hours laid end to end: sorted indices per hour."""
    total = int(sum(frames_per_hour))
    if not 0 < n <= total:
        raise ValueError(f"cannot sample {n} frames from {total}")
    flat = np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))
    edges = np.concatenate([[0], np.cumsum(frames_per_hour)])
    return [flat[(flat >= a) & (flat < b)] - a for a, b in zip(edges[:-1], edges[1:], strict=True)]


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact two-sided interval for a binomial proportion (``(nan, nan)`` when ``n`` is 0)."""
    from scipy.stats import beta

    if n == 0:
        return float("nan"), float("nan")
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def ceiling(n_frames: int, target: float, positive_share: float, confidence: float) -> float:
    """The certified speed-up's cap N*t*p/ln(2/delta): the certificate costs about ln(2/delta)/(t*p) reference
    frames whatever the answer's length (docs/guarantees.md)."""
    return n_frames * target * positive_share / math.log(2.0 / (1.0 - confidence))


def answer_at(intervals: Sequence[Sequence[int]], frames: np.ndarray) -> np.ndarray:
    """The answer (half-open ``[start, end)`` positive intervals) read at ``frames``."""
    frames = np.asarray(frames, dtype=np.int64)
    if not len(intervals):
        return np.zeros(len(frames), dtype=bool)
    iv = np.asarray(intervals, dtype=np.int64).reshape(-1, 2)
    iv = iv[np.argsort(iv[:, 0])]
    k = np.searchsorted(iv[:, 0], frames, side="right") - 1
    return (k >= 0) & (frames < iv[np.maximum(k, 0), 1])


def sampled_error(answer: np.ndarray, truth: np.ndarray, level: float = 0.95) -> dict:
    """FNR / FPR of ``answer`` against ``truth`` on the sample, each with its Clopper-Pearson interval."""
    answer, truth = np.asarray(answer, bool), np.asarray(truth, bool)
    pos, neg = int(truth.sum()), int((~truth).sum())
    fn, fp = int((truth & ~answer).sum()), int((~truth & answer).sum())
    return {
        "sample_frames": int(len(truth)),
        "sample_positives": pos,
        "sample_fn": fn,
        "sample_fp": fp,
        "sample_fnr": fn / pos if pos else float("nan"),
        "sample_fpr": fp / neg if neg else float("nan"),
        "sample_fnr_ci": list(clopper_pearson(fn, pos, level)),
        "sample_fpr_ci": list(clopper_pearson(fp, neg, level)),
    }


def judge(run: dict) -> dict:
    """A run's goal counts only when its accuracy is met: certified, and the sampled error within the bounds."""
    within = (
        run.get("certified") is True
        and run.get("fnr_bound") is not None
        and run.get("fpr_bound") is not None
        and run["sample_fnr"] <= run["fnr_bound"]
        and run["sample_fpr"] <= run["fpr_bound"]
    )
    # the sampled error against the TARGETS too: the bounds are what was promised, the targets what was asked
    target_met = run["sample_fnr"] <= run["max_fnr"] and run["sample_fpr"] <= run["max_fpr"]
    goal = 200.0 if run["max_fnr"] >= 0.05 else 50.0
    return {
        "accuracy_met": bool(within),
        "sample_within_targets": bool(target_met),
        "speedup_goal": goal,
        "goal_met": bool(within and run["speedup"] >= goal),
    }


# ---------------------------------------------------------------- footage


def make_hours(hours: Hours, seconds: float, log: Callable[[str], None]) -> None:
    """Render the hours that are missing (``noscope make-camera --hour K``, deterministic, minutes each)."""
    for h in (1, *hours.later):
        if not hours.path(h).is_file():
            log(f"rendering hour {h} -> {hours.path(h)} ...")
            cmd = [sys.executable, "-m", "noscope_cli", "make-camera", str(hours.base), "--hour", str(h)]
            subprocess.run([*cmd, "--seconds", f"{seconds:g}"], check=True)


def join_videos(videos: Sequence[Path], out: Path) -> Path:
    """``videos`` one after another in ``out`` by remuxing (packets copied, timestamps shifted; no re-encode).

    A manifest beside ``out`` records the sources' fingerprints; an ``out`` that matches it is kept as it is."""
    import av

    from noscope_core.common.atomic import atomic_path, write_json
    from noscope_core.video.probe import file_fingerprint, probe_video

    manifest = out.with_suffix(".join.json")
    sources = [{"path": str(v), "fingerprint": probe_video(v).fingerprint} for v in videos]
    if out.is_file() and manifest.is_file():
        recorded = json.loads(manifest.read_text())
        if recorded.get("sources") == sources and recorded.get("fingerprint") == file_fingerprint(out):
            return out
    with atomic_path(out, suffix=out.suffix) as tmp, av.open(str(tmp), "w") as dst:
        stream = None
        offset = 0  # in the first source's time base
        for v in videos:
            with av.open(str(v)) as src:
                s = src.streams.video[0]
                if stream is None:
                    stream = dst.add_stream_from_template(s)
                    time_base = s.time_base
                if s.time_base != time_base:
                    raise ValueError(f"{v}: time base {s.time_base} differs from {time_base}; cannot join by remux")
                end = offset
                for pkt in src.demux(s):
                    if pkt.dts is None:  # the demuxer's flush packet
                        continue
                    pkt.dts += offset
                    pkt.pts += offset
                    end = max(end, pkt.pts + (pkt.duration or 0))
                    pkt.stream = stream
                    dst.mux(pkt)
                offset = end
    write_json(manifest, {"sources": sources, "fingerprint": file_fingerprint(out)})
    return out


# ---------------------------------------------------------------- reference labels


def _detector(video: Path):
    from noscope_core.reference.detectors import make_detector
    from noscope_core.video.probe import probe_video

    info = probe_video(video)
    return make_detector(REFERENCE, frame_size=(info.width, info.height)), info


def label_truth(
    hours: Hours, n: int, seed: int, log: Callable[[str], None], wait_s: float = 0.0
) -> dict[int, np.ndarray]:
    """SSD on the truth sample, hour by hour, into each hour's detection cache (resumable). ``wait_s`` > 0: wait
    for hours still being rendered, polling every ``wait_s`` seconds."""
    from noscope_core.reference.detect import run_reference
    from noscope_core.reference.detection_cache import home_detection_cache

    sample = dict(zip(hours.later, truth_sample([hours.frames] * len(hours.later), n, seed), strict=True))
    for h, idx in sample.items():
        video = hours.path(h)
        while not video.is_file() and wait_s > 0:
            time.sleep(wait_s)
        detector, info = _detector(video)
        if info.frame_count != hours.frames:
            raise SystemExit(f"{video} holds {info.frame_count} frames, not the hour's {hours.frames}: make it again")
        cache = home_detection_cache(info.fingerprint, detector)
        todo = cache.missing(idx)
        log(f"truth sample, hour {h}: {len(idx)} frames, {len(todo)} to label")
        for a in range(0, len(todo), 200):
            run_reference(video, detector, todo[a : a + 200], cache=cache)
            log(f"  hour {h}: {min(a + 200, len(todo))}/{len(todo)}")
    return sample


def truth_labels(hours: Hours, sample: dict[int, np.ndarray], query) -> np.ndarray:
    """The reference's (unsmoothed) labels of the sampled frames, hours in order; every frame must be cached."""
    from noscope_core.reference.detection_cache import home_detection_cache
    from noscope_core.reference.labels import frame_label

    out = []
    for h, idx in sample.items():
        detector, info = _detector(hours.path(h))
        cache = home_detection_cache(info.fingerprint, detector)
        if missing := cache.missing(idx):
            raise SystemExit(f"hour {h}: {len(missing)} sampled frames lack SSD labels: run --only truth first")
        out.append(np.array([frame_label(d, query) for d in cache.get(idx)], dtype=bool))
    return np.concatenate(out)


def reference_cost_ms(video: Path) -> float:
    """SSD's per-frame cost, timed here on ``REFERENCE_TIMING_FRAMES`` frames spread over ``video`` (one batch after
    a warm-up frame; decoding not included, as the cascade's own rate excludes it)."""
    from noscope_core.reference.detect import measure_cost_ms

    detector, info = _detector(video)
    cost = measure_cost_ms(video, detector, range(info.frame_count), n=REFERENCE_TIMING_FRAMES)
    if cost is None:
        raise SystemExit(f"cannot time {REFERENCE} on {video}: its frames do not decode")
    return cost


# ---------------------------------------------------------------- train once


def camera_spec(video: Path, target: float, confidence: float, split=TRAIN_SPLIT):
    from noscope_core.spec.camera import CameraSpec, SplitSpec, Targets
    from noscope_core.spec.query import ROI, Query

    return CameraSpec(
        video=video,
        query=Query("person", ROI(*ROI_BL)),
        camera_id="certified-hours",
        reference=REFERENCE,
        targets=Targets(target, target, confidence),
        split=SplitSpec(tuple(split)),
    )


def train_work(home: Path, hours: Hours, spec) -> Path:
    """Where hour 1's store, models, difference detectors and cascades live: keyed on what decides the models (the
    video, the split and the family trained: its names and epochs)."""
    from noscope_core.models import model_artifact
    from noscope_core.video.probe import probe_video

    split = tuple(spec.split.fractions)
    family = ",".join(m.name for m in model_artifact.model_family(spec.training.models))
    key = hashlib.sha256(f"{split}|{family}|{spec.training.max_epochs}".encode()).hexdigest()[:8]
    return home / "bench" / NAME / f"train-{probe_video(hours.base).fingerprint[:12]}-{key}"


def train_once(
    home: Path,
    hours: Hours,
    targets: Sequence[float],
    confidence: float,
    footage_frames: int,
    log,
    split: Sequence[float] = TRAIN_SPLIT,
) -> dict[float, Path]:
    """Hour 1 -> one cascade.json per target (models and difference detectors trained once, shared)."""
    from noscope_core.common.artifacts import is_complete
    from noscope_core.flows import stages
    from noscope_core.models import difference_artifact, model_artifact
    from noscope_core.reference.detection_cache import home_detection_cache
    from noscope_core.reference.label_artifact import FIT_SEGMENTS

    spec = camera_spec(hours.base, targets[0], confidence, split)
    detector, info = _detector(hours.base)
    work = train_work(home, hours, spec)
    log(f"train: decoding hour 1 ({info.frame_count} frames) into {work / 'frames'} ...")
    store = stages.decode(spec, work / "frames", progress=False)
    cache = home_detection_cache(info.fingerprint, detector)
    if missing := len(cache.missing(range(info.frame_count))):
        log(f"train: {missing} of hour 1's frames lack SSD labels; labelling them now (cached) ...")
    labels = stages.label(spec, store, detector, FIT_SEGMENTS, cache_root=home / "cache" / "detections")
    log("train: positive rate " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in labels.positive_rates().items()))
    if (reason := stages.fallback_reason(labels)) is not None:  # nothing to learn: the reference answers
        log(f"train: {reason} -- the reference on every frame")
        out = {}
        for t in targets:
            out[t] = work / f"cascade-{t:g}.json"
            stages.reference_only(camera_spec(hours.base, t, confidence, split), store, labels, reason, out[t])
        return out
    models_dir, dd_dir = work / "models", work / "difference"
    if is_complete(models_dir):
        models = model_artifact.load_models(models_dir, spec.query)
    else:
        log("train: specialized models ...")
        models = [r.model for r in stages.train(spec, store, labels, models_dir)]
    if is_complete(dd_dir):
        dds = difference_artifact.load_difference(dd_dir, spec.query)
    else:
        dds = difference_artifact.fit_difference(store, labels, dd_dir)
    out = {}
    for t in targets:
        cascade_json = work / f"cascade-{t:g}.json"
        if not cascade_json.is_file():
            log(f"train: optimizing for {t:.0%}/{t:.0%} at {confidence:g} ...")
            spec_t = camera_spec(hours.base, t, confidence, split)
            art = stages.optimize(
                spec_t, store, labels, models, dds, out_path=cascade_json, models_dir=models_dir, dd_dir=dd_dir,
                footage_frames=footage_frames,  # the planner prices each cascade for the answer's length
            )  # fmt: skip
            log(f"      chosen: {art.describe()}")
        out[t] = cascade_json
    return out


# ---------------------------------------------------------------- apply


def apply_child(
    cascade_json: Path, video: Path, reference_fps: float, confidence: float, out_json: Path
) -> tuple[dict, int]:
    """``noscope apply`` in a child process: (its JSON, its peak RSS in bytes)."""
    models_dir = cascade_json.parent / "models"
    dd_dir = cascade_json.parent / "difference"
    cmd = [sys.executable, "-m", "noscope_cli", "apply", str(cascade_json), str(video), "--json", str(out_json)]
    cmd += ["--models", str(models_dir), "--difference", str(dd_dir), "--reference-fps", f"{reference_fps:.6g}"]
    cmd += ["--confidence", f"{confidence:g}"]
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"noscope apply failed ({proc.returncode}): {' '.join(cmd)}")
    return json.loads(out_json.read_text()), int(usage.ru_maxrss) * 1024


def summarize(
    data: dict,
    target: float,
    confidence: float,
    reference_ms: float,
    answer_truth: tuple[np.ndarray, np.ndarray],
    positive_share: float,
    commit: str | None,
) -> dict:
    """One run's row: the speed-ups re-charged at the measured reference cost, the ceiling, the sampled error."""
    n = int(data["frames_test"])
    certify_frames = int(data.get("certify_frames") or 0)
    tighten_frames = int(data.get("tighten_frames") or 0)
    checked = certify_frames + tighten_frames
    # the cascade's own time (decode excluded, as NoScope measured it) = charged time - certification's share
    cascade_s = n / data["cascade_fps"] - float(data.get("certify_seconds") or 0.0)
    charged_s = cascade_s + checked * reference_ms / 1000.0
    speedup = n * reference_ms / 1000.0 / charged_s
    e2e = data.get("speedup_e2e")
    run = {
        "frames": n,
        "max_fnr": target,
        "max_fpr": target,
        "confidence": confidence,
        "speedup": speedup,
        "speedup_e2e": e2e,
        "speedup_reported": data.get("speedup"),
        "reference_ms": reference_ms,
        "certified": data.get("certified"),
        "fnr_bound": data.get("fnr_bound"),
        "fpr_bound": data.get("fpr_bound"),
        "certify_frames": certify_frames,
        "tighten_frames": tighten_frames,
        "reference_call_fraction": data.get("reference_call_fraction"),
        "cascade": data.get("cascade", {}).get("describe") or data.get("cascade"),
        "fell_back": data.get("fell_back"),
        "certify_reason": data.get("certify_reason"),
        "positive_share": positive_share,
        "ceiling": ceiling(n, target, positive_share, confidence),
        "commit": commit,
    }
    run["ratio_to_ceiling"] = run["speedup"] / run["ceiling"] if run["ceiling"] > 0 else None
    run.update(before_certificate(data, n, positive_share))
    run.update(sampled_error(*answer_truth))
    run.update(judge(run))
    return run


def kept_runs(path: Path, meta: dict, targets: Sequence[float]) -> list[dict]:
    """The earlier results' runs of targets this run does not answer, when they answered the same hours (same
    frames, confidence, truth sample): a long run per target (hours each) adds its row beside the others' (each
    row names its commit) instead of wiping them."""
    if not path.is_file():
        return []
    old = json.loads(path.read_text())
    same = ("hours", "frames", "confidence", "truth_frames", "sample_seed")
    if any(old.get("meta", {}).get(k) != meta.get(k) for k in same):
        return []
    return [r for r in old.get("runs", []) if not any(math.isclose(r["max_fnr"], t) for t in targets)]


def before_certificate(data: dict, n: int, positive_share: float) -> dict:
    """The cascade's own error rates on these hours before the certificate corrected them, estimated from its
    uniform draws, beside the rates the planner expected from the threshold segment: how far the threshold
    segment's estimate travels to new hours."""
    sample = data.get("certify_sample")
    shape = (data.get("cascade") or {}).get("answer_shape") if isinstance(data.get("cascade"), dict) else None
    out: dict = {}
    positives, negatives = positive_share * n, (1.0 - positive_share) * n
    if sample:
        out["cascade_fnr_estimated"] = sample["estimated_missed"] / positives if positives else None
        out["cascade_fpr_estimated"] = sample["estimated_false"] / negatives if negatives else None
    if shape:
        out["planner_fnr"] = shape["missed"] * n / positives if positives else None
        out["planner_fpr"] = shape["false_present"] * n / negatives if negatives else None
    return out


def _pct(x) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f} %"


def render(result: dict) -> str:
    meta = result.get("meta", {})
    lines = [
        "# Certified hours: train once on hour 1, answer the later hours",
        "",
        f"`python -m benchmarks.certified_hours` (commit {meta.get('commit')}, {meta.get('date_utc')}, "
        f"{meta.get('machine')}). Hour 1 of the composited camera trains (SSD labels, split "
        f"{'/'.join(f'{f:g}' for f in meta.get('train_split', TRAIN_SPLIT))} in time); hours {meta.get('hours')} are answered as one "
        f"{meta.get('frames', 0):,}-frame video by `noscope apply`, certified at {meta.get('confidence')}. True "
        f"error: {meta.get('truth_frames', 0):,} frames drawn uniformly (seed {meta.get('sample_seed')}) and "
        f"labelled by SSD; reference cost {meta.get('reference_ms', float('nan')):.1f} ms/frame, measured "
        "(a row from another commit was charged at its own run's rate: see the JSON).",
        "",
        "| target | commit | frames | speed-up | end to end | certify + tighten frames | ceiling N·t·p̂/ln(2/δ) | ratio | "
        "certified bounds FNR / FPR | sampled FNR [95 %] | sampled FPR [95 %] | accuracy met | goal met |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|---|---|---|",
    ]
    for r in result.get("runs", []):
        e2e = f"{r['speedup_e2e']:.1f}x" if r.get("speedup_e2e") else "–"
        lines.append(
            f"| {r['max_fnr']:.0%}/{r['max_fpr']:.0%} | {r.get('commit') or '–'} | {r['frames']:,} | {r['speedup']:.1f}x | {e2e} | "
            f"{r['certify_frames']:,} + {r['tighten_frames']:,} | {r['ceiling']:.0f}x | "
            f"{(r['ratio_to_ceiling'] or 0):.0%} | {_pct(r['fnr_bound'])} / {_pct(r['fpr_bound'])} | "
            f"{_pct(r['sample_fnr'])} [{_pct(r['sample_fnr_ci'][0])}, {_pct(r['sample_fnr_ci'][1])}] | "
            f"{_pct(r['sample_fpr'])} [{_pct(r['sample_fpr_ci'][0])}, {_pct(r['sample_fpr_ci'][1])}] | "
            f"{'yes' if r['accuracy_met'] else 'no'} | "
            f"{'yes' if r['goal_met'] else 'no'} (≥ {r['speedup_goal']:g}x) |"
        )
    rss = result.get("rss")
    if rss:
        lines += [
            "",
            f"Peak RSS of `noscope apply`: {rss['one_hour_mib']:.0f} MiB on one hour, {rss['all_hours_mib']:.0f} MiB "
            f"on {rss['hours']} hours ({rss['ratio']:.2f}x; goal within 10 %: {'met' if rss['met'] else 'not met'}).",
        ]
    lines += ["", "A goal counts only when its accuracy is met (certified, sampled error within the bounds)."]
    return "\n".join(lines) + "\n"


def parse_args(argv=None) -> argparse.Namespace:
    p = harness.parser("benchmarks.certified_hours", __doc__)
    p.add_argument("--hours", default="2-7", help="the later hours answered (default 2-7)")
    p.add_argument("--camera", default="vtest-long", help="the camera's name under $NOSCOPE_HOME/videos")
    p.add_argument("--seconds", type=float, default=3600.0, help="length of each 'hour' (a dry run: e.g. 20)")
    p.add_argument("--targets", default="0.01,0.05", help="FNR = FPR targets, comma-separated")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--truth-frames", type=int, default=DEFAULT_TRUTH_FRAMES)
    p.add_argument("--split", default=",".join(f"{f:g}" for f in TRAIN_SPLIT), help="hour 1's train,threshold,test")
    p.add_argument("--only", choices=("hours", "truth"), help="only render the hours / only label the truth sample")
    p.add_argument("--wait", type=float, default=0.0, help="with --only truth: wait for hours being rendered")
    p.add_argument("--rss-check", action="store_true", help="also apply the first target to one hour (peak RSS)")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    return p.parse_args(argv)


def main(argv=None) -> int:
    from benchmarks.run import _git_commit
    from noscope_core.common.atomic import write_json
    from noscope_core.common.paths import noscope_home, videos_dir
    from noscope_core.spec.query import ROI, Query

    args = parse_args(argv)
    targets = [float(t) for t in args.targets.split(",") if t.strip()]
    home = noscope_home()
    hours = Hours(videos_dir() / f"{args.camera}.mp4", parse_hours(args.hours), int(round(args.seconds * CAMERA_FPS)))

    def log(msg: str) -> None:
        print(msg, flush=True)

    if args.only == "truth":
        label_truth(hours, args.truth_frames, SAMPLE_SEED, log, wait_s=args.wait)
        return 0
    make_hours(hours, args.seconds, log)
    if args.only == "hours":
        return 0
    sample = label_truth(hours, args.truth_frames, SAMPLE_SEED, log)
    query = Query("person", ROI(*ROI_BL))
    truth = truth_labels(hours, sample, query)
    from noscope_core.video.probe import probe_video

    counts = [probe_video(hours.path(h)).frame_count for h in hours.later]
    offsets = dict(zip(hours.later, np.concatenate([[0], np.cumsum(counts)[:-1]]).tolist(), strict=True))
    sample_joined = np.concatenate([sample[h] + offsets[h] for h in hours.later])
    joined = join_videos([hours.path(h) for h in hours.later], hours.joined)
    frames = int(sum(counts))
    log(f"joined {len(hours.later)} hours: {joined} ({frames:,} frames)")
    split = tuple(float(f) for f in args.split.split(","))
    cascades = train_once(home, hours, targets, args.confidence, frames, log, split)
    reference_ms = reference_cost_ms(hours.path(hours.later[0]))
    log(f"reference: {reference_ms:.1f} ms/frame measured on {REFERENCE_TIMING_FRAMES} frames of hour {hours.later[0]}")
    positive_share = float(truth.mean())
    commit = _git_commit()
    answers = home / "bench" / NAME / "answers"
    answers.mkdir(parents=True, exist_ok=True)
    result = {
        "meta": {
            "commit": commit,
            "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            "machine": f"{os.cpu_count()} CPU cores",
            "hours": f"{hours.later[0]}-{hours.later[-1]}",
            "frames": frames,
            "confidence": args.confidence,
            "truth_frames": int(len(truth)),
            "sample_seed": SAMPLE_SEED,
            "reference_ms": reference_ms,
            "train_split": list(split),
        },
        "runs": [],
    }
    result["runs"] = kept_runs(args.results_dir / f"{NAME}.json", result["meta"], targets)
    rss_all = None
    for t in targets:
        out_json = answers / f"{joined.stem}-{t:g}-{commit}.json"
        if out_json.is_file():
            data, rss = json.loads(out_json.read_text()), None
        else:
            log(f"apply {t:.0%}/{t:.0%}: {joined} ...")
            data, rss = apply_child(cascades[t], joined, 1000.0 / reference_ms, args.confidence, out_json)
        rss_all = rss_all or rss
        answer = answer_at(data["intervals"], sample_joined)
        run = summarize(data, t, args.confidence, reference_ms, (answer, truth), positive_share, commit)
        run["peak_rss_bytes"] = rss
        result["runs"].append(run)
        write_json(args.results_dir / f"{NAME}.json", result)
    if args.rss_check and rss_all:
        one = hours.path(hours.later[0])
        _, rss_one = apply_child(
            cascades[targets[0]], one, 1000.0 / reference_ms, args.confidence, answers / "one.json"
        )
        result["rss"] = {
            "one_hour_mib": rss_one / 2**20,
            "all_hours_mib": rss_all / 2**20,
            "hours": len(hours.later),
            "ratio": rss_all / rss_one,
            "met": abs(rss_all / rss_one - 1) <= 0.10,
        }
    harness.publish(args.results_dir, NAME, result, render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
