"""Readers: PyAV and OpenCV give the same frames; lowres, keyframe scans, GOP fetches, fallback and errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from noscope_core.common.errors import VideoError
from noscope_core.footage.synthetic.scene import SyntheticScene
from noscope_core.footage.synthetic.write import write_synthetic_video
from noscope_core.spec.query import ROI
from noscope_core.video.frames import DecodeStats
from noscope_core.video.readers import (
    FrameFetcher,
    KeyframeIndex,
    OpenCVReader,
    PyAVReader,
    choose_reader,
    iter_keyframes,
    iter_views,
    shrink_decoded,
)
from noscope_core.video.readers import choose as choose_module
from noscope_core.video.shrink import preprocess
from noscope_core.video.views import ViewSpec
from tests.sequential import read_sequentially

av = pytest.importorskip("av")

N = 60
H264_GOP = 20
SCENE = SyntheticScene(width=160, height=120, seed=5, mean_gap_s=2.0)
VIEWS = (ViewSpec(32), ViewSpec(24, roi=ROI(0.2, 0.4, 0.7, 0.9)))  # a box of even pixels: see the odd-box test
#: mean absolute difference (0-255) allowed between PyAV's AREA shrink and OpenCV's bilinear + AREA pyramid
SHRINK_TOLERANCE = 3.0


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """MPEG-4 part 2 in AVI, as the synthetic cameras are written."""
    return write_synthetic_video(tmp_path_factory.mktemp("readers") / "clip.avi", N, SCENE)


@pytest.fixture(scope="module")
def sequential(clip) -> list[np.ndarray]:
    frames = read_sequentially(clip)
    assert len(frames) == N
    return frames


def _encode_h264(path: Path, frames: list[np.ndarray], bframes: int = 0) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = SCENE.width, SCENE.height, "yuv420p"
        stream.codec_context.thread_type = "FRAME"  # one slice per frame
        # b-pyramid none: every B-frame is a non-reference frame the decoder may skip
        params = f"keyint={H264_GOP}:min-keyint={H264_GOP}:scenecut=0:bframes={bframes}:b-pyramid=none:b-adapt=0"
        stream.options = {"x264-params": params}
        for f in frames:
            frame = av.VideoFrame.from_ndarray(f, format="bgr24")
            frame.pict_type = av.video.frame.PictureType.NONE  # let x264 place keyframes by the GOP alone
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def h264(tmp_path_factory, sequential) -> Path:
    """The same frames as H.264 with a fixed GOP, written by PyAV's libx264 (one slice, no B-frames)."""
    return _encode_h264(tmp_path_factory.mktemp("h264") / "clip.mp4", sequential)


@pytest.fixture(scope="module")
def h264_b(tmp_path_factory, sequential) -> Path:
    """The same with two non-reference B-frames between reference frames."""
    return _encode_h264(tmp_path_factory.mktemp("h264b") / "clip.mp4", sequential, bframes=2)


def _collect(reader, path, views=VIEWS, **kw):
    stats = DecodeStats()
    idx, small, full = [], {v.name: [] for v in views}, []
    for batch in reader.iter_views(path, views, stats=stats, **kw):
        assert batch.indices.dtype == np.int64 and len(batch.timestamps_ms) == len(batch)
        idx += batch.indices.tolist()
        for v in views:
            small[v.name].append(batch.small[v.name])
        full += batch.full(range(len(batch)))
    return idx, {k: np.concatenate(v) if v else np.zeros(0) for k, v in small.items()}, full, stats


@pytest.mark.parametrize("start,stop,step", [(0, None, 1), (0, None, 3), (7, 50, 4), (55, None, 2), (10, 10, 1)])
def test_pyav_reader_yields_the_frames_opencv_yields(clip, sequential, start, stop, step):
    idx_cv, small_cv, _, _ = _collect(OpenCVReader(), clip, start=start, stop=stop, step=step, batch_size=8)
    idx, small, full, stats = _collect(
        PyAVReader(codec="mpeg4", threads="AUTO"), clip, start=start, stop=stop, step=step, batch_size=8
    )
    assert idx == idx_cv == list(range(start, N if stop is None else stop, step))
    assert stats.reader == "pyav" and stats.n_read == len(idx) and stats.n_failed == 0
    for v in VIEWS:
        assert small[v.name].shape == small_cv[v.name].shape
        if idx:
            assert np.abs(small[v.name].astype(int) - small_cv[v.name]).mean() < SHRINK_TOLERANCE
    # full-resolution frames for the reference: the same YUV->BGR conversion as OpenCV's
    assert all(np.abs(f.astype(int) - sequential[i]).mean() < 0.5 for i, f in zip(idx, full, strict=True))


