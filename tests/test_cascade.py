"""The cascade executor agrees with the simulator, calls each stage only where it must, and carries state."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from noscope_core.cascade.execute import Cascade
from noscope_core.cascade.routing import (
    PENDING,
    CascadeConfig,
    Route,
    assign_labels,
    dd_routes,
    expand_to_frames,
    simulate,
)
from noscope_core.common.errors import ArtifactError, QueryError
from noscope_core.reference.detectors.base import Detection, ReferenceDetector
from noscope_core.reference.labels import frame_label
from noscope_core.spec.query import Query

QUERY = Query("person")

# Small frames are 2×2×3: channel 0 encodes the model's probability, channel 1 the scene "activity" the
# DDs look at, channel 2 whether a person is present (what the fake reference sees in the full frame).


class FakeDD:
    def __init__(self, reference: str, name: str | None = None) -> None:
        self.spec = SimpleNamespace(name=name or f"fake-{reference}", reference=reference)
        self.frames_seen = 0

    def score(self, frames: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray:
        self.frames_seen += len(frames)
        act = frames[:, 0, 0, 1].astype(np.float32) / 255
        if self.spec.reference == "background":
            assert previous is None
            return act
        assert previous is not None and previous.shape == frames.shape
        return np.abs(act - previous[:, 0, 0, 1].astype(np.float32) / 255)


class FakeModel:
    name = "fake-cnn"

    def __init__(self) -> None:
        self.frames_seen = 0

    def predict_proba(self, frames: np.ndarray) -> np.ndarray:
        self.frames_seen += len(frames)
        return frames[:, 0, 0, 0].astype(np.float32) / 255


class FakeReference(ReferenceDetector):
    """Reports a person when channel 2 of the full frame's corner is bright, or from a table without pixels."""

    name = "fake-reference"

    def __init__(self, needs_pixels: bool = True, truth_by_index: dict[int, bool] | None = None) -> None:
        super().__init__()
        self.needs_pixels = needs_pixels
        self.truth_by_index = truth_by_index or {}
        self.indices_seen: list[int] = []

    @property
    def class_names(self) -> tuple[str, ...]:
        return ("person",)

    def identity(self) -> str:
        return "fake"

    def _detect(self, frames, frame_indices):
        self.indices_seen.extend(int(i) for i in frame_indices)
        if self.needs_pixels:
            present = [bool(f[0, 0, 2] > 127) for f in frames]
        else:
            present = [self.truth_by_index[int(i)] for i in frame_indices]
        return [[Detection("person", 0.9, 0.4, 0.4, 0.1, 0.1)] if p else [] for p in present]


