"""``python -m benchmarks.risk_order``: where a cascade's errors sit in the certificate's risk order, on real hours.

Tightening sends a stratum's riskiest unlabelled frames to the reference; it pays only when the errors are where
the risk order puts them. This benchmark takes ``benchmarks.certified_hours``' trained cascades (hour 1 of the
composited camera; run that first), re-plans each for the joined later hours as ``noscope apply`` does, runs it
over them (no certificate), and reads its answer at the truth sample (10,000 frames drawn uniformly, labelled by
SSD). For the said-absent frames (where misses hide) and the said-present ones (false alarms) it reports which
share of the sample's errors lies in the riskiest 1 / 2 / 5 / 10 / 20 % of the stratum, under
``risk_from_scores`` and under the flat rank it replaced (every frame the cascade never looked at, one rank above
every model verdict). A tie is counted at its middle. The reference's route reads the joined file's detection
cache (what ``noscope apply`` stored); no timing is reported. Results: ``benchmarks/results/risk_order.{json,md}``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks import certified_hours as ch
from benchmarks import harness

NAME = "risk_order"
SHARES = (0.01, 0.02, 0.05, 0.10, 0.20)


def parse_args(argv=None) -> argparse.Namespace:
    p = harness.parser("benchmarks.risk_order", __doc__)
    p.add_argument("--hours", default="2-7", help="the later hours certified_hours answered (default 2-7)")
    p.add_argument("--camera", default="vtest-long")
    p.add_argument("--targets", default="0.05,0.01", help="the cascades' FNR = FPR targets, comma-separated")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--results-dir", type=Path, default=harness.RESULTS_DIR)
    return p.parse_args(argv)


def flat_rank(risk: np.ndarray, routes: np.ndarray) -> np.ndarray:
    """The order before: every frame the cascade never looked at at one rank, above every model verdict."""
    from noscope_core.guarantees.certificate import looked_at

    out = risk.copy()
    out[~looked_at(routes)] = 2.0
    return out


def caught(risk: np.ndarray, stratum: np.ndarray, errors: np.ndarray) -> dict[str, float | None]:
    """Share of ``errors`` (positions) lying in the riskiest q of ``stratum`` (a mask), per q in SHARES."""
    r = np.sort(risk[stratum])  # ascending
    if len(errors) == 0 or len(r) == 0:
        return {f"{q:g}": None for q in SHARES}
    hi, lo = np.searchsorted(r, risk[errors], side="right"), np.searchsorted(r, risk[errors], side="left")
    rank = (len(r) - hi + (hi - lo) / 2.0) / len(r)  # frames strictly riskier, plus half the error's own tie
    return {f"{q:g}": float(np.mean(rank <= q)) for q in SHARES}


def measure(cascade_json: Path, joined: Path, sample_at: np.ndarray, truth: np.ndarray) -> dict:
    from noscope_core.cascade.keyframe_run import run_plan
    from noscope_core.cascade.routing import Route
    from noscope_core.flows.apply_flow import TrainedCascade
    from noscope_core.guarantees.certificate import risk_from_scores
    from noscope_core.guarantees.certify_answer import CertifyOptions
    from noscope_core.reference.detection_cache import CachedDetector, home_detection_cache

    detector, info = ch._detector(joined)
    cache = home_detection_cache(info.fingerprint, detector)
    detector.declare_cost(cache.cost_ms() or 100.0)  # CachedDetector charges a declared cost; nothing is timed here
    trained = TrainedCascade.load(cascade_json)
    art = trained.for_footage(info.frame_count, CertifyOptions())
    t0 = time.perf_counter()
    run = run_plan(trained.cascade_for(CachedDetector(detector, cache), art), art.keyframe_plan, joined)
    seconds = time.perf_counter() - t0
    config = art.best.config
    risk = risk_from_scores(run.routes, run.labels, run.model_scores, config.c_low, config.c_high)
    labels, routes = run.labels, run.routes
    said, at = labels[sample_at], routes[sample_at]
    decided = at != Route.REFERENCE
    misses = sample_at[decided & ~said & truth]
    false = sample_at[decided & said & ~truth]
    absent = ~labels & (routes != Route.REFERENCE)
    present = labels & (routes != Route.REFERENCE)
    flat = flat_rank(risk, routes)
    return {
        "cascade": art.best.describe(),
        "frames": int(len(labels)),
        "seconds": seconds,
        "routes": {r.name.lower(): float(np.mean(routes == r)) for r in Route},
        "sample_errors_by_route": {
            r.name.lower(): {
                "frames": int(np.sum(at == r)),
                "misses": int(np.sum((at == r) & ~said & truth)),
                "false_alarms": int(np.sum((at == r) & said & ~truth)),
            }
            for r in Route
        },
        "cascade_fnr": float(np.sum(~said & truth) / max(1, truth.sum())),
        "cascade_fpr": float(np.sum(said & ~truth) / max(1, (~truth).sum())),
        "said_absent": int(absent.sum()),
        "said_present": int(present.sum()),
        "misses": int(len(misses)),
        "false_alarms": int(len(false)),
        "misses_caught": {"looks": caught(risk, absent, misses), "flat": caught(flat, absent, misses)},
        "false_alarms_caught": {"looks": caught(risk, present, false), "flat": caught(flat, present, false)},
    }


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.0f} %"


def render(result: dict) -> str:
    from noscope_core.guarantees.certificate import LOOKED_ROUTES

    m = result["meta"]
    lines = [
        "# Where a cascade's errors sit in the certificate's risk order",
        "",
        f"`python -m benchmarks.risk_order` ({m['date_utc']}, commit {m['commit']}). Hours {m['hours']} of the "
        f"composited camera ({m['frames']:,} frames), each cascade as `noscope apply` re-plans it for them; errors "
        f"read at the truth sample ({m['truth_frames']:,} frames, SSD). *looks*: `risk_from_scores` (a frame the "
        "cascade never looked at ranked by the looked-at frames around it); *flat*: the order before (all such "
        "frames at one rank). Share of the sample's errors in the riskiest q of their stratum:",
        "",
        "| target | cascade | never looked at | cascade FNR / FPR | errors | order | "
        + " | ".join(f"top {100 * q:g} %" for q in SHARES)
        + " |",
        "|---|---|---:|---|---|---|" + "---:|" * len(SHARES),
    ]
    for r in result["runs"]:
        unlooked = 1.0 - sum(r["routes"][route.name.lower()] for route in LOOKED_ROUTES)
        for what, key, n in (
            ("misses", "misses_caught", r["misses"]),
            ("false alarms", "false_alarms_caught", r["false_alarms"]),
        ):
            for order in ("looks", "flat"):
                row = r[key][order]
                lines.append(
                    f"| {r['target']:.0%} | {r['cascade']} | {100 * unlooked:.0f} % | "
                    f"{100 * r['cascade_fnr']:.2f} % / {100 * r['cascade_fpr']:.2f} % | {n} {what} | {order} | "
                    + " | ".join(_pct(row[f"{q:g}"]) for q in SHARES)
                    + " |"
                )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    from benchmarks.run import _git_commit
    from noscope_core.common.paths import noscope_home, videos_dir
    from noscope_core.spec.query import ROI, Query
    from noscope_core.video.probe import probe_video

    args = parse_args(argv)
    home = noscope_home()
    hours = ch.Hours(videos_dir() / f"{args.camera}.mp4", ch.parse_hours(args.hours))
    joined = hours.joined
    if not joined.is_file():
        raise SystemExit(f"{joined} does not exist: run python -m benchmarks.certified_hours first")
    counts = [probe_video(hours.path(h)).frame_count for h in hours.later]
    per_hour = [hours.frames] * len(hours.later)  # as certified_hours drew and labelled it
    sample = dict(zip(hours.later, ch.truth_sample(per_hour, ch.DEFAULT_TRUTH_FRAMES), strict=True))
    truth = ch.truth_labels(hours, sample, Query("person", ROI(*ch.ROI_BL)))
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    sample_at = np.concatenate([sample[h] + o for h, o in zip(hours.later, offsets, strict=True)])
    runs = []
    for t in (float(x) for x in args.targets.split(",") if x.strip()):
        spec = ch.camera_spec(hours.base, t, args.confidence)
        cascade_json = ch.train_work(home, hours, spec) / f"cascade-{t:g}.json"
        if not cascade_json.is_file():
            raise SystemExit(f"{cascade_json} does not exist: run python -m benchmarks.certified_hours first")
        print(f"{t:.0%}: running {cascade_json} over {joined} ...", flush=True)
        runs.append({"target": t, **measure(cascade_json, joined, sample_at, truth)})
    result = {
        "meta": {
            "commit": _git_commit(),
            "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            "hours": args.hours,
            "frames": int(sum(counts)),
            "truth_frames": int(len(truth)),
            "sample_seed": ch.SAMPLE_SEED,
        },
        "runs": runs,
    }
    harness.publish(args.results_dir, NAME, result, render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