def test_pyav_shrink_is_an_area_shrink_of_the_decoded_frame(clip, sequential):
    idx, small, _, _ = _collect(PyAVReader(), clip, views=(ViewSpec(32),))
    area = np.stack([cv2.resize(f, (32, 32), interpolation=cv2.INTER_AREA)[:, :, ::-1] for f in sequential])
    assert np.abs(small["full32"].astype(int) - area).mean() < 2.0


def test_pyav_timestamps_follow_frame_rate(clip):
    batch = next(PyAVReader().iter_views(clip, VIEWS, start=4, stop=9))
    assert np.allclose(batch.timestamps_ms, np.arange(4, 9) * 100.0)


def test_pyav_reader_matches_opencv_on_h264(h264):
    idx_cv, small_cv, _, _ = _collect(OpenCVReader(), h264, step=3)
    idx, small, _, _ = _collect(PyAVReader(codec="h264", threads="AUTO"), h264, step=3)
    assert idx == idx_cv == list(range(0, N, 3))
    for v in VIEWS:
        assert np.abs(small[v.name].astype(int) - small_cv[v.name]).mean() < SHRINK_TOLERANCE


def test_lowres_decodes_mpeg4_at_reduced_resolution(clip):
    _, small0, _, _ = _collect(PyAVReader(), clip, views=(ViewSpec(32),))
    for level in (1, 2):
        idx, small, full, stats = _collect(PyAVReader(), clip, views=(ViewSpec(32, lowres=level),), step=7)
        assert stats.lowres == level and idx == list(range(0, N, 7))
        # other pixels than the full-resolution path, but the same picture
        diff = np.abs(small[f"full32-lr{level}"].astype(int) - small0["full32"][::7])
        assert 0 < diff.mean() < 12
        # the reference still gets full-resolution frames, decoded again from the keyframe before them
        assert all(f.shape == (SCENE.height, SCENE.width, 3) for f in full)


def test_lowres_is_ignored_on_h264_and_changes_nothing(h264):
    _, small0, _, _ = _collect(PyAVReader(), h264, views=(ViewSpec(32),))
    _, small2, _, stats = _collect(PyAVReader(), h264, views=(ViewSpec(32, lowres=2),))
    assert stats.lowres == 0
    assert np.array_equal(small2["full32-lr2"], small0["full32"])


def test_opencv_reader_refuses_lowres_views(clip):
    with pytest.raises(VideoError, match="reduced-resolution"):
        next(OpenCVReader().iter_views(clip, (ViewSpec(32, lowres=1),)))


def test_views_with_different_lowres_are_refused(clip):
    with pytest.raises(VideoError, match="different decoding"):
        next(PyAVReader().iter_views(clip, (ViewSpec(32), ViewSpec(32, lowres=1))))


def _decoded_keyframes(path: Path) -> list[int]:
    with av.open(str(path)) as c:
        return [i for i, f in enumerate(c.decode(c.streams.video[0])) if f.key_frame]


@pytest.mark.parametrize("which", ["clip", "h264", "h264_b"])
def test_keyframe_scan_returns_exactly_the_keyframes(request, which):
    path = request.getfixturevalue(which)
    keys = _decoded_keyframes(path)
    assert 1 < len(keys) < N
    if which.startswith("h264"):
        assert keys == list(range(0, N, H264_GOP))
    assert KeyframeIndex.of(path).keyframes.tolist() == keys
    stats = DecodeStats()
    batches = list(iter_keyframes(path, VIEWS, batch_size=2, stats=stats, threads="AUTO"))
    assert np.concatenate([b.indices for b in batches]).tolist() == keys and stats.n_read == len(keys)
    # each keyframe's pixels are exactly what the dense reader gives for that frame
    _, dense, _, _ = _collect(PyAVReader(), path)
    for v in VIEWS:
        assert np.array_equal(np.concatenate([b.small[v.name] for b in batches]), dense[v.name][keys])
    inner = list(iter_keyframes(path, VIEWS[:1], start=1, stop=keys[-1]))
    assert np.concatenate([b.indices for b in inner]).tolist() == keys[1:-1]