def make_segment(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Small frames, full frames (8×8) and truth with runs, so carrying and skipping matter."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(rng.random(n // 4 + 1) < 0.4, 4)[:n]
    prob = np.clip(truth * 0.5 + rng.random(n) * 0.5, 0, 1)
    act = np.where(rng.random(n) < 0.5, truth * 0.6 + rng.random(n) * 0.3, np.repeat(rng.random(n // 3 + 1), 3)[:n])
    small = np.zeros((n, 2, 2, 3), np.uint8)
    small[..., 0] = (prob * 255).astype(np.uint8)[:, None, None]
    small[..., 1] = (np.clip(act, 0, 1) * 255).astype(np.uint8)[:, None, None]
    small[..., 2] = (truth * 255).astype(np.uint8)[:, None, None]
    full = np.zeros((n, 8, 8, 3), np.uint8)
    full[..., 2] = (truth * 255).astype(np.uint8)[:, None, None]
    return small, full, truth


def scores_for(config: CascadeConfig, small: np.ndarray, dd: FakeDD | None, model: FakeModel | None):
    """Per-frame scores as the optimizer would be given them for this config's skip."""
    dd_scores = None
    if dd is not None:
        if dd.spec.reference == "background":
            dd_scores = dd.score(small)
        else:
            k = config.skip
            dd_scores = np.full(len(small), np.nan)
            if len(small) > k:
                dd_scores[k:] = dd.score(small[k:], small[:-k])
    model_scores = model.predict_proba(small) if model is not None else None
    return dd_scores, model_scores


def make_config(skip: int, dd: FakeDD | None, model: FakeModel | None, thr=0.15, c_low=0.3, c_high=0.7):
    return CascadeConfig(
        skip=skip,
        dd_name=dd.spec.name if dd else None,
        dd_threshold=thr,
        dd_reference=dd.spec.reference if dd else None,
        model_name=model.name if model else None,
        c_low=c_low,
        c_high=c_high,
    )


def run(config, small, full, dd, model, batch_size, start_index=100, needs_pixels=True, truth=None):
    index = np.arange(start_index, start_index + len(small))
    lookup = {} if truth is None else {int(i): bool(t) for i, t in zip(index, truth, strict=True)}
    ref = FakeReference(needs_pixels, lookup)
    fetched: list[int] = []

    def fetch_full(indices):
        fetched.extend(int(i) for i in indices)
        return [full[i - start_index] for i in indices]

    cascade = Cascade(config, ref, QUERY, view=None, dd=dd, model=model)
    return cascade.run_frames(small, index, fetch_full, batch_size=batch_size), ref, fetched


@pytest.mark.parametrize("skip", [1, 2, 3, 7])
@pytest.mark.parametrize("dd_kind", [None, "background", "previous"])
@pytest.mark.parametrize("with_model", [False, True])
@pytest.mark.parametrize("batch_size", [1, 5, 1024])
def test_run_frames_labels_and_routes_equal_simulate(skip, dd_kind, with_model, batch_size):
    small, full, truth = make_segment(61, seed=skip)
    dd = FakeDD(dd_kind) if dd_kind else None
    model = FakeModel() if with_model else None
    config = make_config(skip, dd, model)
    dd_scores, model_scores = scores_for(config, small, dd, model)
    want_labels, want_routes = simulate(config, truth, dd_scores, model_scores)
    got, _, _ = run(config, small, full, dd, model, batch_size)
    np.testing.assert_array_equal(got.routes, want_routes)
    np.testing.assert_array_equal(got.labels, want_labels)
    np.testing.assert_array_equal(got.frame_index, np.arange(100, 161))
    # the model's probability is reported exactly where the model ran (what certification ranks frames by)
    ran = (want_routes == Route.MODEL_ABSENT) | (want_routes == Route.MODEL_PRESENT)
    if with_model:
        ran |= (want_routes == Route.REFERENCE) & (np.arange(61) % skip == 0)
        ran &= np.arange(61) % skip == 0
    np.testing.assert_array_equal(np.isfinite(got.model_scores), ran)
    if ran.any():
        np.testing.assert_allclose(got.model_scores[ran], model_scores[ran], rtol=1e-6)


def test_reference_sees_exactly_the_frames_routed_to_it_and_model_only_dd_survivors():
    small, full, truth = make_segment(80, seed=3)
    dd, model = FakeDD("background"), FakeModel()
    config = make_config(2, dd, model)
    got, ref, fetched = run(config, small, full, dd, model, batch_size=7)
    to_ref = got.frame_index[got.routes == Route.REFERENCE].tolist()
    assert ref.indices_seen == to_ref == fetched
    assert got.reference_calls == len(to_ref)
    assert got.reference_call_fraction == pytest.approx(len(to_ref) / 80)
    assert dd.frames_seen == 40  # evaluated frames only
    assert model.frames_seen == int(np.count_nonzero(got.routes >= Route.MODEL_ABSENT))
    assert 0 < model.frames_seen < 40


def test_reference_without_pixels_is_never_given_frames():
    small, full, truth = make_segment(30, seed=4)
    config = CascadeConfig(skip=3)
    got, ref, fetched = run(config, small, full, None, None, batch_size=4, needs_pixels=False, truth=truth)
    assert fetched == []
    assert ref.indices_seen == list(range(100, 130, 3))
    np.testing.assert_array_equal(got.labels, np.repeat(truth[::3], 3)[:30])


def test_reference_labels_are_the_unsmoothed_frame_label():
    small, full, truth = make_segment(20, seed=5)
    got, ref, _ = run(CascadeConfig(), small, full, None, None, batch_size=6)
    dets = ref.detect(list(full), list(range(20)))
    np.testing.assert_array_equal(got.labels, [frame_label(d, QUERY) for d in dets])
    assert got.fps > 0 and got.fps_e2e is None
    assert set(got.seconds) == {"dd", "model", "reference", "preprocess", "decode", "total"}


def test_previous_dd_never_decides_the_first_frame_of_a_range():
    # every frame identical: a "previous" DD says "unchanged" everywhere it can
    small = np.zeros((10, 2, 2, 3), np.uint8)
    full = np.zeros((10, 8, 8, 3), np.uint8)
    full[0, ..., 2] = 255  # frame 0 has a person; the carried label must come from asking about it
    dd = FakeDD("previous")
    got, ref, _ = run(make_config(1, dd, None, thr=0.5), small, full, dd, None, batch_size=3)
    assert got.routes[0] == Route.REFERENCE
    assert (got.routes[1:] == Route.DD_CARRY).all()
    assert got.labels.all() and ref.indices_seen == [100]


def test_carried_label_crosses_chunk_boundaries_and_previous_frame_comes_from_last_chunk():
    small, full, truth = make_segment(12, seed=6)
    small[..., 1] = 0
    small[6:, ..., 1] = 255  # one change at frame 6: only frames 0 and 6 need a decision
    dd = FakeDD("previous")
    got, ref, _ = run(make_config(1, dd, None, thr=0.5), small, full, dd, None, batch_size=4)
    assert ref.indices_seen == [100, 106]
    np.testing.assert_array_equal(got.labels, [truth[0]] * 6 + [truth[6]] * 6)


def test_skipped_frames_inherit_the_last_evaluated_label():
    labels_eval = np.array([True, False, True])
    labels, routes = expand_to_frames(np.array([0, 3, 6]), np.full(3, Route.REFERENCE, np.int8), labels_eval, 8)
    np.testing.assert_array_equal(labels, [1, 1, 1, 0, 0, 0, 1, 1])
    np.testing.assert_array_equal(routes == Route.SKIPPED, [0, 1, 1, 0, 1, 1, 0, 1])


def test_assign_labels_carries_from_last_decided_frame_and_uses_carry_in_first():
    routes = np.array([Route.DD_CARRY, Route.MODEL_PRESENT, Route.DD_CARRY, Route.REFERENCE, Route.DD_CARRY])
    ref = np.array([0, 0, 0, 0, 0], bool)
    np.testing.assert_array_equal(assign_labels(routes, ref, carry_in=False), [0, 1, 1, 0, 0])
    np.testing.assert_array_equal(assign_labels(routes, ref, carry_in=True), [1, 1, 1, 0, 0])
    with pytest.raises(ValueError, match="PENDING"):
        assign_labels(np.array([PENDING], np.int8), ref[:1])


def test_dd_routes_nan_score_never_decides():
    config = CascadeConfig(dd_name="d", dd_threshold=0.5, dd_reference="background")
    routes = dd_routes(config, np.array([0.1, np.nan, 0.9]))
    np.testing.assert_array_equal(routes, [Route.DD_ABSENT, PENDING, PENDING])


def test_model_thresholds_route_absent_present_and_unsure():
    small = np.zeros((3, 2, 2, 3), np.uint8)
    small[:, 0, 0, 0] = [25, 128, 230]  # p ≈ 0.1, 0.5, 0.9
    full = np.zeros((3, 8, 8, 3), np.uint8)
    model = FakeModel()
    got, _, _ = run(make_config(1, None, model), small, full, None, model, batch_size=8)
    assert got.routes.tolist() == [Route.MODEL_ABSENT, Route.REFERENCE, Route.MODEL_PRESENT]
    assert got.labels.tolist() == [False, False, True]
    assert got.route_counts()["reference"] == 1


def test_empty_range_gives_an_empty_run():
    got, _, _ = run(CascadeConfig(skip=4), np.zeros((0, 2, 2, 3), np.uint8), None, None, None, batch_size=3)
    assert len(got.labels) == len(got.routes) == 0
    assert got.fps == 0.0 and got.reference_calls == 0 and got.intervals() == []


def test_intervals_come_out_in_source_frame_numbers():
    small, full, truth = make_segment(40, seed=8)
    got, _, _ = run(CascadeConfig(), small, full, None, None, batch_size=16)
    ivs = got.intervals(fps=10.0)
    assert ivs and all(100 <= iv.start_frame < iv.end_frame <= 140 for iv in ivs)
    assert ivs[0].start_s == pytest.approx(ivs[0].start_frame / 10)


def test_config_round_trips_and_describes_itself():
    config = CascadeConfig(5, "blocked-previous", 0.01, "previous", "cnn-a", 0.1, 0.9, view={"size": 50})
    assert CascadeConfig.from_dict(config.to_dict()) == config
    text = config.describe()
    assert "skip 5" in text and "blocked-previous" in text and "cnn-a" in text
    assert CascadeConfig.reference_only().is_reference_only
    assert "reference" in CascadeConfig.reference_only().describe()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"skip": 0},
        {"skip": 1.5},
        {"dd_name": "d"},
        {"dd_name": "d", "dd_reference": "neighbour"},
        {"c_low": 0.8, "c_high": 0.2},
    ],
)
def test_invalid_configs_are_rejected(kwargs):
    with pytest.raises(QueryError):
        CascadeConfig(**kwargs)


def test_config_from_dict_rejects_unknown_fields():
    with pytest.raises(ArtifactError, match="unknown fields"):
        CascadeConfig.from_dict({"skip": 2, "bogus": 1})


def test_cascade_rejects_components_that_do_not_match_the_config():
    ref = FakeReference()
    with pytest.raises(ArtifactError, match="none was given"):
        Cascade(make_config(1, FakeDD("background"), None), ref, QUERY, None)
    with pytest.raises(ArtifactError, match="uses none"):
        Cascade(CascadeConfig(), ref, QUERY, None, model=FakeModel())
    with pytest.raises(ArtifactError, match="was given"):
        Cascade(make_config(1, FakeDD("background", "a"), None), ref, QUERY, None, dd=FakeDD("background", "b"))
    with pytest.raises(ArtifactError, match="compares against"):
        config = make_config(1, FakeDD("background", "a"), None)
        Cascade(config, ref, QUERY, None, dd=FakeDD("previous", "a"))


def test_model_returning_wrong_number_of_scores_is_an_artifact_error():
    class Broken(FakeModel):
        def predict_proba(self, frames):
            return np.zeros(len(frames) + 1)

    small, full, _ = make_segment(5)
    model = Broken()
    with pytest.raises(ArtifactError, match="returned 6 scores for 5 frames"):
        run(make_config(1, None, model), small, full, None, model, batch_size=8)


def test_run_video_decodes_only_evaluated_frames_and_labels_the_tail(monkeypatch):
    small, full, truth = make_segment(23, seed=9)
    requested = {}

    class FakeReader:
        choice = SimpleNamespace(name="fake")

        def iter_views(self, path, views, start=0, stop=None, step=1, batch_size=32, stats=None, keep_full=True):
            requested.update(start=start, stop=stop, step=step)
            idx = np.arange(start, 23 if stop is None else stop, step)
            for a in range(0, len(idx), batch_size):
                sel = idx[a : a + batch_size]
                yield SimpleNamespace(
                    indices=sel, small={"fake": small[sel]}, full=lambda ii, sel=sel: [full[sel[i]] for i in ii]
                )

    import noscope_core.video.prefetch as prefetch
    import noscope_core.video.probe as probe
    import noscope_core.video.readers as readers

    monkeypatch.setattr(readers, "choose_reader", lambda path, reader="auto": FakeReader())
    monkeypatch.setattr(readers, "iter_views", lambda path, views, reader, **kw: reader.iter_views(path, views, **kw))
    monkeypatch.setattr(prefetch, "decode_batch_size", lambda info, batch_size: batch_size)
    # a container that says nothing
    monkeypatch.setattr(probe, "probe_video", lambda path: SimpleNamespace(frame_count=0, fps=0.0, path=path))

    dd, model = FakeDD("previous"), FakeModel()
    config = make_config(5, dd, model)
    view = SimpleNamespace(name="fake")
    got = Cascade(config, FakeReference(), QUERY, view, dd=dd, model=model).run_video("none.avi", batch_size=2)
    assert got.reader == "fake"
    assert requested == {"start": 0, "stop": None, "step": 5}
    np.testing.assert_array_equal(got.frame_index, np.arange(0, 21))  # unknown length: last evaluated + skip
    dd_scores, model_scores = scores_for(config, small, dd, model)
    want_labels, want_routes = simulate(config, truth, dd_scores, model_scores)
    np.testing.assert_array_equal(got.labels, want_labels[:21])
    np.testing.assert_array_equal(got.routes, want_routes[:21])
    assert got.fps_e2e is not None and got.seconds["decode"] >= 0

    got = Cascade(config, FakeReference(), QUERY, view, dd=dd, model=model).run_video("none.avi", 3, 19, batch_size=4)
    np.testing.assert_array_equal(got.frame_index, np.arange(3, 19))


def test_run_video_stops_its_decoder_thread_when_the_reference_fails_mid_stream(tmp_path):
    """The decoder runs ahead in its own thread: a failure in this thread must not leave it decoding."""
    import threading

    cv2 = pytest.importorskip("cv2")
    from noscope_core.common.errors import DetectorError

    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for i in range(60):
        writer.write(np.full((48, 64, 3), 255 if i % 7 else 0, np.uint8))
    writer.release()

    class BrokenReference(FakeReference):
        def _detect(self, frames, frame_indices):
            if min(frame_indices) >= 8:
                raise DetectorError("the detector crashed on frame 8")
            return super()._detect(frames, frame_indices)

    from noscope_core.video.views import ViewSpec

    cascade = Cascade(CascadeConfig.reference_only(), BrokenReference(), QUERY, ViewSpec(size=8))
    try:
        cascade.run_video(path, batch_size=4)
    except DetectorError as err:  # looked at while the failed call's frame (and its generators) still exist
        assert "crashed on frame 8" in str(err)
        alive = [t for t in threading.enumerate() if t.name == "noscope-decode"]
    else:
        pytest.fail("the reference's failure was swallowed")
    assert alive == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(0, 40),
    skip=st.integers(1, 9),
    batch_size=st.integers(1, 12),
    dd_kind=st.sampled_from([None, "background", "previous"]),
    with_model=st.booleans(),
    thr=st.floats(0, 1),
    cs=st.tuples(st.floats(0, 1), st.floats(0, 1)).map(sorted),
    seed=st.integers(0, 10_000),
)
def test_random_ranges_never_crash_and_match_simulate(n, skip, batch_size, dd_kind, with_model, thr, cs, seed):
    small, full, truth = make_segment(n, seed=seed)
    dd = FakeDD(dd_kind) if dd_kind else None
    model = FakeModel() if with_model else None
    config = make_config(skip, dd, model, thr=thr, c_low=cs[0], c_high=cs[1])
    got, _, _ = run(config, small, full, dd, model, batch_size, start_index=seed)
    assert len(got.labels) == len(got.routes) == n
    dd_scores, model_scores = scores_for(config, small, dd, model)
    want_labels, want_routes = simulate(config, truth, dd_scores, model_scores)
    np.testing.assert_array_equal(got.labels, want_labels)
    np.testing.assert_array_equal(got.routes, want_routes)


