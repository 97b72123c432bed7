"""The keyframe-first plan: its simulation, its executors (video and stored frames) and the optimizer's pricing agree,
settled GOPs take their keyframes' label, a short event between keyframes is missed and then priced out."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from noscope_core.cascade.costs import StageCosts
from noscope_core.cascade.keyframe_plan import (
    KeyframePlan,
    gop_decisions,
    opened_ranges,
    plan_cost,
    simulate_plan,
)
from noscope_core.cascade.keyframe_run import run_plan, run_plan_frames
from noscope_core.cascade.routing import Cascade, CascadeConfig, Route, simulate
from noscope_core.optimizer.cascade_artifact import CascadeArtifact
from noscope_core.optimizer.options import SearchOptions
from noscope_core.optimizer.search import search_cascades
from noscope_core.spec.camera import Targets
from noscope_core.video.decode import ViewSpec
from noscope_core.video.decode_costs import DecodeCosts, measure_decode_costs
from tests.test_cascade import QUERY, FakeDD, FakeModel, FakeReference

av = pytest.importorskip("av")

GOP = 10
N = 120
VIEW = ViewSpec(size=8)


def _frames() -> tuple[list[np.ndarray], np.ndarray]:
    """Red corner: 255 present, 150 unsure-but-present, 20 absent; green: the scene changes every few frames."""
    rng = np.random.default_rng(3)
    red = np.full(N, 20)
    red[30:60] = 255  # an event across keyframes 30, 40, 50
    red[73:77] = 255  # a short event wholly between keyframes 70 and 80
    red[100:104] = 150  # unsure frames: the model sends them to the reference
    red[rng.choice(np.arange(84, 96), 3, replace=False)] = 150
    green = np.repeat(rng.integers(0, 255, N // 4 + 1), 4)[:N]
    frames = []
    for i in range(N):
        f = np.full((48, 64, 3), 40, np.uint8)
        f[..., 1] = green[i]
        f[:24, :32, 2] = red[i]
        frames.append(f)
    return frames, red > 127


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """H.264 with a fixed 10-frame GOP, no B-frames."""
    path = tmp_path_factory.mktemp("kf") / "clip.mp4"
    frames, _ = _frames()
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.thread_type = "FRAME"
        stream.options = {"x264-params": f"keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=0"}
        for f in frames:
            frame = av.VideoFrame.from_ndarray(f, format="bgr24")
            frame.pict_type = av.video.frame.PictureType.NONE
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _decoded(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Every frame as PyAV decodes it: small view rows (as a store would hold) and the reference's labels."""
    from noscope_core.video.readers import iter_views

    small = np.concatenate([b.small[VIEW.name] for b in iter_views(path, (VIEW,), reader="pyav", keep_full=False)])
    with av.open(str(path)) as c:
        truth = np.array([f.to_ndarray(format="bgr24")[0, 0, 2] > 127 for f in c.decode(video=0)])
    return small, truth


def _config(skip: int = 2) -> CascadeConfig:
    return CascadeConfig(
        skip=skip, dd_name="fake-previous", dd_threshold=0.02, dd_reference="previous", model_name="fake-cnn",
        c_low=0.3, c_high=0.8,
    )  # fmt: skip


def _dd_scores(small: np.ndarray, skip: int) -> np.ndarray:
    out = np.full(len(small), np.nan)
    out[skip:] = FakeDD("previous").score(small[skip:], small[:-skip])
    return out


def test_gop_decisions_settle_only_gops_whose_two_keyframes_agree_confidently():
    kp = np.array([0, 10, 20, 30, 40])
    p = np.array([0.05, 0.05, 0.95, 0.95, 0.5])
    opened, label = gop_decisions(50, kp, p, low=0.1, high=0.9)
    # [0, 10) both absent: settled absent; [10, 20) disagree: opened; [20, 30) both present: settled present;
    # [30, 40) an unsure keyframe: opened; [40, 50) has no closing keyframe: opened
    assert opened_ranges(opened) == [(10, 20), (30, 50)]
    assert not label[:10].any() and label[20:30].all()
    # a break (a new range of the segment) inside a GOP opens it
    opened, _ = gop_decisions(50, kp, p, low=0.1, high=0.9, breaks=np.array([5]))
    assert opened[:10].all()


