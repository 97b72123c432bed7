"""``python -m benchmarks.certify_spend``: the reference frames a certificate spends on six-hour answers, and
whether its bounds hold, for this tree's certificate and, side by side in the same run, any other checkout's.

Simulated answers of 216,000 frames (no pixels) shaped like the six-hour benchmark's (``benchmarks.certified_hours``):
the shares of frames the cascade sent to the reference and called absent / present, and its misses and false
alarms placed among the frames it called absent / present with a probability that grows with the risk score as
risk^c (c = 0: the risk order says nothing; c = 4 or 12: errors crowd the top of the order, as a model's
closeness to its thresholds makes them). Error levels: the ones the planner expected from the threshold segment
and twice those (what the six-hour run at 1 % met on later hours, estimated from its draws).

Per scenario and tree: the frames spent (drawn + chosen; median and worst of the seeds), how many answers were
certified, and how many bounds the realized error broke (it may in at most 5 % of answers at 0.95).

``--tree PATH`` adds another checkout (e.g. a worktree at an older commit): its ``noscope_core`` certifies the
same answers with the same seeds in a child process. Results: ``benchmarks/results/certify_spend.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from benchmarks import harness

RESULTS_DIR = Path(__file__).resolve().parent / "results"
NAME = "certify_spend"
FRAMES = 216_000


@dataclass(frozen=True)
class Scenario:
    """One answer shape: shares of frames exact / said present (the rest said absent), error counts, the risk
    order's concentration, the targets."""

    name: str
    target: float
    exact: float
    present: float
    misses: int
    false_alarms: int
    concentration: float
    exact_positive: float = 0.75  # of the frames the reference labelled, the positive share
    tie: float = 0.0  # share of the said-absent frames the difference detector decided: one risk, ranked first


def scenarios() -> list[Scenario]:
    # the 1 % answer's shape (cascade-0.01 on hours 2-7: 8.4 % exact, 9.7 % said present) and the 5 % one's
    # (0.3 % exact, 17 % said present); misses / false alarms as the planner expected them, and twice that
    out = []
    for c in (0.0, 4.0, 12.0):
        for k in (1, 2):
            out.append(Scenario(f"1 %, errors x{k}, risk^{c:g}", 0.01, 0.084, 0.097, 150 * k, 900 * k, c))
            out.append(Scenario(f"5 %, errors x{k}, risk^{c:g}", 0.05, 0.003, 0.17, 590 * k, 3700 * k, c))
    # a cascade with a difference detector (skip 2 -> DD -> model, the six-hour answers' shape) decides most
    # said-absent frames without a model score: they share one risk, a tie of 100,000+ frames, errors among them
    for k in (1, 2):
        out.append(Scenario(f"1 %, errors x{k}, 80 % tied", 0.01, 0.084, 0.097, 150 * k, 900 * k, 0.0, tie=0.8))
        out.append(Scenario(f"5 %, errors x{k}, 80 % tied", 0.05, 0.003, 0.17, 590 * k, 3700 * k, 0.0, tie=0.8))
    return out