@pytest.mark.parametrize("reader,lowres", [("opencv", 0), ("auto", 0), ("auto", 1)])
def test_run_video_on_a_real_file_equals_run_frames_on_the_same_decoded_frames(tmp_path, reader, lowres):
    """With ``lowres`` the small frames come from reduced-resolution decoding and the reference's full frames
    are decoded again at full size: the same labels as a store built the same way."""
    cv2 = pytest.importorskip("cv2")
    from noscope_core.video.frames import DecodeStats, read_frames
    from noscope_core.video.readers import iter_views
    from noscope_core.video.shrink import preprocess
    from noscope_core.video.views import ViewSpec

    rng = np.random.default_rng(11)
    n, path = 30, tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    present = np.repeat(rng.random(10) < 0.5, 3)
    green = np.repeat(rng.integers(0, 255, 4), 8)[:n]  # scene changes every few frames: the DD's signal
    for i in range(n):
        frame = np.full((48, 64, 3), 40, np.uint8)
        frame[..., 1] = green[i]
        # red corner: what the model (p = red / 255) and the reference (red > 127) look at; 128 is "unsure"
        frame[:24, :32, 2] = 255 if present[i] else rng.choice([40, 128])
        writer.write(frame)
    writer.release()

    view = ViewSpec(size=8, lowres=lowres)
    dd, model = FakeDD("previous"), FakeModel()
    config = make_config(4, dd, model, thr=0.02, c_low=0.2, c_high=0.6)
    cascade = Cascade(config, FakeReference(), QUERY, view, dd=dd, model=model)
    streamed = cascade.run_video(path, batch_size=3, reader=reader)
    assert streamed.reader == ("opencv" if reader == "opencv" else "pyav")
    assert all(streamed.route_counts()[r] > 0 for r in ("skipped", "dd_carry", "model_absent", "reference"))

    # the small frames the store would hold when built with the same reader
    stats = DecodeStats()
    store_rows = np.concatenate([b.small[view.name] for b in iter_views(path, (view,), reader=reader, stats=stats)])
    assert stats.lowres == lowres  # MJPEG decodes at reduced resolution
    if reader == "opencv":
        assert np.array_equal(store_rows, preprocess(read_frames(path, list(range(n))), view))
    stored = cascade.run_frames(store_rows, np.arange(n), lambda ii: read_frames(path, ii), 5)
    np.testing.assert_array_equal(streamed.frame_index, np.arange(n))  # tail frames 29.. covered via frame count
    np.testing.assert_array_equal(streamed.labels, stored.labels)
    np.testing.assert_array_equal(streamed.routes, stored.routes)
    assert streamed.source_fps == pytest.approx(10.0)
    assert streamed.fps_e2e is not None and streamed.fps_e2e > 0
    assert streamed.intervals()[0].start_s == pytest.approx(streamed.intervals()[0].start_frame / 10)
