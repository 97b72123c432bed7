"""``python -m benchmarks.specialized_hours``: specialized models trained as the pipeline trains, judged on new hours.

The question of issue 21, point 3: is a specialized model good enough to certify on footage it never saw? Every
variant trains on hour 1 of the composited camera exactly as ``benchmarks.certified_hours`` trains (its split, SSD's
labels, soft targets unless said, early stopping on the last fifth of each train block), and is judged against SSD
on ``certified_hours``'s truth sample of the later hours (frames drawn uniformly over hours 2-7 with its fixed seed,
labelled by SSD): frames of other hours, scored against the reference the cascade must agree with.

Per variant: AUC and recall at 1 % FPR on the later hours; then, as the cascade would run it, the two thresholds set
on hour 1's *threshold segment* so that FNR and FPR there are a third of the target, read on the later hours: the
share of frames left between them (sent to the reference), and the FNR / FPR of what the model decided alone.
That last pair is what a certificate must bound; "a third of the target" is the headroom that makes certifying cheap.
Also: inference frames/s (one thread, batch of 2,048) and training seconds. Rows ``pipeline:*`` are the models
``certified_hours`` trained (the default family), read from its work folder, and their average (``ensemble``).

Why FPR on the later hours sits above the threshold segment's: the second table splits each variant's false
positives by the score SSD gave the frame: a false positive where SSD found the person at 0.3-0.5 (below the
query's 0.5) is the reference's own ambiguity, not a model failure the model can learn away.

Needs: ``benchmarks.certified_hours`` run first (hours made, truth sample labelled, hour 1 labelled and trained).
Resumable: each variant's row is written when it finishes; ``--fresh`` measures again.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from benchmarks import harness, specialized_variants
from benchmarks.specialized_variants import recall_at_fpr

RESULTS_DIR = harness.RESULTS_DIR
NAME = "specialized_hours"
TARGETS = (0.01, 0.05)


@dataclass(frozen=True)
class Variant(specialized_variants.Variant):
    """``specialized_variants``' recipe (view of the bottom-left ROI, network, training options), trained here as the
    pipeline trains: soft targets by default, up to ``epochs`` epochs with early stopping."""

    soft: bool = True
    epochs: int = 10


VARIANTS = (
    Variant("base", note="the pipeline's c1-f32-d32-s2 as it trains it (50 px ROI crop, soft targets)"),
    Variant("hard", soft=False, note="0/1 targets instead of SSD's scores"),
    Variant("noise4", noise_sigma=4.0, note="light jitter + pixel noise (sigma 4 levels)"),
    Variant("e20", epochs=20, note="up to 20 epochs (early stopping still on)"),
    Variant("i64", size=64, note="64 px, the same crop"),
    Variant("i80", size=80, note="80 px, the same crop"),
    Variant("m0", margin=0.0, note="the ROI alone (no 10 % margin)"),
    Variant("c2-d64", blocks=2, dense=64, note="two conv blocks, 64 dense units"),
    Variant("f16", filters=16, note="16 filters (the family's cheapest, c1-f16-d32-s2)"),
)


@dataclass(frozen=True)
class Judged:
    """A model's scores on hour 1's threshold segment and on the later hours' sample, against SSD at both."""

    threshold_scores: np.ndarray
    threshold_truth: np.ndarray
    sample_scores: np.ndarray
    sample_truth: np.ndarray


def as_the_cascade_runs(j: Judged, target: float) -> dict:
    """Thresholds set on the threshold segment at FNR = FPR = target/3 there (absent below ``low``, present above
    ``high``), read on the later hours."""
    neg, pos = j.threshold_scores[~j.threshold_truth], j.threshold_scores[j.threshold_truth]
    low = np.quantile(pos, target / 3, method="lower")
    high = np.quantile(neg, 1.0 - target / 3, method="higher")
    if low > high:  # separable at these rates: one threshold between them decides every frame
        low = high = (low + high) / 2
    s, y = j.sample_scores, j.sample_truth
    present, absent = s > high, s < low
    return {
        "to_reference": float((~(present | absent)).mean()),
        "fnr": float((absent & y).sum() / max(1, y.sum())),
        "fpr": float((present & ~y).sum() / max(1, (~y).sum())),
    }


