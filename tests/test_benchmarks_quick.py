"""Smoke run of ``python -m benchmarks.run --quick`` on a small synthetic camera, so the benchmark cannot rot."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

# a whole benchmark run (python -m benchmarks.run --quick), minutes
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
METHODS = ["reference", "frame_skip", "motion_gate", "cascade", "cascade_store"]


@pytest.fixture(scope="module")
def quick_result(tmp_path_factory) -> tuple[dict, str, Path]:
    home = tmp_path_factory.mktemp("home")  # no fetched camera here: the real camera is skipped
    out = tmp_path_factory.mktemp("results")
    env = {**os.environ, "NOSCOPE_HOME": str(home), "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.run",
        "--quick",
        "--only",
        "vtest,vtest-long,synthetic",
        "--long-frames",
        "800",
        "--models",
        "c1-f32-d32-s2",
        "--max-epochs",
        "2",
        "--name",
        "smoke",
        "--results-dir",
        str(out),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((out / "smoke.json").read_text()), (out / "smoke.md").read_text(), home, out


def test_quick_benchmark_measures_every_method_on_the_same_test_segment(quick_result):
    result, *_ = quick_result
    cam = result["cameras"]["synthetic"]
    rows = {r["method"]: r for r in cam["methods"]["rows"]}
    assert list(rows) == METHODS
    n_test = sum(b - a for a, b in cam["prepare"]["notes"]["segments"]["test"])
    assert cam["methods"]["summary"]["test_ranges"] == cam["prepare"]["notes"]["segments"]["test"]
    for r in rows.values():
        assert r["frames"] == n_test
        assert r["fps"] > 0 and math.isfinite(r["fps"])
        assert 0.0 <= r["fnr"] <= 1.0 and 0.0 <= r["fpr"] <= 1.0
        assert 0.0 <= r["reference_fraction"] <= 1.0
        assert r["reference_priced"] == "declared"  # the synthetic reference is priced, not timed
        if r["method"] != "cascade_store":
            assert r["fps_e2e"] > 0 and r["fps_e2e"] <= r["fps"]  # decoding can only add time
    naive = rows["reference"]
    assert naive["reference_fraction"] == 1.0 and naive["fnr"] == 0.0 and naive["fpr"] == 0.0
    assert naive["speedup"] == pytest.approx(1.0)
    # priced at a declared 50 ms/frame, the naive baseline cannot beat 20 frames/s
    assert naive["fps"] <= 20.0 + 1e-6
    assert rows["frame_skip"]["reference_fraction"] <= 1.0


def test_the_cascade_rows_are_certified_and_charged_for_it(quick_result):
    result, md, *_ = quick_result
    cam = result["cameras"]["synthetic"]
    rows = {r["method"]: r for r in cam["methods"]["rows"]}
    assert result["meta"]["args"]["certify"] is True
    # the benchmark answers its test segment: the cascade is chosen for that length
    n_test = rows["cascade"]["frames"]
    assert cam["prepare"]["footage_choice"]["footage_frames"] == n_test
    assert cam["prepare"]["cascade"]["footage_frames"] == n_test
    naive_ms = cam["methods"]["summary"]["naive_reference_ms_per_frame"]
    for name in ("cascade", "cascade_store"):
        r = rows[name]
        assert r["certified"] is True  # no budget: tightened until certified, whatever the cascade missed
        assert 0.0 <= r["fnr_bound"] <= result["meta"]["max_fnr"] and 0.0 <= r["fpr_bound"] <= result["meta"]["max_fpr"]
        checked = r["certify_frames"] + r["tighten_frames"]
        assert r["reference_calls"] == r["cascade_reference_calls"] + checked
        assert r["certify_seconds"] == pytest.approx(checked * naive_ms / 1000.0)
        # charged: never faster than its stages alone, and the corrected answer errs no more than the cascade
        assert r["fps"] == pytest.approx(r["frames"] / (r["seconds"]["stages"] + r["certify_seconds"]))
        assert r["fn"] + r["fp"] <= round(r["uncertified_fnr"] * r["positives"] + r["uncertified_fpr"] * r["negatives"])
    assert rows["reference"].get("certified") is None  # the baselines make no promise to certify
    assert "| certified | bound FNR / FPR |" in md


def test_quick_benchmark_reports_limits_stages_and_memory(quick_result):
    result, *_ = quick_result
    cam = result["cameras"]["synthetic"]
    lim = cam["limits"]
    assert lim["decode_fps"] > 0 and lim["grab_fps"] > 0 and lim["decode_prep_fps"] > 0
    # the goal's ratio is the median of decode-only / cascade pairs over the same frames, measured side by side
    assert len(lim["paired_ratios"]) >= 1 and all(r > 0 for r in lim["paired_ratios"])
    assert lim["cascade_e2e_over_decode"] == pytest.approx(sorted(lim["paired_ratios"])[len(lim["paired_ratios"]) // 2])
    assert lim["paired_decode_fps"] > 0 and lim["paired_cascade_e2e_fps"] > 0
    names = {d["name"] for d in cam["stages"]["dd"]}
    assert names == {"global-background", "blocked-background", "global-previous", "blocked-previous"}
    assert [m["name"] for m in cam["stages"]["models"]] == ["c1-f32-d32-s2"]
    mem = result["memory"]
    assert len(mem["decode"]) == 2 and len(mem["query"]) == 2
    for r in mem["decode"] + mem["query"]:
        assert "error" not in r, r
        assert r["peak_rss_mib"] > 0
    assert {r["frames"] for r in mem["decode"]} == {200, 800}


def test_quick_benchmark_skips_a_missing_real_camera_and_writes_the_markdown_table(quick_result):
    result, md, home, _ = quick_result
    assert "noscope fetch" in result["cameras"]["vtest"]["skipped"]  # asked for by name, but not fetched here
    assert "noscope fetch" in result["cameras"]["vtest-long"]["skipped"]  # nothing to composite it from
    assert (home / "bench").is_dir()  # the generated camera is cached under $NOSCOPE_HOME/bench
    assert "| method |" in md and "NoScope cascade (streaming)" in md
    assert result["goals"] and all("met" in g for g in result["goals"])


def test_render_summarizes_the_stored_measurements_again_without_measuring(quick_result):
    result, md, _, out = quick_result
    tampered = out / "again.json"
    result = {**result, "goals": [], "bottlenecks": []}  # as if written by an older version of the summaries
    tampered.write_text(json.dumps(result))
    cmd = [sys.executable, "-m", "benchmarks.run", "--render", "--name", "again", "--results-dir", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    again = json.loads(tampered.read_text())
    assert again["goals"] and again["bottlenecks"]
    assert again["cameras"] == result["cameras"]  # the measurements themselves are untouched

    def goals_section(text: str) -> str:
        return text.split("## Goals")[1].split("\n## ")[0]

    assert goals_section((out / "again.md").read_text()) == goals_section(md)


def test_render_without_results_says_to_run_the_benchmark(tmp_path):
    cmd = [sys.executable, "-m", "benchmarks.run", "--render", "--name", "none", "--results-dir", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "run the benchmark first" in proc.stderr


def test_the_benchmark_names_the_command_that_makes_a_missing_composited_hour(tmp_path):
    from benchmarks.cameras import composite_camera

    cam, why = composite_camera(tmp_path, quick=False)
    assert cam is None and "noscope make-camera vtest-long" in why and "--seconds" not in why