@pytest.mark.parametrize("which", ["clip", "h264", "h264_b"])
def test_frame_fetcher_seeks_to_the_gop_and_matches_sequential_frames(request, which):
    path = request.getfixturevalue(which)
    seq = read_sequentially(path)
    want = [45, 3, 3, 30, 59, 0, 21, 22]
    fetcher = FrameFetcher(path)
    try:
        got = fetcher.frames(want)
        assert fetcher.seek_ok
    finally:
        fetcher.close()
    assert all(np.array_equal(g, seq[i]) for g, i in zip(got, want, strict=True))
    with pytest.raises(VideoError, match="cannot decode"):
        FrameFetcher(path).frames([N + 5])


def test_truncated_video_through_pyav_decodes_what_it_can_and_reports_the_rest(tmp_path, clip, sequential):
    cut = tmp_path / "cut.avi"
    data = clip.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    idx, small, full, stats = _collect(PyAVReader(), cut, views=(ViewSpec(32),))
    assert 10 < len(idx) < N and idx == list(range(len(idx)))
    assert all(np.array_equal(f, sequential[i]) for i, f in zip(idx[:-2], full[:-2], strict=True))
    assert stats.gave_up_at == len(idx) and stats.n_read + stats.n_failed == N


def test_auto_picks_pyav_with_threads_for_mpeg4(clip):
    reader = choose_reader(clip)
    assert reader.choice.name == "pyav" and reader.choice.codec == "mpeg4" and reader.choice.threads == "AUTO"
    assert choose_reader(clip, "opencv").choice.name == "opencv"


def test_auto_falls_back_to_opencv_when_pyav_cannot_open_the_file(clip, monkeypatch):
    def refuse(path):
        raise VideoError(f"PyAV cannot open {path}: unsupported")

    monkeypatch.setattr(choose_module, "open_video", refuse)
    reader = choose_reader(clip)
    assert reader.choice.name == "opencv" and "PyAV cannot open" in reader.choice.reason
    stats = DecodeStats()
    batches = list(iter_views(clip, VIEWS, stats=stats))
    assert stats.reader == "opencv" and sum(len(b) for b in batches) == N
    with pytest.raises(VideoError, match="PyAV cannot open"):
        choose_reader(clip, "pyav")


def test_missing_or_garbled_files_are_clear_video_errors(tmp_path):
    with pytest.raises(VideoError, match="not found"):
        next(iter_views(tmp_path / "nope.avi", VIEWS))
    garbled = tmp_path / "garbled.avi"
    garbled.write_bytes(b"RIFF" + bytes(range(256)) * 40)
    with pytest.raises(VideoError, match="PyAV cannot"):
        choose_reader(garbled, "pyav")
    with pytest.raises(VideoError, match="not a video"):
        next(iter_views(garbled, VIEWS))  # auto falls back to OpenCV, which cannot open it either
    with pytest.raises(VideoError, match="unknown reader"):
        choose_reader(garbled, "gstreamer")


def test_opencv_reader_is_todays_preprocess(clip, sequential):
    _, small, full, stats = _collect(OpenCVReader(), clip)
    assert stats.reader == "opencv"
    for v in VIEWS:
        assert np.array_equal(small[v.name], preprocess(sequential, v))


def test_pyav_crop_widens_an_odd_box_by_at_most_one_pixel_per_side(clip):
    from noscope_core.video.readers.pyav_reader import Shrinker

    view = ViewSpec(24, roi=ROI(0.1, 0.3, 0.6, 0.9))
    x0, y0, x1, y1 = view.crop_box(SCENE.width, SCENE.height)
    assert (y1 - y0) % 2 == 1  # odd: yuv420p chroma pairs force one more row
    with av.open(str(clip)) as c:
        frame = next(c.decode(video=0))
        cropped = Shrinker(view)._crop(frame)
        bgr = frame.to_ndarray(format="bgr24")
    assert 0 <= cropped.width - (x1 - x0) <= 1 and 0 <= cropped.height - (y1 - y0) <= 1
    x0e, y0e = x0 - x0 % 2, y0 - y0 % 2
    expect = bgr[y0e : y0e + cropped.height, x0e : x0e + cropped.width]
    assert np.array_equal(cropped.to_ndarray(format="bgr24"), expect)


