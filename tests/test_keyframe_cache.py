"""The keyframe index is demuxed once per video and kept by fingerprint; a changed video or a foreign file is
indexed anew, a torn write leaves nothing; the keyframe scan decodes with the view's decoding options."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from noscope_core.cascade.keyframe_run import scan_keyframes
from noscope_core.footage.synthetic.scene import SyntheticScene
from noscope_core.footage.synthetic.write import write_synthetic_video
from noscope_core.video.decode_costs import measure_decode_costs
from noscope_core.video.probe import file_fingerprint
from noscope_core.video.readers import FrameFetcher, KeyframeIndex, iter_views, keyframe_cache
from noscope_core.video.views import ViewSpec

av = pytest.importorskip("av")

SCENE = SyntheticScene(width=160, height=120, seed=7, mean_gap_s=2.0)
N = 60


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """MPEG-4 part 2 in AVI (a keyframe every 12 frames), as the synthetic cameras are written."""
    return write_synthetic_video(tmp_path_factory.mktemp("kfc") / "clip.avi", N, SCENE)


@pytest.fixture(scope="module")
def h264(tmp_path_factory, clip) -> Path:
    """The same frames as H.264 (GOP 10, no B-frames): it has a loop filter to skip."""
    path = tmp_path_factory.mktemp("kfc264") / "clip.mp4"
    with av.open(str(clip)) as inp, av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = SCENE.width, SCENE.height, "yuv420p"
        stream.options = {"x264-params": "keyint=10:min-keyint=10:scenecut=0:bframes=0", "crf": "35"}
        for frame in inp.decode(video=0):
            frame.pict_type = av.video.frame.PictureType.NONE
            out.mux(stream.encode(frame.reformat(format="yuv420p")))
        out.mux(stream.encode(None))
    return path


@pytest.fixture
def demuxes(monkeypatch, tmp_path) -> list[Path]:
    """Every demux pass the cache makes, with ``$NOSCOPE_HOME`` (and so the default cache) under tmp_path."""
    monkeypatch.setenv("NOSCOPE_HOME", str(tmp_path / "home"))
    keyframe_cache.forget()
    calls: list[Path] = []
    real = keyframe_cache._demux

    def counting(path: Path) -> KeyframeIndex:
        calls.append(Path(path))
        return real(path)

    monkeypatch.setattr(keyframe_cache, "_demux", counting)
    yield calls
    keyframe_cache.forget()


def _same(a: KeyframeIndex, b: KeyframeIndex) -> None:
    assert a.n_packets == b.n_packets
    np.testing.assert_array_equal(a.keyframes, b.keyframes)
    np.testing.assert_array_equal(a.keyframe_pts, b.keyframe_pts)


def test_a_kept_index_is_read_back_by_every_user_without_a_second_demux(clip, demuxes):
    measured = measure_decode_costs(clip, ViewSpec(16), dense_frames=20, keyframes=3, seeks=2)  # the optimizer's call
    assert measured is not None and len(demuxes) == 1
    kept = keyframe_cache.index_path(file_fingerprint(clip))
    assert kept.is_file() and kept.parent == keyframe_cache.default_root()
    keyframe_cache.forget()  # a new process: only the file is left
    again = keyframe_cache.keyframe_index(clip)
    _same(again, KeyframeIndex.of(clip))
    np.testing.assert_array_equal(again.keyframes, measured[1])
    keyframe_cache.forget()
    assert FrameFetcher(clip).index.n_packets == N
    from noscope_core.cascade.keyframe_run import keyframe_index

    keyframe_index(clip)
    assert len(demuxes) == 1


def test_a_changed_video_is_indexed_anew_and_a_foreign_index_is_never_trusted(clip, h264, tmp_path, demuxes):
    video = tmp_path / "camera.mp4"
    shutil.copyfile(clip, video)
    first = keyframe_cache.keyframe_index(video)
    _same(first, KeyframeIndex.of(clip))
    shutil.copyfile(h264, video)  # the camera's file replaced by another encoding
    second = keyframe_cache.keyframe_index(video)
    assert len(demuxes) == 2
    _same(second, KeyframeIndex.of(h264))
    assert first.keyframes.tolist() != second.keyframes.tolist()

    # a file under the new fingerprint's name that holds another video's index (or garbage) is rebuilt
    kept = keyframe_cache.index_path(file_fingerprint(video))
    shutil.copyfile(keyframe_cache.index_path(file_fingerprint(clip)), kept)
    keyframe_cache.forget()
    _same(keyframe_cache.keyframe_index(video), KeyframeIndex.of(h264))
    assert len(demuxes) == 3
    kept.write_bytes(b"PK\x03\x04 half a zip")
    keyframe_cache.forget()
    _same(keyframe_cache.keyframe_index(video), KeyframeIndex.of(h264))
    assert len(demuxes) == 4
    keyframe_cache.forget()
    keyframe_cache.keyframe_index(video)  # the rebuilt file is whole again
    assert len(demuxes) == 4


def test_a_torn_write_leaves_no_half_index(clip, demuxes, monkeypatch):
    root = keyframe_cache.default_root()
    real_savez = np.savez

    def killed(file, **arrays):
        Path(file).write_bytes(b"PK\x03\x04")  # part of the archive, then the writer dies
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", killed)
    with pytest.raises(KeyboardInterrupt):
        keyframe_cache.keyframe_index(clip)
    assert not root.exists() or not any(root.iterdir())
    monkeypatch.setattr(np, "savez", real_savez)
    keyframe_cache.forget()
    _same(keyframe_cache.keyframe_index(clip), KeyframeIndex.of(clip))
    assert len(demuxes) == 2 and [p.name for p in root.iterdir()] == [
        keyframe_cache.index_path(file_fingerprint(clip)).name
    ]


def _dense_rows(path: Path, view: ViewSpec, rows: np.ndarray) -> np.ndarray:
    small = np.concatenate([b.small[view.name] for b in iter_views(path, (view,), reader="pyav", keep_full=False)])
    return small[rows]


@pytest.mark.parametrize(
    "video, view",
    [("clip", ViewSpec(32, lowres=2)), ("clip", ViewSpec(32, lowres=1)), ("h264", ViewSpec(32, skip_loop_filter=True))],
    ids=["mpeg4-lr2", "mpeg4-lr1", "h264-nlf"],
)
def test_the_keyframe_scan_sees_the_dense_readers_pixels_of_the_view(video, view, request, demuxes):
    path = request.getfixturevalue(video)
    index = keyframe_cache.keyframe_index(path)
    exact = ViewSpec(view.size, view.roi)
    dense = _dense_rows(path, view, index.keyframes)
    # the view's decoding changes these pixels, so a scan that ignored it would fail below
    assert not np.array_equal(dense, _dense_rows(path, exact, index.keyframes))
    for keys in (index.keyframes, index.keyframes[2:]):  # from the start, and a late range (a seek first)
        got = np.full((len(keys), *dense.shape[1:]), -1, dtype=np.int16)
        for rows, small in scan_keyframes(path, index, keys, view):
            got[rows] = small
        np.testing.assert_array_equal(got, dense[len(index.keyframes) - len(keys) :])


class RecordingModel:
    """Unsure about every frame (so every GOP is opened); keeps what it was shown, call by call."""

    name = "recording"

    def __init__(self) -> None:
        self.calls: list[np.ndarray] = []

    def predict_proba(self, frames: np.ndarray) -> np.ndarray:
        self.calls.append(np.array(frames))
        return np.full(len(frames), 0.5, dtype=np.float32)


def test_a_keyframe_first_run_decodes_scan_and_opened_gops_as_the_view_asks(h264, demuxes):
    from noscope_core.cascade.execute import Cascade
    from noscope_core.cascade.keyframe_plan import KeyframePlan
    from noscope_core.cascade.keyframe_run import run_plan
    from noscope_core.cascade.routing import CascadeConfig
    from tests.test_cascade import QUERY, FakeReference

    view = ViewSpec(32, skip_loop_filter=True)
    model = RecordingModel()
    config = CascadeConfig(skip=3, model_name="recording", c_low=0.3, c_high=0.8)
    cascade = Cascade(config, FakeReference(False, dict.fromkeys(range(N), False)), QUERY, view, model=model)
    run = run_plan(cascade, KeyframePlan(0.0), h264, reader="pyav", batch_size=7)
    assert run.plan == "keyframe-first" and run.plan_counts["opened_frames"] == N
    index = keyframe_cache.keyframe_index(h264)
    np.testing.assert_array_equal(model.calls[0], _dense_rows(h264, view, index.keyframes))
    np.testing.assert_array_equal(np.concatenate(model.calls[1:]), _dense_rows(h264, view, np.arange(0, N, 3)))


@pytest.mark.parametrize("view", [ViewSpec(32, lowres=2), ViewSpec(32, skip_loop_filter=True)], ids=lambda v: v.name)
def test_the_reference_sees_exact_full_size_frames_in_opened_gops_of_a_reduced_view(clip, h264, view):
    from noscope_core.cascade.execute import Cascade
    from noscope_core.cascade.keyframe_plan import KeyframePlan
    from noscope_core.cascade.keyframe_run import run_plan
    from noscope_core.cascade.routing import CascadeConfig
    from noscope_core.video.frames import read_frames
    from tests.test_cascade import QUERY, FakeReference

    class ShapeReference(FakeReference):
        def _detect(self, frames, frame_indices):
            self.seen = getattr(self, "seen", []) + [
                (int(i), np.array(f)) for f, i in zip(frames, frame_indices, strict=True)
            ]
            return super()._detect(frames, frame_indices)

    video = clip if view.lowres else h264
    reference = ShapeReference(True)
    model = RecordingModel()  # unsure of every frame: each evaluated frame goes to the reference
    cascade = Cascade(
        CascadeConfig(skip=3, model_name="recording", c_low=0.3, c_high=0.8), reference, QUERY, view, model=model
    )
    run_plan(cascade, KeyframePlan(0.0), video, reader="pyav", batch_size=7)
    assert reference.seen, "the reference was never asked"
    indices = [i for i, _ in reference.seen]
    exact = read_frames(video, indices)
    for (i, frame), want in zip(reference.seen, exact, strict=True):
        assert frame.shape == (SCENE.height, SCENE.width, 3), f"frame {i} reached the reference at {frame.shape}"
        np.testing.assert_allclose(frame.astype(int), want.astype(int), atol=12)


def test_a_fetcher_closed_by_the_decoding_thread_still_serves_the_consumer(clip):
    # the reader closes its fetcher when its thread ends while the consumer still fetches for queued batches:
    # resuming the decoder of the closed container crashed the process
    from noscope_core.video.frames import read_frames

    fetcher = FrameFetcher(clip)
    first = fetcher.frames([3])
    fetcher.close()
    later = fetcher.frames([4])  # forward within the same GOP: the path that resumed the closed decoder
    again = fetcher.frames([3])
    want = read_frames(clip, [4])
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_allclose(later[0].astype(int), want[0].astype(int), atol=12)
    fetcher.close()
