"""The synthetic camera: deterministic, sane positive rates, visible objects, truth that matches the video."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from noscope_core.common.errors import ArtifactError, DetectorError, VideoError
from noscope_core.footage.synthetic.scene import SyntheticScene
from noscope_core.footage.synthetic.truth import synthetic_truth
from noscope_core.footage.synthetic.write import write_synthetic_video
from noscope_core.reference.detectors.synthetic import SyntheticDetector
from noscope_core.reference.labels import label_frames
from noscope_core.reference.synthetic_truth import load_truth, truth_path
from noscope_core.spec.query import ROI, Query
from noscope_core.video.frames import iter_frames, read_frames
from noscope_core.video.probe import probe_video

N = 120
SCENE = SyntheticScene(width=160, height=120, seed=5, mean_gap_s=4.0, mean_stay_s=3.0)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_synthetic_video(tmp_path_factory.mktemp("syn") / "clip.avi", N, SCENE)


@pytest.fixture(scope="module")
def frames(clip) -> list[np.ndarray]:
    return [f for b in iter_frames(clip) for f in b.frames]


def _same_truth(a, b) -> bool:
    fields = ("track_class", "track_first", "track_len", "boxes", "scores")
    return a.n_frames == b.n_frames and all(np.array_equal(getattr(a, f), getattr(b, f)) for f in fields)


def test_same_seed_gives_the_same_truth_and_pixels(tmp_path, clip, frames):
    again = write_synthetic_video(tmp_path / "again.avi", N, SCENE)
    assert _same_truth(load_truth(again), load_truth(clip))
    assert all(
        np.array_equal(a, b) for a, b in zip(frames, (f for b in iter_frames(again) for f in b.frames), strict=True)
    )


def test_different_seed_gives_different_truth():
    a = synthetic_truth(SCENE, 2000)
    b = synthetic_truth(dataclasses.replace(SCENE, seed=6), 2000)
    assert not _same_truth(a, b)


def test_truth_of_a_prefix_does_not_depend_on_length():
    short, long = synthetic_truth(SCENE, 500), synthetic_truth(SCENE, 1500)
    for name in SCENE.classes:
        assert np.array_equal(short.presence(name), long.presence(name)[:500])
    assert short.detections([123, 499]) == long.detections([123, 499])


def test_default_scene_positive_rate_per_class_is_in_a_useful_band():
    truth = synthetic_truth(SyntheticScene(), 12_000)  # 20 minutes at 10 fps, truth only
    for name in ("car", "person"):
        rate = truth.presence(name).mean()
        assert 0.2 <= rate <= 0.45, (name, rate)
    corner = truth.presence("person", roi=ROI(0.0, 0.5, 0.5, 1.0)).mean()
    assert 0.02 < corner < truth.presence("person").mean()


def test_written_video_matches_the_scene_and_truth_sidecar(clip, frames):
    info = probe_video(clip)
    assert (info.width, info.height, info.frame_count) == (160, 120, N) and info.fps == pytest.approx(10.0)
    assert len(frames) == N
    truth = load_truth(clip)
    assert truth_path(clip).is_file() and truth.n_frames == N and truth.classes == ("car", "person")
    assert SyntheticScene.from_dict(truth.scene_dict) == SCENE and truth.video_fingerprint == info.fingerprint
    assert truth.n_tracks > 0
    assert ((truth.boxes >= 0) & (truth.boxes <= 1)).all()
    assert ((truth.boxes[:, 0] + truth.boxes[:, 2]) <= 1 + 1e-6).all() and (truth.boxes[:, 2] > 0).all()


def test_objects_are_drawn_inside_their_truth_boxes(clip, frames):
    """Pixels in a box change when its object is there, compared with the nearest frame where nothing is."""
    truth = load_truth(clip)
    dets = truth.detections(range(N))
    empty = [i for i, d in enumerate(dets) if not d]
    assert empty, "the test clip needs an empty frame"
    H, W = 120, 160
    checked = 0
    for i, ds in enumerate(dets):
        for d in ds:
            if d.w * W < 8 or d.h * H < 8:
                continue
            j = min(empty, key=lambda e: abs(e - i))
            x0, y0 = int(d.x * W), int(d.y * H)
            x1, y1 = int((d.x + d.w) * W), int((d.y + d.h) * H)
            diff = np.abs(frames[i][y0:y1, x0:x1].astype(np.int16) - frames[j][y0:y1, x0:x1]).mean()
            assert diff > 12, (i, d)
            checked += 1
    assert checked > 20


def test_foliage_moves_but_frames_without_objects_stay_negative(frames):
    truth = synthetic_truth(SCENE, N)
    dets = truth.detections(range(N))
    empty = [i for i, d in enumerate(dets) if not d]
    pairs = [(a, b) for a, b in zip(empty, empty[1:], strict=False) if b - a >= 5]
    assert pairs
    a, b = pairs[0]
    moved = np.abs(frames[a].astype(np.int16) - frames[b]).max(axis=2) > 40
    assert moved.any()  # swaying foliage: motion with no object


def test_detections_scores_are_one_or_jittered_in_range(clip):
    truth = load_truth(clip)
    flat = [d for ds in truth.detections(range(N), jitter=True) for d in ds]
    assert flat and all(0.6 <= d.score <= 1.0 for d in flat) and len({d.score for d in flat}) > 5
    assert all(d.score == 1.0 for ds in truth.detections(range(N), jitter=False) for d in ds)
    assert truth.detections([7]) == truth.detections([7])
    with pytest.raises(VideoError, match="outside"):
        truth.detections([N])


def test_missing_or_stale_truth_is_reported(tmp_path, clip):
    bare = tmp_path / "bare.avi"
    bare.write_bytes(clip.read_bytes())
    with pytest.raises(ArtifactError, match="no synthetic ground truth"):
        load_truth(bare)
    other = write_synthetic_video(tmp_path / "other.avi", 20, dataclasses.replace(SCENE, seed=1))
    truth_path(bare).write_bytes(truth_path(other).read_bytes())
    with pytest.raises(ArtifactError, match="another version"):
        load_truth(bare)


def test_bad_scene_and_output_are_rejected(tmp_path):
    for bad in ({"width": 101}, {"fps": 0}, {"classes": ()}, {"classes": ("car", "car")}, {"mean_gap_s": 0}):
        with pytest.raises(VideoError):
            SyntheticScene(**bad)
    with pytest.raises(VideoError, match="extension"):
        write_synthetic_video(tmp_path / "x.gif", 5)
    with pytest.raises(VideoError):
        write_synthetic_video(tmp_path / "x.avi", 0)
    assert list(tmp_path.iterdir()) == []


def test_extra_classes_get_their_own_tracks():
    scene = SyntheticScene(classes=("car", "person", "truck", "dog"), seed=2)
    truth = synthetic_truth(scene, 3000)
    for name in scene.classes:
        assert truth.presence(name).any(), name


def test_synthetic_detector_reports_the_truth_without_pixels(clip):
    det = SyntheticDetector(clip, cost_ms_per_frame=40.0)
    truth = load_truth(clip)
    assert det.name == "synthetic" and det.needs_pixels is False
    assert det.class_names == ("car", "person")
    assert det.cost_ms_per_frame == 40.0
    out = det.detect([], list(range(N)))
    assert out == truth.detections(range(N))
    labels = label_frames(np.arange(N), out, Query("car"))
    assert np.array_equal(labels.raw, truth.presence("car"))
    assert det.cost_ms_per_frame == 40.0  # declared, not measured


def test_synthetic_detector_identity_follows_the_truth(tmp_path, clip):
    other = write_synthetic_video(tmp_path / "o.avi", 20, dataclasses.replace(SCENE, seed=8))
    a, b = SyntheticDetector(clip), SyntheticDetector(other)
    assert a.identity() != b.identity() and a.identity() == SyntheticDetector(clip).identity()
    assert a.identity() != SyntheticDetector(clip, jitter_scores=False).identity()


def test_synthetic_detector_without_sidecar_is_a_detector_error(tmp_path):
    with pytest.raises(DetectorError, match="no synthetic ground truth"):
        SyntheticDetector(tmp_path / "plain.avi")


def test_a_longer_video_starts_with_the_same_pixels(tmp_path, frames):
    longer = write_synthetic_video(tmp_path / "longer.avi", N + 60, SCENE)
    head = [f for b in iter_frames(longer, stop=N) for f in b.frames]
    assert all(np.array_equal(a, b) for a, b in zip(head, frames, strict=True))


def test_drift_changes_nothing_before_its_frame_and_shifts_light_and_view_after(tmp_path):
    base = SyntheticScene(width=96, height=64, seed=3, mean_gap_s=1.0, mean_stay_s=2.0)
    drift = dataclasses.replace(base, drift_frame=40, drift_gain=1.5, drift_shift_px=(6, 4))
    a = write_synthetic_video(tmp_path / "a.avi", 80, base)
    b = write_synthetic_video(tmp_path / "b.avi", 80, drift)
    ta, tb = load_truth(a), load_truth(b)
    assert SyntheticScene.from_dict(tb.scene_dict) == drift  # the drift round-trips through the sidecar
    pa, pb = ta.presence("car"), tb.presence("car")
    assert np.array_equal(pa[:40], pb[:40])
    fa, fb = np.stack(read_frames(a, range(80))), np.stack(read_frames(b, range(80)))
    assert np.abs(fa[:40].astype(int) - fb[:40]).mean() < 1.0  # codec noise only
    assert fb[40:].mean() > 1.2 * fa[40:].mean()  # the lighting step
    # the truth moves with the view: a box seen before and after the drift frame in both videos
    da, db = ta.detections([60], jitter=False)[0], tb.detections([60], jitter=False)[0]
    inside = [(x, y) for x, y in zip(da, db, strict=True) if 0.1 < x.cx < 0.8 and 0.1 < x.cy < 0.8]
    assert inside
    for x, y in inside:
        assert y.cx - x.cx == pytest.approx(6 / 96, abs=1e-4) and y.cy - x.cy == pytest.approx(4 / 64, abs=1e-4)


def test_bad_drift_is_rejected():
    with pytest.raises(VideoError):
        SyntheticScene(drift_frame=-1)
    with pytest.raises(VideoError):
        SyntheticScene(drift_gain=0.0)
    with pytest.raises(VideoError):
        SyntheticScene(width=64, height=64, drift_shift_px=(40, 0))