def measures(j: Judged) -> dict:
    from sklearn.metrics import roc_auc_score

    out = {
        "auc": float(roc_auc_score(j.sample_truth, j.sample_scores)),
        "recall_at_1pct_fpr": recall_at_fpr(j.sample_scores, j.sample_truth, 0.01),
    }
    for t in TARGETS:
        out.update({f"{k}_{t:g}": v for k, v in as_the_cascade_runs(j, t).items()})
    return out


def false_positive_scores(j: Judged, ssd_scores: np.ndarray, target: float) -> dict:
    """How many of the later hours' false positives (at ``target``'s thresholds) SSD scored 0, 0.3-0.4, 0.4-0.5."""
    neg = j.threshold_scores[~j.threshold_truth]
    high = np.quantile(neg, 1.0 - target / 3, method="higher")
    fp = (j.sample_scores > high) & ~j.sample_truth
    s = ssd_scores[fp]
    return {
        "false_positives": int(fp.sum()),
        "ssd_none": int((s < 0.3).sum()),
        "ssd_0.3_0.4": int(((s >= 0.3) & (s < 0.4)).sum()),
        "ssd_0.4_0.5": int(((s >= 0.4) & (s < 0.5)).sum()),
    }


class Sample:
    """The later hours' truth sample: SSD's labels and scores, and the frames in each wanted view (decoded once,
    in chunks, each chunk shrunk to every view)."""

    def __init__(self, hours, query, views: dict) -> None:
        from benchmarks import certified_hours as ch
        from noscope_core.reference.detection_cache import home_detection_cache
        from noscope_core.reference.labels import frame_label, match_score
        from noscope_core.video.frames import read_frames
        from noscope_core.video.shrink import preprocess

        per_hour = ch.truth_sample([hours.frames] * len(hours.later), ch.DEFAULT_TRUTH_FRAMES)
        parts: dict[str, list[np.ndarray]] = {k: [] for k in views}
        labels, scores = [], []
        for hour, idx in zip(hours.later, per_hour, strict=True):
            path = hours.path(hour)
            detector, info = ch._detector(path)
            cache = home_detection_cache(info.fingerprint, detector)
            if missing := len(cache.missing(idx)):
                raise SystemExit(
                    f"hour {hour}: {missing} truth-sample frames lack SSD labels: run "
                    "`python -m benchmarks.certified_hours --only truth` first"
                )
            found = cache.get(idx)
            labels += [frame_label(d, query) for d in found]
            scores += [match_score(d, query) for d in found]
            for a in range(0, len(idx), 200):
                full = read_frames(path, idx[a : a + 200].tolist())
                for k, v in views.items():
                    parts[k].append(preprocess(full, v))
        self.truth = np.asarray(labels, dtype=bool)
        self.ssd_scores = np.asarray(scores, dtype=np.float64)
        self.frames = {k: np.concatenate(p) for k, p in parts.items()}


