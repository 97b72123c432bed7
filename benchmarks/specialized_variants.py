"""``python -m benchmarks.specialized_variants``: which specialized models are good enough to certify, measured.

On hour 1 of the composited camera (person in the bottom-left quadrant), every variant trains on the first
``--train-minutes`` (every ``--train-step``-th frame; the last fifth of that stretch validates for early stopping)
and is scored on the last ``--eval-minutes``, frames it never saw. Variants differ in one thing at a time from the
base (today's default view and its smallest model): input size and ROI margin (people in the ROI are small),
architecture, training frames, class balance, light/noise augmentation, the reference's scores as soft targets.

Per variant: held-out AUC, recall at 1 % FPR, the share of held-out frames a cascade would still send to the
reference to reach FNR and FPR of a third of 1 % and of 5 % (the frames between the two thresholds, both set on
the held-out scores: an optimistic but like-for-like figure), inference frames/s, training seconds.

With ``--sample-hour K`` (default 2), every variant is also scored against SSD on the frames of hour K's truth
sample that SSD has labelled (``benchmarks.certified_hours``'s fixed-seed sample, read from the detection cache):
frames of another hour, and the reference the cascade must agree with.

Labels: ``--labels ssd`` (default) reads SSD's detections from the detection cache (hour 1 must be labelled over
both stretches); ``--labels truth`` uses the composited camera's placement truth (a person >= half visible centred
in the region), available at once, for a ranking before SSD has labelled the hour. The JSON records which.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks import harness

RESULTS_DIR = harness.RESULTS_DIR
NAME = "specialized_variants"
ROI_BL = (0.0, 0.5, 0.5, 1.0)


@dataclass(frozen=True)
class Variant:
    """One specialized-model recipe: its view (size, ROI margin), architecture and training options."""

    name: str
    size: int = 50
    margin: float = 0.1
    blocks: int = 1
    filters: int = 32
    dense: int = 32
    stride: int = 2  # the stem's stride
    double_filters: bool = False
    train_step: int | None = None  # None: the run's --train-step
    balance: bool = True
    augment: bool = True
    noise_sigma: float = 0.0
    soft: bool = False
    note: str = field(default="", compare=False)

    def model_spec(self):
        from noscope_core.models.specialized import ModelSpec

        return ModelSpec(
            conv_blocks=self.blocks,
            filters=self.filters,
            dense=self.dense,
            input_size=self.size,
            stem_stride=self.stride,
            double_filters=self.double_filters,
        )

    def view(self):
        from noscope_core.spec.query import ROI
        from noscope_core.video.views import ViewSpec

        return ViewSpec(self.size, roi=ROI(*ROI_BL), margin=self.margin)


VARIANTS = (
    Variant("base", note="today's view (50 px, margin 0.1) and c1-f32-d32-s2"),
    Variant("c2-d64", blocks=2, dense=64, note="deeper, same view"),
    Variant("i64-m0.05", size=64, margin=0.05, note="larger input, tighter crop"),
    Variant("i80-m0", size=80, margin=0.0, note="larger input, crop = ROI"),
    Variant("all", train_step=1, note="every training frame (3x)"),
    Variant("unbalanced", balance=False, note="no class weight"),
    Variant("noaug", augment=False, note="no light jitter"),
    Variant("noise", noise_sigma=4.0, note="light jitter + pixel noise (sigma 4)"),
    Variant("soft", soft=True, note="SSD's scores as soft targets (ssd labels only)"),
)


def recall_at_fpr(scores: np.ndarray, truth: np.ndarray, fpr: float = 0.01) -> float:
    """Recall at the lowest threshold whose false-positive rate on ``truth``'s negatives is at most ``fpr``."""
    neg, pos = scores[~truth], scores[truth]
    if not len(neg) or not len(pos):
        return float("nan")
    threshold = np.quantile(neg, 1.0 - fpr, method="higher")
    return float((pos > threshold).mean())


def reference_share(scores: np.ndarray, truth: np.ndarray, max_fnr: float, max_fpr: float) -> float:
    """Share of frames between the thresholds that keep FNR <= ``max_fnr`` (below: negative) and FPR <= ``max_fpr``
    (above: positive): what a cascade of this model alone would send to the reference."""
    neg, pos = scores[~truth], scores[truth]
    if not len(neg) or not len(pos):
        return float("nan")
    low = np.quantile(pos, max_fnr, method="lower")
    high = np.quantile(neg, 1.0 - max_fpr, method="higher")
    return float(((scores >= low) & (scores <= high)).mean()) if low <= high else 0.0


