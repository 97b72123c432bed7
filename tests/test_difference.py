"""Difference detectors: what "changed" means against the background and against frame t−k, fitting, I/O."""

from __future__ import annotations

import json

import numpy as np
import pytest

from noscope_core.common.errors import ArtifactError, DegenerateLabelsError, NoScopeError
from noscope_core.models.difference import (
    DifferenceDetector,
    DifferenceSpec,
    FrameShapeError,
    default_difference_specs,
)

S = 50
OBJECT_ROWS = slice(12, 18)  # inside tile row 1 of 5 (rows 10–19)
OBJECT_COLS = slice(32, 38)  # inside tile column 3 of 5 (columns 30–39)


def scene(n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A fixed noisy background; in runs of labelled frames a bright square sits in tile (1, 3)."""
    rng = np.random.default_rng(seed)
    background = rng.integers(40, 200, (S, S, 3))
    frames = np.clip(background[None] + rng.normal(0, 6, (n, S, S, 3)), 0, 255).astype(np.uint8)
    labels = (np.arange(n) // 20) % 2 == 1  # alternating runs of 20 empty and 20 occupied frames
    frames[labels, OBJECT_ROWS, OBJECT_COLS] = 250
    # distracting change where it never matters: flicker in tile (4, 0) in random frames
    flicker = rng.random(n) < 0.3
    frames[flicker, 42:48, 2:8] = 5
    return frames, labels


def _score(dd: DifferenceDetector, frames: np.ndarray, k: int = 1) -> np.ndarray:
    return dd.score(frames) if dd.spec.reference == "background" else dd.score(frames[k:], frames[:-k])


def test_default_specs_are_the_four_combinations_with_distinct_names():
    names = [s.name for s in default_difference_specs()]
    assert sorted(names) == ["blocked-background", "blocked-previous", "global-background", "global-previous"]


@pytest.mark.parametrize("kind", ["global", "blocked"])
def test_background_detector_scores_object_frames_above_every_empty_frame(kind):
    frames, labels = scene()
    dd = DifferenceDetector(DifferenceSpec(kind, "background")).fit(frames, labels)
    test_frames, test_labels = scene(seed=1)
    scores = dd.score(test_frames)
    assert scores.dtype == np.float32 and scores.shape == (len(test_frames),)
    assert scores[test_labels].min() > scores[~test_labels].max()
    assert dd.train_auc_ == pytest.approx(1.0)


@pytest.mark.parametrize("kind", ["global", "blocked"])
def test_previous_detector_scores_a_changed_pair_above_an_identical_pair(kind):
    frames, labels = scene()
    dd = DifferenceDetector(DifferenceSpec(kind, "previous")).fit(frames, labels)
    empty, occupied = frames[~labels][:5], frames[labels][:5]
    same = dd.score(empty, empty.copy())
    changed = dd.score(occupied, empty)
    assert changed.min() > same.max()


def test_previous_detector_requires_previous_frames_and_background_ignores_them():
    frames, labels = scene()
    prev = DifferenceDetector(DifferenceSpec("global", "previous")).fit(frames, labels)
    with pytest.raises(FrameShapeError, match="needs the previous frames"):
        prev.score(frames)
    bg = DifferenceDetector(DifferenceSpec("global", "background")).fit(frames, labels)
    np.testing.assert_array_equal(bg.score(frames), bg.score(frames, frames[::-1]))


@pytest.mark.parametrize("reference", ["background", "previous"])
def test_blocked_regression_weights_the_block_where_objects_appear_most(reference):
    frames, labels = scene(400)
    dd = DifferenceDetector(DifferenceSpec("blocked", reference)).fit(frames, labels)
    assert dd.coef_.shape == (25,)
    assert int(np.argmax(dd.coef_)) == 1 * 5 + 3  # tile row 1, column 3
    assert dd.coef_[4 * 5 + 0] < dd.coef_[1 * 5 + 3] / 2  # the flicker tile is not what it relies on


def test_global_score_is_the_mean_squared_error_against_the_background():
    frames, labels = scene(60)
    dd = DifferenceDetector(DifferenceSpec("global", "background")).fit(frames, labels)
    expected = ((frames.astype(np.float64) - dd.background_) ** 2).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(dd.score(frames), expected, rtol=1e-5)


def test_background_is_the_median_of_object_free_train_frames():
    frames, labels = scene(60)
    dd = DifferenceDetector(DifferenceSpec("global", "background")).fit(frames, labels)
    np.testing.assert_array_equal(dd.background_, np.median(frames[~labels], axis=0).astype(np.float32))
    assert not np.any(dd.background_[OBJECT_ROWS, OBJECT_COLS] == 250)


def test_block_mse_matches_a_direct_per_tile_computation_when_blocks_do_not_divide_the_frame():
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (7, 23, 23, 3), dtype=np.uint8)
    ref = rng.integers(0, 256, (7, 23, 23, 3), dtype=np.uint8)
    dd = DifferenceDetector(DifferenceSpec("blocked", "previous", blocks=4))
    got = dd._block_mse(frames, ref)
    edges = np.linspace(0, 23, 5).round().astype(int)
    diff = (frames.astype(np.float64) - ref) ** 2
    for i in range(4):
        for j in range(4):
            tile = diff[:, edges[i] : edges[i + 1], edges[j] : edges[j + 1]].mean(axis=(1, 2, 3))
            np.testing.assert_allclose(got[:, i * 4 + j], tile, rtol=1e-5)


def test_scores_do_not_depend_on_how_the_batch_is_chunked():
    frames, labels = scene(600)
    cur, prev = frames[1:], frames[:-1]
    for spec in default_difference_specs():
        dd = DifferenceDetector(spec).fit(frames[:200], labels[:200])
        whole = dd.score(cur, prev)
        parts = np.concatenate([dd.score(cur[:301], prev[:301]), dd.score(cur[301:], prev[301:])])
        np.testing.assert_allclose(whole, parts, rtol=1e-6)


@pytest.mark.parametrize("spec", default_difference_specs(), ids=lambda s: s.name)
def test_save_load_round_trip_gives_equal_scores(tmp_path, spec):
    frames, labels = scene()
    dd = DifferenceDetector(spec, query_key="q1").fit(frames, labels)
    path = tmp_path / f"{spec.name}.npz"
    dd.save(path)
    loaded = DifferenceDetector.load(path, spec=spec, query_key="q1")
    np.testing.assert_array_equal(_score(dd, frames, 5), _score(loaded, frames, 5))
    assert loaded.spec == spec and loaded.query_key == "q1"
    with np.load(path, allow_pickle=False) as z:  # a plain npz: no pickled objects inside
        assert json.loads(str(z["config"]))["spec"] == spec.to_dict()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary files left behind


def test_load_refuses_another_spec_another_query_a_missing_or_corrupt_file(tmp_path):
    frames, labels = scene()
    path = tmp_path / "dd.npz"
    DifferenceDetector(DifferenceSpec("global", "background"), query_key="q1").fit(frames, labels).save(path)
    with pytest.raises(ArtifactError, match="not global-previous"):
        DifferenceDetector.load(path, spec=DifferenceSpec("global", "previous"))
    with pytest.raises(ArtifactError, match="another query"):
        DifferenceDetector.load(path, query_key="q2")
    with pytest.raises(ArtifactError, match="missing"):
        DifferenceDetector.load(tmp_path / "nope.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ArtifactError, match="cannot read"):
        DifferenceDetector.load(tmp_path / "bad.npz")


def test_shape_errors_are_clear_noscope_errors():
    frames, labels = scene(60)
    dd = DifferenceDetector(DifferenceSpec("blocked", "previous")).fit(frames, labels)
    with pytest.raises(FrameShapeError, match=r"shape \(N, H, W, 3\)") as err:
        dd.score(frames[0], frames[1])
    assert isinstance(err.value, NoScopeError) and isinstance(err.value, ValueError)
    with pytest.raises(FrameShapeError, match="must be uint8"):
        dd.score(frames.astype(np.float32), frames)
    with pytest.raises(FrameShapeError, match="fitted on 50×50"):
        dd.score(frames[:, :40, :40], frames[:, :40, :40])
    with pytest.raises(FrameShapeError, match="must pair up"):
        dd.score(frames[:10], frames[:9])
    with pytest.raises(FrameShapeError, match="labels must have shape"):
        DifferenceDetector(DifferenceSpec("global", "background")).fit(frames, labels[:-1])
    with pytest.raises(ArtifactError, match="not fitted"):
        DifferenceDetector(DifferenceSpec("global", "background")).score(frames)


def test_all_positive_or_all_negative_labels_raise_degenerate_labels_error():
    frames, _ = scene(60)
    for value in (True, False):
        with pytest.raises(DegenerateLabelsError, match="region of interest"):
            DifferenceDetector(DifferenceSpec("blocked", "background")).fit(frames, np.full(60, value))


def test_empty_batch_scores_to_an_empty_array():
    frames, labels = scene(60)
    for spec in default_difference_specs():
        dd = DifferenceDetector(spec).fit(frames, labels)
        assert dd.score(frames[:0], frames[:0]).shape == (0,)