def answer(s: Scenario, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(labels, exact, risk, truth) of one simulated answer."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(3, size=FRAMES, p=[s.exact, s.present, 1.0 - s.exact - s.present])
    exact = kind == 0
    labels = kind == 1
    risk = rng.random(FRAMES)
    truth = labels.copy()
    truth[exact] = rng.random(int(exact.sum())) < s.exact_positive
    labels = np.where(exact, truth, labels)
    for stratum, count, value in ((kind == 2, s.misses, True), (kind == 1, s.false_alarms, False)):
        idx = np.flatnonzero(stratum)
        w = risk[idx] ** s.concentration
        truth[rng.choice(idx, size=min(count, len(idx)), replace=False, p=w / w.sum())] = value
    if s.tie:
        absent = np.flatnonzero(kind == 2)
        risk[rng.choice(absent, size=int(s.tie * len(absent)), replace=False)] = 2.0
    return labels, exact, risk, truth


def measure(seeds: int) -> list[dict]:
    """Certify every scenario's answers with the ``noscope_core`` on sys.path (this tree or another's)."""
    from noscope_core.guarantees.certificate import Decisions, certify

    rows = []
    for s in scenarios():
        spent, certified, broken, seconds = [], 0, 0, 0.0
        for seed in range(seeds):
            labels, exact, risk, truth = answer(s, seed)
            t0 = time.perf_counter()
            cert = certify(
                Decisions(labels, exact, risk), lambda f, t=truth: t[f], s.target, s.target, 0.95, seed=1000 + seed
            )
            seconds += time.perf_counter() - t0
            spent.append(int(cert.frames_drawn + cert.frames_tightened))
            certified += int(bool(cert.certified))
            got = cert.labels
            fnr = np.count_nonzero(truth & ~got) / max(1, np.count_nonzero(truth))
            fpr = np.count_nonzero(~truth & got) / max(1, np.count_nonzero(~truth))
            broken += int(fnr > cert.fnr_bound or fpr > cert.fpr_bound)
        rows.append(
            {
                **asdict(s),
                "seeds": seeds,
                "spent": spent,
                "spent_median": float(np.median(spent)),
                "spent_max": int(max(spent)),
                "certified": certified,
                "broken": broken,
                "seconds": seconds / seeds,
            }
        )
    return rows


def measure_tree(tree: Path, seeds: int) -> list[dict]:
    """:func:`measure` with another checkout's ``noscope_core``, in a child process."""
    code = (
        "import importlib.util, json, sys\n"
        f"sys.path.insert(0, {str(tree)!r})\n"
        f"spec = importlib.util.spec_from_file_location('certify_spend_bench', {__file__!r})\n"
        "m = importlib.util.module_from_spec(spec); sys.modules[spec.name] = m; spec.loader.exec_module(m)\n"
        f"print(json.dumps(m.measure({seeds})))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tree, check=False)
    if out.returncode != 0:
        raise SystemExit(f"certifying with {tree} failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _commit(tree: Path) -> str:
    """The tree's commit, marked ``+changes`` when its certificate code differs from that commit."""
    out = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "-C", str(tree), "diff", "--quiet", "HEAD", "--", "noscope_core"], capture_output=True, check=False
    )
    return (out.stdout.strip() or str(tree)) + ("+changes" if dirty.returncode else "")


def render(result: dict) -> str:
    trees = result["trees"]
    names = [t["commit"] for t in trees]
    head = " | ".join(f"{n}: frames (median / worst) | certified | broken" for n in names)
    lines = [
        "# Reference frames a certificate spends on a six-hour answer",
        "",
        f"`python -m benchmarks.certify_spend` ({result['meta']['date_utc']}): {FRAMES:,} simulated frames per answer, "
        f"{result['meta']['seeds']} answers per scenario, 0.95 confidence; each tree certifies the same answers with "
        "the same seeds. `broken`: answers whose realized FNR or FPR exceeds the certified bound (at most 5 % may).",
        "",
        f"| scenario | {head} |",
        "|---|" + "---:|---:|---:|" * len(trees),
    ]
    for i, row in enumerate(trees[0]["rows"]):
        cells = []
        for t in trees:
            r = t["rows"][i]
            cells.append(
                f"{r['spent_median']:,.0f} / {r['spent_max']:,} | {r['certified']}/{r['seeds']} | {r['broken']}/{r['seeds']}"
            )
        lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    if len(trees) > 1:
        base, new = trees[1]["rows"], trees[0]["rows"]
        ratios = [b["spent_median"] / n["spent_median"] for b, n in zip(base, new, strict=True) if n["spent_median"]]
        lines += [
            "",
            f"Median frames, {names[1]} over {names[0]}, per scenario: "
            + ", ".join(f"{r:.2f}x" for r in ratios)
            + f" (geometric mean {float(np.exp(np.mean(np.log(ratios)))):.2f}x).",
        ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=6)
    p.add_argument("--tree", type=Path, action="append", default=[], help="another checkout to compare with")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = p.parse_args(argv)
    here = Path(__file__).resolve().parent.parent
    trees = [{"tree": str(here), "commit": _commit(here), "rows": measure(args.seeds)}]
    for tree in args.tree:
        trees.append({"tree": str(tree), "commit": _commit(tree), "rows": measure_tree(tree.resolve(), args.seeds)})
    result = {
        "meta": {"date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "seeds": args.seeds, "frames": FRAMES},
        "trees": trees,
    }
    harness.publish(args.results_dir, NAME, result, render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