def load_labels(video: Path, kind: str, needed: np.ndarray, query) -> tuple[np.ndarray, np.ndarray]:
    """(hard labels, soft scores in [0, 1]) of every frame, read at the ``needed`` ones (False / 0 elsewhere); soft
    is the hard label for ``truth``."""
    if kind == "truth":
        from noscope_core.footage.composite.truth import load_truth, truth_path

        y = load_truth(truth_path(video)).positive(ROI_BL)
        return y, y.astype(np.float32)
    from benchmarks.certified_hours import REFERENCE
    from noscope_core.reference.detection_cache import home_detection_cache
    from noscope_core.reference.detectors import make_detector
    from noscope_core.reference.labels import frame_label, match_score
    from noscope_core.video.probe import probe_video

    info = probe_video(video)
    cache = home_detection_cache(info.fingerprint, make_detector(REFERENCE, frame_size=(info.width, info.height)))
    if missing := cache.missing(needed):
        raise SystemExit(f"{len(missing)} of the {len(needed)} frames lack SSD labels: wait, or use --labels truth")
    y, soft = np.zeros(info.frame_count, dtype=bool), np.zeros(info.frame_count, dtype=np.float32)
    for i, d in zip(needed.tolist(), cache.get(needed), strict=True):
        y[i], soft[i] = frame_label(d, query), match_score(d, query)
    return y, np.clip(soft, 0.0, 1.0)


def sample_of_hour(hour: int, query) -> tuple[np.ndarray, np.ndarray] | None:
    """(frame indices, SSD labels) of hour ``hour``'s truth-sample frames that SSD has labelled; None if none."""
    from benchmarks import certified_hours as ch
    from noscope_core.common.paths import videos_dir
    from noscope_core.reference.detection_cache import home_detection_cache
    from noscope_core.reference.labels import frame_label

    hours = ch.Hours(videos_dir() / "vtest-long.mp4", ch.parse_hours("2-7"))
    if hour not in hours.later or not hours.path(hour).is_file():
        return None
    idx = ch.truth_sample([hours.frames] * len(hours.later), 10_000)[hours.later.index(hour)]
    detector, info = ch._detector(hours.path(hour))
    cache = home_detection_cache(info.fingerprint, detector)
    done = np.setdiff1d(idx, cache.missing(idx))
    if not len(done):
        return None
    return done, np.array([frame_label(d, query) for d in cache.get(done)], dtype=bool)


class SampleViews:
    """Hour K's sampled frames in each wanted view: decoded once in chunks, each chunk shrunk to every view (the
    full frames are never all held: 1,700 of them would take 2 GB)."""

    def __init__(self, hour: int, frames: np.ndarray, views) -> None:
        from benchmarks import certified_hours as ch
        from noscope_core.common.paths import videos_dir
        from noscope_core.video.frames import read_frames
        from noscope_core.video.shrink import preprocess

        path = ch.Hours(videos_dir() / "vtest-long.mp4", (hour,)).path(hour)
        views = {v.name: v for v in views}
        parts: dict[str, list[np.ndarray]] = {name: [] for name in views}
        for a in range(0, len(frames), 100):
            full = read_frames(path, frames[a : a + 100].tolist())
            for name, v in views.items():
                parts[name].append(preprocess(full, v))
        self._views = {name: np.concatenate(p) for name, p in parts.items()}

    def view(self, view) -> np.ndarray:
        return self._views[view.name]


def scores_against(scores: np.ndarray, truth: np.ndarray, prefix: str) -> dict:
    from sklearn.metrics import roc_auc_score

    both = truth.any() and not truth.all()
    return {
        f"{prefix}frames": int(len(truth)),
        f"{prefix}positive_share": float(truth.mean()),
        f"{prefix}auc": float(roc_auc_score(truth, scores)) if both else float("nan"),
        f"{prefix}recall_at_1pct_fpr": recall_at_fpr(scores, truth, 0.01),
        f"{prefix}reference_share_1pct": reference_share(scores, truth, 0.01 / 3, 0.01 / 3),
        f"{prefix}reference_share_5pct": reference_share(scores, truth, 0.05 / 3, 0.05 / 3),
    }


