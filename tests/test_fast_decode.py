"""Fast decoding: views without the loop filter, and a frame skip that leaves GOP tails undecoded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from noscope_core.common.errors import VideoError
from noscope_core.footage.synthetic.scene import SyntheticScene
from noscope_core.footage.synthetic.write import write_synthetic_video
from noscope_core.video.frames import DecodeStats
from noscope_core.video.readers import OpenCVReader, PyAVReader, shrink_decoded
from noscope_core.video.readers.pyav_reader import nal_types
from noscope_core.video.views import ViewSpec
from tests.sequential import read_sequentially

av = pytest.importorskip("av")

N = 60
GOP = 20
SCENE = SyntheticScene(width=160, height=120, seed=9, mean_gap_s=2.0)
NLF = ViewSpec(32, skip_loop_filter=True)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """MPEG-4 part 2 in AVI, as the synthetic cameras are written."""
    return write_synthetic_video(tmp_path_factory.mktemp("fast") / "clip.avi", N, SCENE)


@pytest.fixture(scope="module")
def h264(tmp_path_factory, clip) -> Path:
    """The same frames as H.264 (libx264): an IDR every GOP frames, no B-frames, one slice, a visible filter."""
    path = tmp_path_factory.mktemp("fast264") / "clip.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = SCENE.width, SCENE.height, "yuv420p"
        stream.codec_context.thread_type = "FRAME"
        # a coarse quantiser, so the deblocking filter has blocks to smooth
        stream.options = {"x264-params": f"keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=0:qp=38"}
        for f in read_sequentially(clip):
            frame = av.VideoFrame.from_ndarray(f, format="bgr24")
            frame.pict_type = av.video.frame.PictureType.NONE
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _read(path, views, **kw):
    stats = DecodeStats()
    idx, small, full = [], {v.name: [] for v in views}, []
    for batch in PyAVReader(threads=kw.pop("threads", "default")).iter_views(path, views, stats=stats, **kw):
        idx += batch.indices.tolist()
        for v in views:
            small[v.name].append(batch.small[v.name])
        if kw.get("keep_full", True):
            full += batch.full(range(len(batch)))
    return idx, {k: np.concatenate(v) for k, v in small.items()}, full, stats


def test_skip_loop_filter_is_part_of_the_view_and_absent_from_default_names_and_dicts():
    assert ViewSpec(50).name == "full50" and ViewSpec(50).to_dict() == {"size": 50, "roi": None, "margin": 0.1}
    view = ViewSpec(50, lowres=2, skip_loop_filter=True)
    assert view.name == "full50-lr2-nlf" and ViewSpec(50, skip_loop_filter=True).name == "full50-nlf"
    assert view.to_dict()["skip_loop_filter"] is True and ViewSpec.from_dict(view.to_dict()) == view
    assert ViewSpec.from_dict({"size": 50, "roi": None}) == ViewSpec(50)  # dicts written before the field
    assert view.decode_key == (2, True) and not view.exact_decode and ViewSpec(50).exact_decode
    with pytest.raises(VideoError, match="skip_loop_filter"):
        ViewSpec(50, skip_loop_filter="yes")


def test_skipping_h264s_loop_filter_changes_its_pixels_a_little_and_says_so(h264):
    _, exact, _, exact_stats = _read(h264, (ViewSpec(32),), keep_full=False)
    idx, fast, full, stats = _read(h264, (NLF,))
    assert stats.skip_loop_filter and not exact_stats.skip_loop_filter and idx == list(range(N))
    diff = np.abs(fast[NLF.name].astype(int) - exact["full32"])
    assert 0 < diff.mean() < 3
    # the reference still sees the frames every player decodes: decoded again, loop filter on
    assert all(np.abs(f.astype(int) - g).mean() < 0.5 for f, g in zip(full, read_sequentially(h264), strict=True))


def test_codecs_without_a_loop_filter_record_that_skipping_it_did_nothing(clip):
    _, exact, _, _ = _read(clip, (ViewSpec(32),), keep_full=False)
    _, fast, _, stats = _read(clip, (NLF,), keep_full=False)
    assert not stats.skip_loop_filter and np.array_equal(fast[NLF.name], exact["full32"])


def test_unfiltered_views_are_refused_where_they_cannot_be_made(clip):
    with pytest.raises(VideoError, match="unfiltered"):
        next(OpenCVReader().iter_views(clip, (NLF,)))
    with pytest.raises(VideoError, match="loop filter"):
        shrink_decoded([np.zeros((8, 8, 3), np.uint8)], NLF)
    with pytest.raises(VideoError, match="different decoding"):
        next(PyAVReader().iter_views(clip, (ViewSpec(32), NLF)))


@pytest.mark.parametrize("which", ["clip", "h264"])
@pytest.mark.parametrize("start,stop,step", [(0, None, 7), (3, 50, 5), (0, None, 30), (25, None, 2), (41, None, 40)])
def test_a_frame_skip_leaves_gop_tails_undecoded_and_changes_no_wanted_pixel(request, which, start, stop, step):
    path = request.getfixturevalue(which)
    view = ViewSpec(32)
    _, dense, _, _ = _read(path, (view,), keep_full=False)
    idx, small, full, stats = _read(path, (view,), start=start, stop=stop, step=step, threads="AUTO", batch_size=4)
    assert idx == list(range(start, N if stop is None else stop, step))
    assert np.array_equal(small[view.name], dense[view.name][idx]) and stats.n_read == len(idx)
    assert stats.n_failed == 0 and stats.gave_up_at is None
    if which == "h264" or step >= 30:  # the tail after the last wanted frame of some GOP is never decoded
        assert stats.n_dropped > 0
    frames = read_sequentially(path)
    assert all(np.abs(f.astype(int) - frames[i]).mean() < 0.5 for i, f in zip(idx, full, strict=True))


def test_every_gop_without_a_wanted_frame_is_dropped_whole(h264):
    _, _, _, stats = _read(h264, (ViewSpec(32),), step=GOP, keep_full=False)
    # wanted frames are the keyframes themselves: every other packet is dropped
    assert stats.n_read == N // GOP and stats.n_dropped == N - N // GOP


def test_nal_types_are_read_from_length_prefixed_and_start_code_packets():
    idr, slice_ = bytes([0x65, 1, 2, 3]), bytes([0x41, 9, 9])
    avcc = len(idr).to_bytes(4, "big") + idr + len(slice_).to_bytes(4, "big") + slice_
    assert nal_types(avcc, hevc=False) == [5, 1]
    assert nal_types(b"\x00\x00\x00\x01" + idr + b"\x00\x00\x01" + slice_, hevc=False) == [5, 1]
    assert nal_types(b"\x00\x00\x01" + bytes([19 << 1, 1]), hevc=True) == [19]
    assert nal_types(b"\x07\x07", hevc=False) == []


def test_a_frame_store_decodes_unfiltered_views_in_their_own_pass(tmp_path, h264):
    from noscope_core.video.framestore import build_frame_store

    store = build_frame_store(h264, tmp_path / "s", views=(ViewSpec(32), NLF), progress=False)
    _, fast, _, _ = _read(h264, (NLF,), keep_full=False)
    _, exact, _, _ = _read(h264, (ViewSpec(32),), keep_full=False)
    assert np.array_equal(store.frames(NLF), fast[NLF.name]) and np.array_equal(
        store.frames(ViewSpec(32)), exact["full32"]
    )
