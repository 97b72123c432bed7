"""``python -m benchmarks.shrink_accuracy [--frames N]``: does a cheaper shrink path cost the models accuracy?

On the synthetic camera (exact ground truth for "car"), each shrink path (OpenCV's read + preprocess, PyAV's
reused AREA reformatter, PyAV ``lowres`` 1/2/3) makes the 50×50 frames of the same video; one small specialized
model is trained per path and seed on the first half and scored on the last third, on frames of its own path ("train on
the path you query with") and, for the model trained on OpenCV's frames, on every other path (what an old model
sees when the query reads another way). Reported per path: the test ROC AUC and the fraction of test frames the
model leaves to the reference when its two thresholds are set for 1 % false negatives and 1 % false positives
(the cascade's cost driver). Results: ``benchmarks/results/shrink_accuracy.json`` and ``.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import harness
from noscope_core.present.units import pct

RESULTS_DIR = harness.RESULTS_DIR
MODEL = dict(conv_blocks=1, filters=16, dense=32, stem_stride=2)  # c1-f16-d32-s2, the fastest long-camera model
TARGET = 0.01


def path_frames(video: Path, h264: bool = False) -> dict[str, np.ndarray]:
    from noscope_core.video.readers import OpenCVReader, PyAVReader
    from noscope_core.video.views import ViewSpec

    paths = {"opencv": (OpenCVReader(), ViewSpec(50)), "pyav": (PyAVReader(), ViewSpec(50))}
    if h264:  # lowres does nothing on H.264; skipping its loop filter is the decoding that changes pixels
        paths["skip_loop_filter"] = (PyAVReader(), ViewSpec(50, skip_loop_filter=True))
    else:
        paths.update({f"lowres{k}": (PyAVReader(), ViewSpec(50, lowres=k)) for k in (1, 2, 3)})
    out = {}
    for key, (reader, view) in paths.items():
        out[key] = np.concatenate([b.small[view.name] for b in reader.iter_views(video, (view,), batch_size=512)])
    return out


def reference_fraction(p: np.ndarray, y: np.ndarray, target: float = TARGET) -> float:
    """Test frames between the thresholds that keep FNR and FPR at ``target`` (oracle thresholds on the test)."""
    c_low = np.quantile(p[y], target) if y.any() else 1.0
    c_high = np.quantile(p[~y], 1 - target) if (~y).any() else 0.0
    if c_low > c_high:
        return 0.0
    return float(np.mean((p >= c_low) & (p <= c_high)))


def main(argv: list[str] | None = None) -> int:
    p = harness.parser("benchmarks.shrink_accuracy", __doc__)
    p.add_argument("--frames", type=int, default=4000)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--seeds", type=int, default=3, help="models trained per path (training noise is large)")
    p.add_argument("--h264", action="store_true", help="the camera re-encoded as H.264: exact vs no loop filter")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = p.parse_args(argv)

    from sklearn.metrics import roc_auc_score

    from benchmarks.cameras import synthetic_camera
    from noscope_core.common.paths import noscope_home
    from noscope_core.models.specialized import ModelSpec
    from noscope_core.models.training import train_models
    from noscope_core.reference.synthetic_truth import load_truth

    video = synthetic_camera(noscope_home(), args.frames).video
    y = load_truth(video).presence("car")
    if args.h264:
        from benchmarks.decode import GOP_S, encode_h264

        video = encode_h264(video, noscope_home() / "bench" / "h264" / f"{video.stem}-gop{GOP_S:g}s.mp4")
    frames = path_frames(video, h264=args.h264)
    n = min(len(y), *(len(f) for f in frames.values()))
    tr, va, te = slice(0, n // 2), slice(n // 2, 2 * n // 3), slice(2 * n // 3, n)
    spec = ModelSpec(**MODEL)
    res: dict[str, Any] = {"video": str(video), "frames": n, "model": spec.name, "seeds": args.seeds, "paths": {}}
    own: dict[str, dict[str, list[float]]] = {k: {"auc": [], "ref": []} for k in frames}
    cross: dict[str, dict[str, list[float]]] = {k: {"auc": [], "ref": []} for k in frames}
    for seed in range(args.seeds):
        models = {}
        for key, x in frames.items():
            (trained,) = train_models(
                [spec], x[tr], y[tr], x[va], y[va], max_epochs=args.epochs, num_threads=2, augment=True, seed=seed
            )
            models[key] = trained.model
            prob = trained.model.predict_proba(np.ascontiguousarray(x[te]))
            own[key]["auc"].append(float(roc_auc_score(y[te], prob)))
            own[key]["ref"].append(reference_fraction(prob, y[te]))
        for key, x in frames.items():  # the model trained on OpenCV's frames, queried through each path
            prob = models["opencv"].predict_proba(np.ascontiguousarray(x[te]))
            cross[key]["auc"].append(float(roc_auc_score(y[te], prob)))
            cross[key]["ref"].append(reference_fraction(prob, y[te]))
        print(f"seed {seed}: done", flush=True)
    for key in frames:
        res["paths"][key] = {
            "auc": float(np.mean(own[key]["auc"])),
            "reference_fraction": float(np.mean(own[key]["ref"])),
            "reference_fraction_each": own[key]["ref"],
            "opencv_model_auc": float(np.mean(cross[key]["auc"])),
            "opencv_model_reference_fraction": float(np.mean(cross[key]["ref"])),
            "opencv_model_reference_fraction_each": cross[key]["ref"],
        }
    res["created_utc"] = harness.now_utc()
    lines = [
        "# Shrink path vs model accuracy (synthetic camera, exact truth)",
        "",
        f"{n:,} frames of {Path(video).name}; model {spec.name} trained on the first half ({args.epochs} epochs), "
        f"scored on the last third; means over {args.seeds} training seeds (each seed's value in the JSON). "
        f"Reference fraction: test frames left to the reference at {pct(TARGET, 0)} FNR and {pct(TARGET, 0)} FPR "
        "(thresholds set on the test frames themselves: the best a threshold search could do).",
        "",
        "| shrink path | AUC (own model) | reference fraction (own model) | AUC (OpenCV-trained model) | "
        "reference fraction (OpenCV-trained model) |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, r in res["paths"].items():
        lines.append(
            f"| {key} | {r['auc']:.4f} | {r['reference_fraction']:.3f} | {r['opencv_model_auc']:.4f} | "
            f"{r['opencv_model_reference_fraction']:.3f} |"
        )
    args.results_dir.mkdir(parents=True, exist_ok=True)
    name = "shrink_accuracy_h264" if args.h264 else "shrink_accuracy"
    harness.publish(args.results_dir, name, res, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