@pytest.mark.parametrize("start,step", [(0, 3), (4, 5), (1, 2)])
def test_unwanted_non_reference_frames_are_skipped_and_the_rest_match(h264_b, start, step):
    idx_cv, small_cv, _, _ = _collect(OpenCVReader(), h264_b, start=start, step=step)
    _, dense, _, dense_stats = _collect(PyAVReader(threads="AUTO"), h264_b)
    idx, small, full, stats = _collect(PyAVReader(threads="AUTO"), h264_b, start=start, step=step, batch_size=4)
    assert idx == idx_cv == list(range(start, N, step))
    assert stats.n_skipped > 0 and dense_stats.n_skipped == 0 and stats.n_read == len(idx)
    for v in VIEWS:
        assert np.array_equal(small[v.name], dense[v.name][idx])  # skipping changes no decoded pixel
        assert np.abs(small[v.name].astype(int) - small_cv[v.name]).mean() < SHRINK_TOLERANCE


@pytest.mark.parametrize("which", ["clip", "h264"])
def test_a_late_start_seeks_to_its_gop_and_yields_the_same_frames(request, which, monkeypatch):
    from noscope_core.video.readers import pyav_reader

    path = request.getfixturevalue(which)
    _, dense, _, _ = _collect(PyAVReader(), path)
    monkeypatch.setattr(pyav_reader, "MIN_SEEK_FRAMES", 1)
    opened = []
    real_open = pyav_reader.open_video
    monkeypatch.setattr(pyav_reader, "open_video", lambda p: opened.append(p) or real_open(p))
    for start, step in ((41, 1), (25, 3), (59, 1)):
        idx, small, full, _ = _collect(PyAVReader(), path, start=start, step=step)
        assert idx == list(range(start, N, step))
        for v in VIEWS:
            assert np.array_equal(small[v.name], dense[v.name][idx])
    assert len(opened) == 3  # every seek landed on its keyframe: no reopening to decode from the start


@pytest.mark.parametrize("reader", [OpenCVReader(), PyAVReader()], ids=["opencv", "pyav"])
def test_batches_read_without_full_frames_refuse_to_give_them(clip, reader):
    batch = next(reader.iter_views(clip, VIEWS, batch_size=8, keep_full=False))
    assert len(batch) == 8 and batch.small[VIEWS[0].name].shape == (8, 32, 32, 3)
    with pytest.raises(VideoError, match="without full-resolution frames"):
        batch.full([0])


def test_decoded_frames_shrink_closer_to_pyavs_own_pixels_than_preprocess(clip, sequential):
    # the registered model's array input: the BGR frames through the reader's own shrink
    _, small, _, _ = _collect(PyAVReader(), clip)
    for v in VIEWS:
        own = small[v.name].astype(int)
        ours = shrink_decoded(sequential, v).astype(int) - own
        opencv = preprocess(sequential, v).astype(int) - own
        assert np.abs(ours).mean() < 0.8 * np.abs(opencv).mean()
        assert abs(ours.mean()) < 0.5  # no brightness shift: the difference detectors score squared differences


def test_decoded_frames_shrink_as_opencv_when_the_store_was_read_by_opencv(sequential):
    for v in VIEWS:
        assert np.array_equal(shrink_decoded(sequential, v, reader="opencv"), preprocess(sequential, v))


def test_decoded_frames_refuse_lowres_views_auto_and_non_bgr_input(sequential):
    with pytest.raises(VideoError, match="reduced resolution"):
        shrink_decoded(sequential[:1], ViewSpec(32, lowres=1))
    with pytest.raises(VideoError, match="cannot shrink decoded frames as reader 'auto'"):
        shrink_decoded(sequential[:1], ViewSpec(32), reader="auto")
    with pytest.raises(VideoError, match="uint8"):
        shrink_decoded([sequential[0].astype(np.float32)], ViewSpec(32))
