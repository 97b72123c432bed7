"""Decoding: probe errors, streaming with start/stop/step, random access, truncated files, preprocessing."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from noscope_core.common.errors import VideoError
from noscope_core.footage.synthetic.scene import SyntheticScene
from noscope_core.footage.synthetic.write import write_synthetic_video
from noscope_core.spec.query import ROI
from noscope_core.video import frames as frames_module
from noscope_core.video.frames import DecodeStats, iter_frames, read_frames
from noscope_core.video.prefetch import prefetch
from noscope_core.video.probe import VideoInfo, file_fingerprint, probe_video
from noscope_core.video.seeking import MIN_SEEK_GAP, SeekProfile, seek_profile
from noscope_core.video.shrink import preprocess
from noscope_core.video.views import ViewSpec
from tests.sequential import read_sequentially

N = 90
SCENE = SyntheticScene(width=160, height=120, seed=3, mean_gap_s=3.0)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_synthetic_video(tmp_path_factory.mktemp("video") / "clip.avi", N, SCENE)


@pytest.fixture(scope="module")
def sequential(clip) -> list[np.ndarray]:
    """Every frame by plain cv2 sequential reads: the reference every other reader must match."""
    frames = read_sequentially(clip)
    assert len(frames) == N
    return frames


def test_probe_reports_geometry_rate_count_and_fingerprint(clip):
    info = probe_video(clip)
    assert (info.width, info.height, info.frame_count) == (160, 120, N)
    assert info.fps == pytest.approx(10.0)
    assert info.size_bytes == clip.stat().st_size
    assert info.fingerprint == file_fingerprint(clip) and len(info.fingerprint) == 64
    assert info.fourcc
    assert VideoInfo.from_dict(info.to_dict()) == info


def test_fingerprint_changes_with_content_but_not_with_path(tmp_path, clip):
    copy = tmp_path / "copy.avi"
    copy.write_bytes(clip.read_bytes())
    assert file_fingerprint(copy) == file_fingerprint(clip)
    data = bytearray(clip.read_bytes())
    data[-10] ^= 0xFF
    copy.write_bytes(bytes(data))
    assert file_fingerprint(copy) != file_fingerprint(clip)


def test_probe_missing_file_says_not_found(tmp_path):
    with pytest.raises(VideoError, match="not found"):
        probe_video(tmp_path / "nope.avi")


def test_probe_text_file_renamed_avi_is_not_a_video(tmp_path):
    fake = tmp_path / "notes.avi"
    fake.write_text("this is not a video\n" * 200)
    with pytest.raises(VideoError, match="not a video"):
        probe_video(fake)


def test_probe_empty_file_is_rejected(tmp_path):
    empty = tmp_path / "empty.avi"
    empty.touch()
    with pytest.raises(VideoError, match="empty"):
        probe_video(empty)


def test_probe_container_without_frames_is_rejected(tmp_path):
    path = tmp_path / "zero.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 64))
    writer.release()
    assert path.stat().st_size > 0
    with pytest.raises(VideoError, match="no frames|cannot decode|not a video"):
        probe_video(path)


def test_probe_directory_is_rejected(tmp_path):
    with pytest.raises(VideoError, match="not a video file"):
        probe_video(tmp_path)


def _collect(path, **kw) -> tuple[list[int], list[np.ndarray], DecodeStats, list[int]]:
    stats = DecodeStats()
    idx, frames, sizes = [], [], []
    for batch in iter_frames(path, stats=stats, **kw):
        assert batch.indices.dtype == np.int64 and len(batch.indices) == len(batch.frames) == len(batch.timestamps_ms)
        idx += batch.indices.tolist()
        frames += batch.frames
        sizes.append(len(batch))
    return idx, frames, stats, sizes


def test_iter_frames_streams_every_frame_in_batches(clip, sequential):
    idx, frames, stats, sizes = _collect(clip, batch_size=32)
    assert idx == list(range(N))
    assert sizes == [32, 32, N - 64]
    assert all(np.array_equal(a, b) for a, b in zip(frames, sequential, strict=True))
    assert (stats.n_read, stats.n_failed, stats.gave_up_at) == (N, 0, None)
    assert stats.seconds > 0 and stats.fps > 0


@pytest.mark.parametrize("start,stop,step", [(0, None, 3), (5, 40, 1), (7, 80, 4), (85, None, 2), (10, 10, 1)])
def test_iter_frames_start_stop_step_match_sequential_decode(clip, sequential, start, stop, step):
    idx, frames, stats, _ = _collect(clip, start=start, stop=stop, step=step, batch_size=8)
    expected = list(range(start, N if stop is None else stop, step))
    assert idx == expected
    assert all(np.array_equal(f, sequential[i]) for i, f in zip(idx, frames, strict=True))
    assert stats.n_read == len(expected)


def test_iter_frames_timestamps_follow_frame_rate(clip):
    batch = next(iter_frames(clip, start=4, stop=9))
    assert np.allclose(batch.timestamps_ms, np.arange(4, 9) * 100.0)


def test_iter_frames_rejects_bad_ranges(clip):
    for kw in ({"start": -1}, {"step": 0}, {"start": 5, "stop": 2}, {"batch_size": 0}):
        with pytest.raises(VideoError):
            next(iter_frames(clip, **kw))


def test_truncated_video_decodes_what_it_can_and_reports_the_rest(tmp_path, clip, sequential):
    cut = tmp_path / "cut.avi"
    data = clip.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    info = probe_video(cut)  # the header survives, so it still probes
    assert info.frame_count == N
    idx, frames, stats, _ = _collect(cut)
    assert 10 < len(idx) < N
    assert idx == list(range(len(idx)))
    assert all(np.array_equal(f, sequential[i]) for i, f in zip(idx[:-2], frames[:-2], strict=True))
    assert stats.gave_up_at == len(idx)
    assert stats.n_read + stats.n_failed == N


def test_read_frames_matches_sequential_in_requested_order(clip, sequential):
    want = [70, 3, 3, 40, 89, 0, 41]
    got = read_frames(clip, want)
    assert len(got) == len(want)
    assert all(np.array_equal(g, sequential[i]) for g, i in zip(got, want, strict=True))
    assert read_frames(clip, []) == []


def test_read_frames_seeking_and_grabbing_agree(monkeypatch, clip, sequential):
    want = [2, 60, 5, 88, 30]
    monkeypatch.setattr(frames_module, "MIN_SEEK_GAP", 1)
    monkeypatch.setattr(frames_module, "seek_profile", lambda p: SeekProfile(True, seek_ms=0.0, grab_ms=1.0))
    seeking = read_frames(clip, want)
    monkeypatch.setattr(frames_module, "seek_profile", lambda p: SeekProfile(False, seek_ms=0.0, grab_ms=1.0))
    grabbing = read_frames(clip, want)
    for s, g, i in zip(seeking, grabbing, want, strict=True):
        assert np.array_equal(s, sequential[i]) and np.array_equal(g, sequential[i])


def test_seek_profile_finds_seeking_exact_on_the_synthetic_codec(clip):
    profile = seek_profile(clip)
    assert profile.accurate
    assert profile.seek_ms > 0 and profile.grab_ms > 0
    assert profile.break_even_gap >= MIN_SEEK_GAP


def test_read_frames_past_the_end_names_the_missing_frames(clip):
    with pytest.raises(VideoError, match="cannot read 2 frame"):
        read_frames(clip, [1, N, N + 5])
    with pytest.raises(VideoError, match="negative"):
        read_frames(clip, [-1])


def test_preprocess_returns_rgb_uint8_of_the_view_size():
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[..., 0] = 255  # pure blue in BGR
    out = preprocess([frame, frame], ViewSpec(32))
    assert out.shape == (2, 32, 32, 3) and out.dtype == np.uint8
    assert (out[..., 2] == 255).all() and (out[..., :2] == 0).all()
    assert preprocess([], ViewSpec(50)).shape == (0, 50, 50, 3)


def test_preprocess_roi_crops_before_resizing():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[:, :100] = (0, 0, 255)  # left half red
    frame[:, 100:] = (0, 255, 0)  # right half green
    right = preprocess([frame], ViewSpec(20, roi=ROI(0.5, 0.0, 1.0, 1.0), margin=0.0))[0]
    assert (right[..., 1] == 255).all() and (right[..., 0] == 0).all()
    with_margin = preprocess([frame], ViewSpec(20, roi=ROI(0.5, 0.0, 1.0, 1.0), margin=0.25))[0]
    assert with_margin[:, 0, 0].mean() > 200  # the margin reaches into the red half


def test_preprocess_is_close_to_a_full_area_resize(sequential):
    for size in (50, 100):
        ref = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA)[..., ::-1] for f in sequential[:5]])
        out = preprocess(sequential[:5], ViewSpec(size))
        assert np.abs(out.astype(np.int16) - ref).mean() < 2.5


def test_preprocess_upscales_small_frames_and_rejects_non_bgr():
    assert preprocess([np.full((10, 12, 3), 7, np.uint8)], ViewSpec(50)).shape == (1, 50, 50, 3)
    with pytest.raises(VideoError, match="expected BGR uint8"):
        preprocess([np.zeros((10, 10), np.uint8)], ViewSpec(16))
    with pytest.raises(VideoError):
        preprocess([np.zeros((10, 10, 3), np.float32)], ViewSpec(16))


def test_view_spec_names_and_round_trip():
    assert ViewSpec(50).name == "full50"
    assert ViewSpec(50, margin=0.3).name == "full50"  # margin only matters with a region
    roi = ViewSpec(64, roi=ROI(0, 0.5, 0.5, 1))
    assert roi.name.startswith("roi64-") and roi.name != ViewSpec(64, roi=ROI(0, 0.5, 0.5, 1), margin=0.2).name
    assert ViewSpec.from_dict(roi.to_dict()) == roi
    assert ViewSpec.from_dict(ViewSpec(100).to_dict()) == ViewSpec(100)
    for bad in ({"size": 0}, {"size": 50, "margin": -0.1}, {"size": 2.5}):
        with pytest.raises(VideoError):
            ViewSpec(**bad)


def test_prefetch_yields_the_same_items_and_reraises_producer_errors():
    assert list(prefetch(iter(range(50)), depth=3)) == list(range(50))

    def broken():
        yield 1
        raise VideoError("boom")

    got = []
    with pytest.raises(VideoError, match="boom"):
        for item in prefetch(broken()):
            got.append(item)
    assert got == [1]


def test_prefetch_stops_the_producer_when_the_consumer_leaves_early():
    closed = []

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.append(True)

    for item in prefetch(endless(), depth=1):
        if item == 3:
            break
    assert closed == [True]


def test_prefetched_decoding_matches_plain_decoding(clip, sequential):
    frames = [f for b in prefetch(iter_frames(clip, batch_size=7)) for f in b.frames]
    assert len(frames) == N and all(np.array_equal(a, b) for a, b in zip(frames, sequential, strict=True))
