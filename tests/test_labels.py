import numpy as np

from noscope_core.reference.detectors.base import Detection
from noscope_core.reference.labels import frame_label, label_frames, match_score, smooth_labels
from noscope_core.spec.query import ROI, Query


def _det(cls, score, cx, cy, size=0.1):
    return Detection(cls, score, cx - size / 2, cy - size / 2, size, size)


def test_only_matching_class_inside_roi_counts():
    q = Query("person", ROI(0, 0.5, 0.5, 1.0), min_score=0.5)
    dets = [_det("person", 0.9, 0.8, 0.8), _det("car", 0.95, 0.2, 0.8), _det("person", 0.6, 0.2, 0.7)]
    assert match_score(dets, q) == 0.6
    assert frame_label(dets, q)
    assert not frame_label([_det("person", 0.4, 0.2, 0.7)], q)


def test_smoothing_removes_single_frame_flicker_but_keeps_runs():
    raw = np.array([0, 0, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1], dtype=bool)
    out = smooth_labels(raw, 3)
    assert not out[2]  # isolated positive removed
    assert out[8]  # one-frame gap inside a run filled
    assert out[5:8].all()
    assert (smooth_labels(raw, 1) == raw).all()


def test_label_frames_reports_scores_raw_and_smoothed():
    q = Query("car", smooth_frames=3)
    dets = [[_det("car", 0.9, 0.5, 0.5)], [], [_det("car", 0.7, 0.5, 0.5)], [_det("car", 0.8, 0.5, 0.5)]]
    lab = label_frames(range(4), dets, q)
    assert lab.raw.tolist() == [True, False, True, True]
    assert lab.label.tolist() == [True, True, True, True]
    assert np.isclose(lab.score[0], 0.9)
    assert lab.positive_rate == 1.0