def measure(
    variant: Variant, store, y, soft, train_idx, val_idx, eval_idx, epochs: int, sample=None, sample_views=None
) -> dict:
    from sklearn.metrics import roc_auc_score

    from noscope_core.models.specialized import measure_fps
    from noscope_core.models.training import train_models

    frames = store.frames(variant.view())
    result = train_models(
        [variant.model_spec()],
        frames[train_idx],
        y[train_idx],
        frames[val_idx],
        y[val_idx],
        max_epochs=epochs,
        augment=variant.augment,
        noise_sigma=variant.noise_sigma,
        balance=variant.balance,
        train_targets=soft[train_idx] if variant.soft else None,
    )[0]
    x_eval = np.asarray(frames[eval_idx])
    scores = result.model.predict_proba(x_eval)
    truth = y[eval_idx]
    on_sample = {}
    if sample is not None and sample_views is not None:
        on_sample = scores_against(result.model.predict_proba(sample_views.view(variant.view())), sample[1], "ssd_")
    return {
        **dataclasses.asdict(variant),
        "model": result.model.name,
        "train_frames": int(len(train_idx)),
        "eval_frames": int(len(eval_idx)),
        "eval_positive_share": float(truth.mean()),
        "auc": float(roc_auc_score(truth, scores)),
        "recall_at_1pct_fpr": recall_at_fpr(scores, truth, 0.01),
        "reference_share_1pct": reference_share(scores, truth, 0.01 / 3, 0.01 / 3),
        "reference_share_5pct": reference_share(scores, truth, 0.05 / 3, 0.05 / 3),
        "fps": measure_fps(result.model, x_eval[:2048]),
        "train_seconds": result.train_seconds,
        "epochs": result.epochs,
        **on_sample,
    }


