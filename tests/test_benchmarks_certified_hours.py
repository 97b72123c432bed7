"""The certified-hours benchmark's logic on tiny files: the truth sample, joining hours, reading and judging answers."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from benchmarks import certified_hours as ch


def test_truth_sample_is_uniform_without_replacement_and_fixed_by_its_seed():
    sizes = [300, 500, 200]
    sample = ch.truth_sample(sizes, 400, seed=3)
    assert [len(s) for s in sample] and sum(len(s) for s in sample) == 400
    for s, n in zip(sample, sizes, strict=True):
        assert np.all(np.diff(s) > 0) and (len(s) == 0 or (s[0] >= 0 and s[-1] < n))
    again = ch.truth_sample(sizes, 400, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(sample, again, strict=True))
    other = ch.truth_sample(sizes, 400, seed=4)
    assert not all(np.array_equal(a, b) for a, b in zip(sample, other, strict=True))
    # uniform over the hours laid end to end: each hour's share close to its size's (200 draws of 400 ~ 50 %)
    many = ch.truth_sample([1000, 1000], 1000, seed=0)
    assert abs(len(many[0]) - 500) < 60
    with pytest.raises(ValueError, match="cannot sample"):
        ch.truth_sample([10], 11)


def test_answer_at_reads_half_open_intervals_like_a_dense_answer():
    rng = np.random.default_rng(0)
    dense = rng.random(500) < 0.3
    edges = np.flatnonzero(np.diff(np.concatenate([[0], dense.astype(int), [0]])))
    intervals = list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))[::-1]  # any order
    frames = np.sort(rng.choice(500, 120, replace=False))
    assert np.array_equal(ch.answer_at(intervals, frames), dense[frames])
    assert not ch.answer_at([], frames).any()


def test_sampled_error_and_its_clopper_pearson_interval():
    truth = np.array([True] * 100 + [False] * 900)
    answer = truth.copy()
    answer[:3] = False  # 3 misses of 100 positives
    answer[100:109] = True  # 9 false alarms of 900 negatives
    err = ch.sampled_error(answer, truth)
    assert (err["sample_fn"], err["sample_fp"], err["sample_positives"]) == (3, 9, 100)
    assert err["sample_fnr"] == pytest.approx(0.03) and err["sample_fpr"] == pytest.approx(0.01)
    lo, hi = err["sample_fnr_ci"]
    assert lo < 0.03 < hi and hi == pytest.approx(0.0852, abs=2e-4)  # exact binomial (R's binom.test)
    assert ch.clopper_pearson(0, 50)[0] == 0.0 and ch.clopper_pearson(50, 50)[1] == 1.0
    assert all(math.isnan(v) for v in ch.clopper_pearson(0, 0))


def test_a_goal_counts_only_when_the_sampled_error_lies_within_the_certified_bounds():
    run = {"max_fnr": 0.01, "max_fpr": 0.01, "speedup": 500.0, "certified": True, "fnr_bound": 0.01}
    ok = ch.judge({**run, "fpr_bound": 0.01, "sample_fnr": 0.004, "sample_fpr": 0.002})
    assert ok["accuracy_met"] and ok["goal_met"] and ok["speedup_goal"] == 50.0
    broken = ch.judge({**run, "fpr_bound": 0.01, "sample_fnr": 0.004, "sample_fpr": 0.0129})
    assert not broken["accuracy_met"] and not broken["goal_met"]  # fast, but the promise was not kept
    uncertified = ch.judge({**run, "certified": False, "fpr_bound": None, "sample_fnr": 0.0, "sample_fpr": 0.0})
    assert not uncertified["goal_met"]
    loose = {**run, "max_fnr": 0.05, "max_fpr": 0.05, "fpr_bound": 0.05, "sample_fnr": 0.0, "sample_fpr": 0.0}
    assert ch.judge(loose)["goal_met"] and not ch.judge({**loose, "speedup": 150.0})["goal_met"]  # 5 %: 200x


def test_summarize_charges_certification_at_the_measured_reference_cost():
    truth = np.zeros(100, bool)
    truth[:20] = True
    data = {
        "frames_test": 10_000,
        "cascade_fps": 1000.0,  # charged: 10 s in all, of which certification 5 s at the apply's own rate
        "certify_seconds": 5.0,
        "certify_frames": 100,
        "tighten_frames": 50,
        "speedup_e2e": 20.0,
        "certified": True,
        "fnr_bound": 0.02,
        "fpr_bound": 0.02,
        "intervals": [[0, 20]],
    }
    run = ch.summarize(data, 0.01, 0.95, 40.0, (truth.copy(), truth), 0.2, "abc")
    # cascade alone 5 s; 150 frames checked at 40 ms = 6 s: 10,000 frames * 40 ms / 11 s
    assert run["speedup"] == pytest.approx(400.0 / 11.0)
    assert run["ceiling"] == pytest.approx(10_000 * 0.01 * 0.2 / math.log(40))
    assert run["ratio_to_ceiling"] == pytest.approx(run["speedup"] / run["ceiling"])
    assert run["sample_fnr"] == 0.0 and run["accuracy_met"] and not run["goal_met"]  # 36x < 50x
    for key in ("frames", "max_fnr", "max_fpr", "confidence", "speedup", "speedup_e2e", "certified", "fnr_bound"):
        assert key in run
    for key in ("fpr_bound", "certify_frames", "ceiling", "sample_frames", "sample_fnr", "sample_fpr", "commit"):
        assert key in run
    assert "| 1%/1% | abc | 10,000 |" in ch.render({"meta": {"reference_ms": 40.0}, "runs": [run]})


def test_a_run_of_one_target_keeps_the_other_targets_rows(tmp_path):
    """Each target's answer takes hours: answering 5 % alone must not wipe the 1 % row of an earlier commit, and
    rows of other hours (another answer) are not kept."""
    meta = {"hours": "2-7", "frames": 216_000, "confidence": 0.95, "truth_frames": 10_000, "sample_seed": 1}
    rows = [{"max_fnr": 0.01, "commit": "old1"}, {"max_fnr": 0.05, "commit": "old5"}]
    path = tmp_path / "certified_hours.json"
    path.write_text(json.dumps({"meta": meta, "runs": rows}))
    assert ch.kept_runs(path, meta, [0.05]) == [rows[0]]
    assert ch.kept_runs(path, meta, [0.01, 0.05]) == []
    assert ch.kept_runs(path, {**meta, "hours": "2-3"}, [0.05]) == []
    assert ch.kept_runs(tmp_path / "absent.json", meta, [0.05]) == []


def _tiny_video(path, n, seed):
    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 48))
    frames = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(n)]
    for f in frames:
        writer.write(f)
    writer.release()


def _decoded(path):
    from noscope_core.video.frames import iter_frames

    return [f for b in iter_frames(path) for f in b.frames]


def test_joined_hours_decode_to_the_hours_own_frames_one_after_another(tmp_path):
    from noscope_core.video.probe import probe_video

    a, b = tmp_path / "cam.mp4", tmp_path / "cam-h2.mp4"
    _tiny_video(a, 23, 0)
    _tiny_video(b, 17, 1)
    out = ch.join_videos([a, b], tmp_path / "joined.mp4")
    joined, parts = _decoded(out), _decoded(a) + _decoded(b)
    assert probe_video(out).frame_count == 40 and len(joined) == 40
    assert all(np.array_equal(x, y) for x, y in zip(joined, parts, strict=True))
    stamp = out.stat().st_mtime_ns
    assert ch.join_videos([a, b], out) == out and out.stat().st_mtime_ns == stamp  # kept: same sources


def test_hours_and_their_options():
    hours = ch.Hours(ch.Path("/v/vtest-long.mp4"), ch.parse_hours("2-7"))
    assert hours.path(1).name == "vtest-long.mp4" and hours.path(3).name == "vtest-long-h3.mp4"
    assert hours.joined.name == "vtest-long-h2-7.mp4"
    for bad in ("1-3", "x", "5-2"):
        with pytest.raises(SystemExit, match="--hours"):
            ch.parse_hours(bad)