def test_simulation_equals_the_plain_cascade_on_each_opened_range():
    rng = np.random.default_rng(0)
    n = 400
    truth = np.repeat(rng.random(n // 8 + 1) < 0.3, 8)[:n]
    p = np.clip(truth * 0.6 + rng.random(n) * 0.4, 0, 1)
    for skip in (1, 3):
        dd = rng.random(n)
        dd[:skip] = np.nan
        config = CascadeConfig(skip, "d", 0.3, "previous", "m", 0.35, 0.7)
        kp = np.sort(rng.choice(n, 30, replace=False))
        out = simulate_plan(KeyframePlan(0.2), config, kp, truth, dd, p)
        for a, b in opened_ranges(out.opened):
            want, routes = simulate(config, truth[a:b], dd[a:b], p[a:b])
            np.testing.assert_array_equal(out.labels[a:b], want)
            np.testing.assert_array_equal(out.routes[a:b], routes)
        low, high = KeyframePlan(0.2).settle_thresholds(config)
        keys = kp[~out.opened[kp]]
        assert len(keys) and ((p[keys] < low) | (p[keys] > high)).all()


def test_executor_on_the_video_and_on_stored_frames_equal_the_simulation(clip):
    small, truth = _decoded(clip)
    _, drawn = _frames()
    np.testing.assert_array_equal(truth, drawn)
    config = _config()
    model = FakeModel()
    p = model.predict_proba(small).astype(np.float64)
    keyframes = np.arange(0, N, GOP)
    plan = KeyframePlan(0.0)
    sim = simulate_plan(plan, config, keyframes, truth, _dd_scores(small, config.skip), p)
    assert 0 < sim.n_opened < N and sim.n_reference > 0  # some GOPs settled, some opened, the reference asked
    assert not sim.labels[73:77].any()  # the short event between keyframes 70 and 80 is invisible to the scan
    assert sim.labels[30:50].all()  # settled present GOPs

    cascade = Cascade(config, FakeReference(), QUERY, VIEW, dd=FakeDD("previous"), model=model)
    streamed = run_plan(cascade, plan, clip, reader="pyav", batch_size=3)
    assert streamed.plan == "keyframe-first"
    assert streamed.plan_counts["keyframes"] == len(keyframes)
    assert streamed.plan_counts["opened_frames"] == sim.n_opened
    np.testing.assert_array_equal(streamed.frame_index, np.arange(N))
    np.testing.assert_array_equal(streamed.labels, sim.labels)
    np.testing.assert_array_equal(streamed.routes, sim.routes)

    fetch = FakeFetch(clip)
    stored = run_plan_frames(cascade, plan, small, np.arange(N), keyframes, fetch, batch_size=4)
    np.testing.assert_array_equal(stored.labels, sim.labels)
    np.testing.assert_array_equal(stored.routes, sim.routes)
    assert sorted(fetch.asked) == np.flatnonzero(sim.routes == Route.REFERENCE).tolist()
    # the stream from frame 25 on: the first partial GOP [25, 30) is opened, the rest as before
    part = run_plan(cascade, plan, clip, start=25, stop=95, reader="pyav")
    assert part.frame_index[0] == 25 and len(part.frame_index) == 70
    np.testing.assert_array_equal(part.labels[5:45], sim.labels[30:70])


class FakeFetch:
    def __init__(self, path: Path) -> None:
        from noscope_core.video.readers import FrameFetcher

        self.fetcher = FrameFetcher(path)
        self.asked: list[int] = []

    def __call__(self, indices):
        self.asked.extend(int(i) for i in indices)
        return self.fetcher.frames(list(indices))


def test_opencv_reader_or_too_few_keyframes_run_densely_and_say_so(clip):
    small, _ = _decoded(clip)
    config = _config()
    cascade = Cascade(config, FakeReference(), QUERY, VIEW, dd=FakeDD("previous"), model=FakeModel())
    run = run_plan(cascade, KeyframePlan(), clip, reader="opencv")
    assert run.plan.startswith("dense") and "OpenCV" in run.plan and run.reader == "opencv"
    dense = cascade.run_video(clip, reader="opencv")
    np.testing.assert_array_equal(run.labels, dense.labels)
    one_gop = run_plan(cascade, KeyframePlan(), clip, start=12, stop=28, reader="pyav")
    assert one_gop.plan.startswith("dense") and "keyframe" in one_gop.plan


def _segment(short_events: bool, n: int = 6000, gop: int = 15, seed: int = 1):
    """A perfect model (p far from the band) and events that either span keyframes or fall wholly between them."""
    rng = np.random.default_rng(seed)
    truth = np.zeros(n, bool)
    for start in range(40, n - 60, 120):
        if short_events:
            s = start - start % gop + 3 + int(rng.integers(0, 4))  # 3-6 frames after a keyframe, 5 long
            truth[s : s + 5] = True
        else:
            truth[start : start + 60] = True
    p = np.where(truth, 0.97, 0.02) + rng.normal(0, 0.005, n)
    return truth, np.clip(p, 0, 1), np.arange(0, n, gop)


@pytest.mark.parametrize("confidence,target", [(None, 0.01), (0.95, 0.2)])
def test_optimizer_keeps_a_keyframe_plan_only_when_it_meets_the_targets_and_is_cheaper(confidence, target):
    costs = StageCosts({}, {"m": 0.2}, reference_ms=50.0)
    decode = DecodeCosts(frame_ms=1.0, shrink_ms=0.05, keyframe_ms=1.5, seek_ms=0.5)
    for short in (False, True):
        truth, p, keys = _segment(short)
        opts = SearchOptions(Targets(target, target, confidence), certify=False, skips=(1,), unit_frames=60)
        res = search_cascades(truth, {"m": p}, {}, {}, costs, replace(opts, decode_costs=decode, keyframes=keys))
        assert res.n_keyframe_plans > 0
        plain = search_cascades(truth, {"m": p}, {}, {}, costs, opts)
        assert plain.best.decode_ms is None and plain.best.keyframe_plan is None  # no decode costs: as before
        if short:
            # the scan settles the GOPs around each short event: the plan misses them and is rejected
            assert res.best.keyframe_plan is None and res.dense_best is None
            assert confidence is not None or res.best.config.model_name is not None  # a dense cascade won
            config = CascadeConfig(model_name="m", c_low=0.5, c_high=0.5)
            sim = simulate_plan(KeyframePlan(0.0), config, keys, truth, None, p)
            assert (truth & ~sim.labels).sum() / truth.sum() > 0.5
            # it would have been far cheaper than any dense plan: only its misses kept it out
            assert plan_cost(sim, config, costs, decode).total_ms < decode.frame_ms
        else:
            plan = res.best.keyframe_plan
            assert plan is not None and res.dense_best is not None
            assert res.best.total_ms < res.dense_best.total_ms
            assert res.best.fnr <= target and res.best.fpr <= target
            out = simulate_plan(plan, res.best.config, keys, truth, None, p)
            assert res.best.total_ms == pytest.approx(plan_cost(out, res.best.config, costs, decode).total_ms)
            if confidence is not None:
                # the same block bounds as a dense plan with these per-frame error totals
                from noscope_core.guarantees.bounds import rate_bound

                fn = int((truth & ~out.labels).sum())
                joint = (1 + confidence) / 2  # each rate at δ/2: both hold together at the confidence
                want = rate_bound(np.array([fn]), int(truth.sum()), len(truth), 60, joint)[0]
                assert res.best.fnr_bound == pytest.approx(want) and res.best.fnr_bound <= target


def test_old_artifacts_load_as_dense_and_new_ones_round_trip(tmp_path):
    from noscope_core.optimizer.search import Candidate, OptimizationResult
    from noscope_core.spec.camera import Targets
    from noscope_core.spec.query import Query

    config = _config()
    kf = Candidate(config, 0.0, 0.0, 1.0, 0.01, 50.0, 0.004, 0.002, 0.4, KeyframePlan(0.5))
    dense = Candidate(config, 0.0, 0.0, 2.0, 0.02, 25.0, 0.004, 0.002, 1.1)
    result = OptimizationResult(kf, [dense], False, None, 10, 0.95, 30, dense_best=dense, n_keyframe_plans=3)
    art = CascadeArtifact.from_result(
        result, costs=StageCosts({"fake-previous": 0.1}, {"fake-cnn": 0.2}, 50.0), query=Query("person"), view=VIEW,
        reference_name="r", reference_identity="r", targets=Targets(0.01, 0.01, 0.95), skips=[1, 2], fps=10.0,
        decode_costs=DecodeCosts(1.0, 0.05, 1.5, 0.3, 15.0),
    )  # fmt: skip
    art.save(tmp_path / "cascade.json")
    back = CascadeArtifact.load(tmp_path / "cascade.json")
    assert (
        back.keyframe_plan == KeyframePlan(0.5) and back.dense_best == dense and back.decode_costs == art.decode_costs
    )
    assert "keyframes first" in back.best.describe()

    old = art.to_dict()
    for key in ("decode_costs", "dense_best", "keyframe_best"):
        old.pop(key)
    for cand in (old["best"], *old["frontier"]):
        for key in ("decode_ms", "keyframe_plan", "fnr_bound", "fpr_bound"):
            cand.pop(key)
    loaded = CascadeArtifact.from_dict(old)
    assert loaded.keyframe_plan is None and loaded.decode_costs is None and loaded.best.decode_ms is None


def test_decode_costs_are_measured_on_pyav_files_only(clip, tmp_path):
    measured = measure_decode_costs(clip, VIEW, dense_frames=60, keyframes=5, seeks=3)
    assert measured is not None
    costs, keys = measured
    assert keys.tolist() == list(range(0, N, GOP))
    assert costs.frame_ms > 0 and costs.keyframe_ms > 0 and costs.gop_frames == GOP
    missing = tmp_path / "none.mp4"
    missing.write_bytes(b"not a video")
    assert measure_decode_costs(missing, VIEW) is None


def test_run_query_answers_with_the_artifacts_keyframe_plan_stored_and_streamed(clip, tmp_path):
    from noscope_core.flows.test_segment import run_on_segment
    from noscope_core.guarantees.certify_answer import CertifyOptions
    from noscope_core.optimizer.search import Candidate, OptimizationResult
    from noscope_core.spec.camera import Targets
    from noscope_core.spec.split import Segment
    from noscope_core.video.framestore import build_frame_store

    small, truth = _decoded(clip)
    config = _config()
    plan = KeyframePlan(0.0)
    best = Candidate(config, 0.0, 0.0, 1.0, 0.05, 50.0, keyframe_plan=plan, decode_ms=0.5)
    art = CascadeArtifact.from_result(
        OptimizationResult(best, [best], False, None, 1),
        costs=StageCosts({"fake-previous": 0.1}, {"fake-cnn": 0.2}, 50.0), query=QUERY, view=VIEW,
        reference_name="fake-reference", reference_identity="fake", targets=Targets(0.01, 0.01, None), skips=[2],
        fps=10.0,
    )  # fmt: skip
    store = build_frame_store(clip, tmp_path / "store", views=(VIEW,), progress=False)
    assert store.reader == "pyav"
    cascade = Cascade(config, FakeReference(), QUERY, VIEW, dd=FakeDD("previous"), model=FakeModel())
    res = run_on_segment(
        cascade, art, store, Segment("test", ((0, N),)), clip, truth=truth, certify=CertifyOptions(False)
    )
    sim = simulate_plan(
        plan, config, np.arange(0, N, GOP), truth, _dd_scores(small, 2), FakeModel().predict_proba(small)
    )
    assert res.plan == "keyframe-first" and res.plan_counts["opened_frames"] == sim.n_opened
    assert res.labels_agree_e2e == 1.0  # the streamed run and the stored-frame run answer alike
    assert res.positive_frames == int(sim.labels.sum())
    assert res.to_dict()["cascade"]["keyframe_plan"] == {"margin": 0.0}