def render(result: dict) -> str:
    meta = result["meta"]
    lines = [
        "# Specialized models trained on hour 1, judged on hours 2-7",
        "",
        f"`python -m benchmarks.specialized_hours` ({meta['date_utc']}, commit {meta['commit']}, {meta['machine']}). "
        f"Trained as `benchmarks.certified_hours` trains (hour 1, split {meta['split']}, SSD labels, "
        f"{meta['train_frames']:,} train frames); judged against SSD on {meta['sample_frames']:,} frames drawn "
        f"uniformly over hours {meta['hours']} ({100 * meta['sample_positive_share']:.1f} % positive). Thresholds "
        "set on hour 1's threshold segment at FNR = FPR = target/3 there; *to reference* = later-hour frames "
        "between them; FNR / FPR = what the model decided alone on the later hours (a third of the target is the "
        "aim: 0.33 % at 1 %, 1.67 % at 5 %).",
        "",
        "| variant | AUC | recall at 1 % FPR | 1 %: to reference | 1 %: FNR / FPR | 5 %: to reference | "
        "5 %: FNR / FPR | frames/s | train s | what changes |",
        "|---|---:|---:|---:|---|---:|---|---:|---:|---|",
    ]
    for r in result["variants"]:
        fps = f"{r['fps']:,.0f}" if r.get("fps") else "–"
        secs = f"{r['train_seconds']:.0f}" if r.get("train_seconds") else "–"
        lines.append(
            f"| {r['name']} | {r['auc']:.4f} | {100 * r['recall_at_1pct_fpr']:.1f} % | "
            f"{100 * r['to_reference_0.01']:.1f} % | {100 * r['fnr_0.01']:.2f} % / {100 * r['fpr_0.01']:.2f} % | "
            f"{100 * r['to_reference_0.05']:.1f} % | {100 * r['fnr_0.05']:.2f} % / {100 * r['fpr_0.05']:.2f} % | "
            f"{fps} | {secs} | {r.get('note', '')} |"
        )
    lines += [
        "",
        "False positives at 5 % on the later hours, by the score SSD gave the frame (the query keeps >= 0.5; SSD "
        "drops < 0.3):",
        "",
        "| variant | false positives | SSD found nobody | SSD 0.3-0.4 | SSD 0.4-0.5 |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in result["variants"]:
        fp = r["false_positives_0.05"]
        lines.append(
            f"| {r['name']} | {fp['false_positives']:,} | {fp['ssd_none']:,} | {fp['ssd_0.3_0.4']:,} | "
            f"{fp['ssd_0.4_0.5']:,} |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv=None) -> argparse.Namespace:
    p = harness.parser("benchmarks.specialized_hours", __doc__)
    p.add_argument("--hours", default="2-7", help="the later hours judged on (their truth sample must be labelled)")
    p.add_argument("--only", default="", help="comma-separated variants (and/or 'pipeline'), in that order")
    p.add_argument("--fresh", action="store_true", help="measure again variants already in the results")
    p.add_argument("--name", default=NAME, help="results file name under --results-dir")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    return p.parse_args(argv)


def main(argv=None) -> int:
    import torch

    from benchmarks import certified_hours as ch
    from benchmarks.run import _git_commit
    from noscope_core.common.atomic import write_json, write_text
    from noscope_core.common.paths import noscope_home, videos_dir
    from noscope_core.flows import stages
    from noscope_core.models import model_artifact
    from noscope_core.models.model_artifact import soft_targets, train_val_split
    from noscope_core.models.specialized import measure_fps
    from noscope_core.models.training import train_models
    from noscope_core.reference.label_artifact import FIT_SEGMENTS
    from noscope_core.video.framestore import build_frame_store

    args = parse_args(argv)
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    home = noscope_home()
    hours = ch.Hours(videos_dir() / "vtest-long.mp4", ch.parse_hours(args.hours))
    spec = ch.camera_spec(hours.base, TARGETS[0], 0.95)
    query = spec.query
    by_name = {v.name: v for v in VARIANTS}
    names = [n.strip() for n in args.only.split(",") if n.strip()] or ["pipeline", *by_name]
    if unknown := [n for n in names if n != "pipeline" and n not in by_name]:
        raise SystemExit(f"unknown variants {unknown}; choose from pipeline, {', '.join(by_name)}")
    wanted = [by_name[n] for n in names if n != "pipeline"]
    views = {f"{v.size}-{v.margin:g}": v.view() for v in wanted}
    pipeline_view = Variant("pipeline").view()
    views.setdefault("50-0.1", pipeline_view)

    detector, info = ch._detector(hours.base)
    work = home / "bench" / NAME / f"frames-{info.fingerprint[:12]}"
    store = build_frame_store(hours.base, work, views=list(views.values()))
    labels = stages.label(spec, store, detector, FIT_SEGMENTS, cache_root=home / "cache" / "detections")
    train, threshold = labels.segment("train"), labels.segment("threshold")
    train_idx, threshold_idx = labels.segments.train.indices(), labels.segments.threshold.indices()
    fit, val = train_val_split(labels.segments.train)
    print(f"later hours' truth sample: decoding in {len(views)} views ...", flush=True)
    sample = Sample(hours, query, views)

    out_json = args.results_dir / f"{args.name}.json"
    old = json.loads(out_json.read_text()) if out_json.is_file() and not args.fresh else {}
    done = {r["name"]: r for r in old.get("variants", [])}
    result = {
        "meta": {
            "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            "commit": _git_commit(),
            "machine": f"{os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}",
            "split": "/".join(f"{f:g}" for f in ch.TRAIN_SPLIT),
            "train_frames": int(len(fit)),
            "hours": f"{hours.later[0]}-{hours.later[-1]}",
            "sample_frames": int(len(sample.truth)),
            "sample_positive_share": float(sample.truth.mean()),
        },
        "variants": [],
    }

    def record(row: dict) -> None:
        result["variants"].append(row)
        write_json(out_json, result)
        write_text(out_json.with_suffix(".md"), render(result))
        print(
            f"  {row['name']}: "
            + ", ".join(f"{k} {row[k]:.4f}" for k in row if k.startswith(("auc", "to_", "fnr", "fpr"))),
            flush=True,
        )

    def judged(model, view_key: str) -> Judged:
        x_threshold = np.asarray(store.frames(views[view_key])[threshold_idx])
        return Judged(
            model.predict_proba(x_threshold),
            threshold.label,
            model.predict_proba(sample.frames[view_key]),
            sample.truth,
        )

    for name in names:
        if name in done:
            result["variants"].append(done[name])
            continue
        if name == "pipeline":
            models_dir = ch.train_work(home, hours, spec) / "models"
            if not (models_dir / "index.json").is_file():
                raise SystemExit(f"no trained models in {models_dir}: run `python -m benchmarks.certified_hours` first")
            scores = []
            for m in model_artifact.load_models(models_dir, query):
                j = judged(m, "50-0.1")
                scores.append(j)
                row = {
                    "name": f"pipeline:{m.name}",
                    **measures(j),
                    "fps": measure_fps(m, sample.frames["50-0.1"][:2048]),
                }
                row["false_positives_0.05"] = false_positive_scores(j, sample.ssd_scores, 0.05)
                row["note"] = "trained by certified_hours (the default family)"
                record(row)
            mean = Judged(
                np.mean([j.threshold_scores for j in scores], axis=0), threshold.label,
                np.mean([j.sample_scores for j in scores], axis=0), sample.truth,
            )  # fmt: skip
            row = {"name": "pipeline:ensemble", **measures(mean), "note": "the family's scores averaged"}
            row["false_positives_0.05"] = false_positive_scores(mean, sample.ssd_scores, 0.05)
            record(row)
            continue
        v = by_name[name]
        key = f"{v.size}-{v.margin:g}"
        x = np.asarray(store.frames(views[key])[train_idx])
        targets = soft_targets(train, query.min_score) if v.soft else None
        own = fit[:: v.train_step or 1]
        print(f"{v.name}: training on {len(own):,} frames ...", flush=True)
        t0 = time.perf_counter()
        trained = train_models(
            [v.model_spec()], x[own], train.label[own], x[val], train.label[val], max_epochs=v.epochs,
            noise_sigma=v.noise_sigma, balance=v.balance, augment=v.augment,
            train_targets=targets[own] if targets is not None else None,
        )[0]  # fmt: skip
        seconds = time.perf_counter() - t0
        j = judged(trained.model, key)
        row = {
            **asdict(v),
            **measures(j),
            "model": trained.model.name,
            "train_frames": int(len(own)),
            "epochs_run": trained.epochs,
            "train_seconds": seconds,
            "fps": measure_fps(trained.model, sample.frames[key][:2048]),
            "false_positives_0.05": false_positive_scores(j, sample.ssd_scores, 0.05),
        }
        record(row)
    print(render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
