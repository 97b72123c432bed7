"""The baselines: frame skipping and a MOG2 motion gate in front of the reference, fitted on threshold labels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from noscope_core.cascade.evaluate import error_rates
from noscope_core.cascade.routing import CascadeConfig, simulate
from noscope_core.common.errors import DegenerateLabelsError, QueryError
from noscope_core.optimizer.baselines import BaselineRun, FrameSkipBaseline, MotionGateBaseline
from noscope_core.reference.detectors.base import Detection, ReferenceDetector
from noscope_core.spec.query import ROI, Query
from noscope_core.video.frames import iter_frames
from noscope_core.video.shrink import preprocess
from noscope_core.video.views import ViewSpec

W, H = 96, 64
QUERY = Query("blob", ROI(0.0, 0.0, 1.0, 1.0))


class BrightBlobDetector(ReferenceDetector):
    """Finds the white square of the test video by thresholding pixels: a real look at decoded frames."""

    name = "blob"

    @property
    def class_names(self) -> tuple[str, ...]:
        return ("blob",)

    def identity(self) -> str:
        return "blob-v1"

    def _detect(self, frames, frame_indices):
        out = []
        for f in frames:
            ys, xs = np.nonzero(f.max(axis=2) > 200)
            if len(xs) < 20:
                out.append([])
                continue
            x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
            out.append([Detection("blob", 0.9, x0 / W, y0 / H, (x1 - x0) / W, (y1 - y0) / H)])
        return out


def _present(n: int) -> np.ndarray:
    """A square is visible in frames [20, 45) and [70, 110): two arrivals, like objects passing a camera."""
    p = np.zeros(n, dtype=bool)
    p[20:45] = True
    p[70:110] = True
    return p


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> tuple[str, np.ndarray]:
    n = 140
    present = _present(n)
    path = tmp_path_factory.mktemp("bl") / "blob.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (W, H))
    rng = np.random.default_rng(0)
    background = rng.integers(30, 90, (H, W, 3), dtype=np.uint8)
    for f in range(n):
        img = background.copy()
        if present[f]:
            x = 10 + (f % 25) * 2  # moves, so a motion gate sees it
            img[20:44, x : x + 24] = 255
        writer.write(img)
    writer.release()
    return str(path), present


def _truth_from_detector(path: str) -> np.ndarray:
    det = BrightBlobDetector()
    labels = []
    for batch in iter_frames(path, batch_size=64):
        labels += [bool(d) for d in det.detect(batch.frames, batch.indices.tolist())]
    return np.array(labels)


def test_frame_skip_fit_picks_the_largest_skip_that_meets_the_targets():
    truth = np.zeros(400, dtype=bool)
    for a in range(30, 400, 80):
        truth[a : a + 40] = True
    base = FrameSkipBaseline(max_fnr=0.05, max_fpr=0.05).fit(truth)
    ok = []
    for skip in (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 45, 60, 90):
        labels, _ = simulate(CascadeConfig(skip=skip), truth, None, None)
        r = error_rates(labels, truth)
        if r.fnr <= 0.05 and r.fpr <= 0.05:
            ok.append(skip)
    assert base.skip_ == max(ok)
    assert base.skip_ > 1  # long runs allow skipping
    assert base.threshold_fnr_ <= 0.05 and base.threshold_fpr_ <= 0.05


def test_frame_skip_fit_falls_back_to_every_frame_when_labels_flicker():
    truth = np.arange(200) % 2 == 0  # every other frame: any skip errs on half the frames
    assert FrameSkipBaseline(max_fnr=0.01, max_fpr=0.01).fit(truth).skip_ == 1


def test_fit_refuses_labels_with_one_class_only():
    with pytest.raises(DegenerateLabelsError):
        FrameSkipBaseline().fit(np.zeros(100, dtype=bool))
    with pytest.raises(DegenerateLabelsError):
        MotionGateBaseline(ViewSpec(16)).fit(np.zeros((100, 16, 16, 3), np.uint8), np.ones(100, dtype=bool))


def test_unfitted_baselines_refuse_to_run(video):
    path, _ = video
    with pytest.raises(QueryError):
        FrameSkipBaseline().run(path, BrightBlobDetector(), QUERY)
    with pytest.raises(QueryError):
        MotionGateBaseline(ViewSpec(16)).run(path, BrightBlobDetector(), QUERY)


def test_reference_on_every_frame_reproduces_the_reference_and_calls_it_once_per_frame(video):
    path, _ = video
    truth = _truth_from_detector(path)
    run = FrameSkipBaseline.every_frame().run(path, BrightBlobDetector(), QUERY, start=10, stop=130)
    assert run.name == "reference"
    assert run.frame_index.tolist() == list(range(10, 130))
    assert np.array_equal(run.labels, truth[10:130])
    assert run.reference_calls == 120 and run.reference_call_fraction == 1.0


def test_a_reference_failing_mid_stream_stops_the_baselines_decoder_thread(video):
    import threading

    from noscope_core.common.errors import DetectorError

    class Crashing(BrightBlobDetector):
        def _detect(self, frames, frame_indices):
            if max(frame_indices) >= 40:
                raise DetectorError("the detector crashed on frame 40")
            return super()._detect(frames, frame_indices)

    path, _ = video
    try:
        FrameSkipBaseline.every_frame().run(path, Crashing(), QUERY, batch_size=8)
    except DetectorError as err:  # looked at while the failed call's frame (and its generators) still exist
        assert "crashed on frame 40" in str(err)
        alive = [t for t in threading.enumerate() if t.name == "noscope-decode"]
    else:
        pytest.fail("the reference's failure was swallowed")
    assert alive == []


def test_frame_skip_run_calls_the_reference_on_every_kth_frame_and_covers_the_range(video):
    path, _ = video
    truth = _truth_from_detector(path)
    base = FrameSkipBaseline(skips=(1, 5))
    base.skip_ = 5
    run = base.run(path, BrightBlobDetector(), QUERY, start=10, stop=131)
    assert run.frame_index.tolist() == list(range(10, 131))
    assert run.reference_calls == len(range(10, 131, 5))
    expected = truth[np.arange(10, 131) // 5 * 5]  # each frame takes the label of the last evaluated one
    assert np.array_equal(run.labels, expected)


def test_motion_gate_sends_only_moving_frames_to_the_reference_and_meets_the_target(video):
    path, present = video
    view = ViewSpec(32)
    truth = _truth_from_detector(path)
    frames = preprocess([f for b in iter_frames(path, batch_size=64) for f in b.frames], view)
    gate = MotionGateBaseline(view, max_fnr=0.0, max_fpr=0.0).fit(frames[:70], truth[:70])
    assert gate.threshold_ > 0 and gate.threshold_fnr_ == 0.0
    assert gate.threshold_reference_fraction_ < 1.0
    run = gate.run(path, BrightBlobDetector(), QUERY, start=0, stop=140)
    assert run.name == "motion_gate"
    rates = error_rates(run.labels, truth)
    assert rates.fpr == 0.0  # everything it calls present was confirmed by the reference
    assert rates.fnr <= 0.05
    # the static background after the subtractor has learnt it is gated away
    assert run.reference_calls < 0.8 * len(truth)


def test_motion_gate_scores_are_zero_on_a_static_scene_once_learnt():
    gate = MotionGateBaseline(ViewSpec(16))
    frames = np.full((60, 16, 16, 3), 100, np.uint8)
    assert gate.scores(frames)[5:].max() == 0.0


def test_baseline_run_rates_exclude_decode_from_fps_and_include_it_end_to_end():
    run = BaselineRun(
        "x",
        "x",
        np.arange(100),
        np.zeros(100, bool),
        10,
        {"decode": 1.0, "gate": 0.5, "reference": 0.5, "total": 2.0},
    )
    assert run.fps == pytest.approx(100.0)
    assert run.fps_e2e == pytest.approx(50.0)
    assert run.reference_call_fraction == pytest.approx(0.1)


def test_a_declared_reference_is_charged_its_declared_cost_like_the_cascade_charges_it(video):
    path, _ = video
    det = BrightBlobDetector()
    det.declare_cost(100.0)  # 100 ms per frame, whatever the lookup really took
    run = FrameSkipBaseline.every_frame().run(path, det, QUERY, start=0, stop=50)
    assert run.seconds["reference"] == pytest.approx(5.0)
    assert run.seconds["total"] >= 5.0
    assert run.fps <= 10.0 + 1e-9  # 50 frames cannot take less than the 5 s charged for them


def test_fitting_restarts_at_each_range_of_a_blocked_segment():
    # two ranges whose labels differ across the seam: across it, skipping would carry a stale label
    piece = np.zeros(45, dtype=bool)
    piece[10:30] = True
    truth = np.concatenate([piece, ~piece])
    joined = FrameSkipBaseline(skips=(1, 10), max_fnr=0.0, max_fpr=0.0).fit(truth)
    per_range = FrameSkipBaseline(skips=(1, 10), max_fnr=0.0, max_fpr=0.0).fit(truth, starts=(0, 45))
    assert joined.skip_ == 1  # as one range of 90, frames 45-49 inherit frame 40's (stale) label
    assert per_range.skip_ == 10  # each range restarts at its own first frame: every label change is on the grid
    with pytest.raises(QueryError):
        FrameSkipBaseline().fit(truth, starts=(0, 90))