def render(result: dict) -> str:
    meta = result["meta"]
    lines = [
        "# Specialized-model variants, held out on the composited camera",
        "",
        f"`python -m benchmarks.specialized_variants` ({meta['date_utc']}, commit {meta['commit']}, "
        f"{meta['machine']}): hour 1, person in the bottom-left quadrant, labels: **{meta['labels']}**; train on "
        f"minutes 0-{meta['train_minutes']:g} (every {meta['train_step']}th frame unless said), held out: "
        f"{meta['eval_minutes']:g} minutes from frame {meta.get('eval_first_frame', 0):,} ({meta['eval_frames']:,} frames, {100 * meta['eval_positive_share']:.1f} % "
        f"positive); at most {meta['epochs']} epochs, early stopping. `to reference` = held-out frames between the "
        "thresholds that give FNR and FPR of a third of the target.",
        "",
        "| variant | model | view | train frames | AUC | recall at 1 % FPR | to reference (1 %) | to reference (5 %) "
        "| inference frames/s | train s | what changes |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in result["variants"]:
        lines.append(
            f"| {r['name']} | {r['model']} | {r['size']} px, margin {r['margin']:g} | {r['train_frames']:,} | "
            f"{r['auc']:.4f} | {100 * r['recall_at_1pct_fpr']:.1f} % | {100 * r['reference_share_1pct']:.1f} % | "
            f"{100 * r['reference_share_5pct']:.1f} % | {r['fps']:,.0f} | {r['train_seconds']:.0f} | {r['note']} |"
        )
    rows = [r for r in result["variants"] if "ssd_frames" in r]
    if rows:
        lines += [
            "",
            f"The same models against **SSD** on hour {meta.get('sample_hour')}'s truth sample "
            f"({rows[0]['ssd_frames']:,} frames, {100 * rows[0]['ssd_positive_share']:.1f} % positive by SSD):",
            "",
            "| variant | AUC vs SSD | recall at 1 % FPR | to reference (1 %) | to reference (5 %) |",
            "|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {r['name']} | {r['ssd_auc']:.4f} | {100 * r['ssd_recall_at_1pct_fpr']:.1f} % | "
            f"{100 * r['ssd_reference_share_1pct']:.1f} % | {100 * r['ssd_reference_share_5pct']:.1f} % |"
            for r in rows
        ]
    return "\n".join(lines) + "\n"


def parse_args(argv=None) -> argparse.Namespace:
    p = harness.parser("benchmarks.specialized_variants", __doc__)
    p.add_argument("--labels", choices=("ssd", "truth"), default="ssd")
    p.add_argument("--train-minutes", type=float, default=40.0)
    p.add_argument("--eval-minutes", type=float, default=20.0)
    p.add_argument(
        "--eval-start",
        type=float,
        default=None,
        help="minute the held-out stretch starts (default: the hour's end minus --eval-minutes)",
    )
    p.add_argument("--name", default=NAME, help="results file name under --results-dir")
    p.add_argument("--train-step", type=int, default=3, help="train on every Nth frame (variants may say 1)")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--only", default="", help="comma-separated variant names, measured in that order (default: all)")
    p.add_argument("--sample-hour", type=int, default=2, help="also score against SSD on this hour's truth sample")
    p.add_argument("--fresh", action="store_true", help="measure again variants already in the results")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    return p.parse_args(argv)


def main(argv=None) -> int:
    import torch

    from benchmarks.run import _git_commit
    from noscope_core.common.atomic import write_json, write_text
    from noscope_core.common.paths import noscope_home, videos_dir
    from noscope_core.spec.query import ROI, Query
    from noscope_core.video.framestore import build_frame_store
    from noscope_core.video.probe import probe_video

    args = parse_args(argv)
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "2"))))
    video = videos_dir() / "vtest-long.mp4"
    info = probe_video(video)
    fps = info.fps or 10.0
    n_train, n_eval = int(args.train_minutes * 60 * fps), int(args.eval_minutes * 60 * fps)
    first = info.frame_count - n_eval if args.eval_start is None else int(args.eval_start * 60 * fps)
    eval_idx = np.arange(first, min(info.frame_count, first + n_eval))
    if n_train > eval_idx[0]:
        raise SystemExit("the train and held-out stretches overlap: shorten --train-minutes or --eval-minutes")
    query = Query("person", ROI(*ROI_BL))
    y, soft = load_labels(video, args.labels, np.concatenate([np.arange(n_train), eval_idx]), query)
    by_name = {v.name: v for v in VARIANTS}
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(by_name)
    if unknown := [n for n in names if n not in by_name]:
        raise SystemExit(f"unknown variants {unknown}; choose from {', '.join(by_name)}")
    wanted = [by_name[n] for n in names]  # in the order asked
    if args.labels != "ssd":
        wanted = [v for v in wanted if not v.soft]
    store = build_frame_store(
        video, noscope_home() / "bench" / NAME / f"frames-{info.fingerprint[:12]}", views=[v.view() for v in wanted]
    )
    sample = sample_of_hour(args.sample_hour, query) if args.sample_hour else None
    sample_views = SampleViews(args.sample_hour, sample[0], [v.view() for v in wanted]) if sample is not None else None
    out_json = args.results_dir / f"{args.name}.json"
    old = json.loads(out_json.read_text()) if out_json.is_file() and not args.fresh else {}
    same = old.get("meta", {}).get("labels") == args.labels
    done = {r["name"]: r for r in old.get("variants", [])} if same else {}
    result = {
        "meta": {
            "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            "commit": _git_commit(),
            "machine": f"{os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}",
            "labels": args.labels,
            "train_minutes": args.train_minutes,
            "eval_minutes": args.eval_minutes,
            "eval_first_frame": int(eval_idx[0]),
            "train_step": args.train_step,
            "epochs": args.epochs,
            "eval_frames": int(len(eval_idx)),
            "eval_positive_share": float(y[eval_idx].mean()),
            "sample_hour": args.sample_hour if sample is not None else None,
        },
        "variants": [],
    }
    for v in wanted:
        if v.name in done:
            result["variants"].append(done[v.name])
            continue
        step = v.train_step or args.train_step
        fit = np.arange(0, n_train, step)
        cut = int(len(fit) * 0.8)
        print(f"{v.name}: training on {cut:,} frames ...", flush=True)
        r = measure(v, store, y, soft, fit[:cut], fit[cut:], eval_idx, args.epochs, sample, sample_views)
        print(
            f"  AUC {r['auc']:.4f}, recall@1%FPR {r['recall_at_1pct_fpr']:.3f}, to reference "
            f"{r['reference_share_1pct']:.3f} / {r['reference_share_5pct']:.3f}, {r['fps']:.0f} frames/s, "
            f"{r['train_seconds']:.0f} s",
            flush=True,
        )
        result["variants"].append(r)
        write_json(out_json, result)
        write_text(out_json.with_suffix(".md"), render(result))
    write_json(out_json, result)
    write_text(out_json.with_suffix(".md"), render(result))
    print(render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
