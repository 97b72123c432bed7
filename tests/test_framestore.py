"""The frame store: built once, identical to preprocess of decoded frames, reused, atomic, safe to share."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import numpy as np
import pytest

from noscope_core.common.errors import ArtifactError, VideoError
from noscope_core.common.paths import default_video
from noscope_core.footage.synthetic.scene import SyntheticScene
from noscope_core.footage.synthetic.write import write_synthetic_video
from noscope_core.spec.query import ROI
from noscope_core.video import framestore
from noscope_core.video.frames import iter_frames
from noscope_core.video.framestore import FrameStore, build_frame_store
from noscope_core.video.probe import probe_video
from noscope_core.video.readers import PyAVReader, iter_views
from noscope_core.video.shrink import preprocess
from noscope_core.video.views import ViewSpec

N = 70
SCENE = SyntheticScene(width=128, height=96, seed=11, mean_gap_s=3.0)
VIEWS = (ViewSpec(16), ViewSpec(24, roi=ROI(0.0, 0.5, 0.5, 1.0)))


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_synthetic_video(tmp_path_factory.mktemp("fs") / "clip.avi", N, SCENE)


@pytest.fixture(scope="module")
def decoded(clip) -> list[np.ndarray]:
    return [f for b in iter_frames(clip) for f in b.frames]


@pytest.fixture(scope="module")
def pyav_rows(clip) -> dict[str, np.ndarray]:
    """Every view of every frame through PyAV's reader: what a store built by the "auto" reader must hold."""
    batches = list(PyAVReader().iter_views(clip, VIEWS))
    return {v.name: np.concatenate([b.small[v.name] for b in batches]) for v in VIEWS}


class _Watched:
    """A reader that reports each decode pass and each batch to ``hook`` (to count or interrupt decoding)."""

    def __init__(self, inner, hook) -> None:
        self.inner, self.choice, self.hook = inner, inner.choice, hook

    def iter_views(self, *a, **k):
        self.hook("pass")
        for batch in self.inner.iter_views(*a, **k):
            self.hook("batch")
            yield batch


def _watch_reader(monkeypatch, hook) -> None:
    real = framestore.choose_reader
    monkeypatch.setattr(framestore, "choose_reader", lambda path, reader="auto": _Watched(real(path, reader), hook))


def _no_decode(event):
    raise AssertionError("decoded again")


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.endswith(".tmp") or ".old." in p.name)


def test_store_rows_are_the_auto_readers_small_frames(tmp_path, clip, decoded, pyav_rows):
    store = build_frame_store(clip, tmp_path / "store", views=VIEWS, progress=False, batch_size=16)
    assert store.reader == "pyav" and store.meta["reader"]["shrink"] == "pyav-area"
    for view in VIEWS:
        assert np.array_equal(store.frames(view), pyav_rows[view.name])  # what a query reading with "auto" sees
        assert np.abs(store.frames(view).astype(int) - preprocess(decoded, view)).mean() < 3.0


def test_store_rows_equal_preprocess_of_decoded_frames(tmp_path, clip, decoded):
    store = build_frame_store(clip, tmp_path / "store", views=VIEWS, progress=False, batch_size=16, reader="opencv")
    assert store.reader == "opencv"
    assert store.n_frames == N and store.fps == pytest.approx(10.0)
    assert store.views == VIEWS
    for view in VIEWS:
        arr = store.frames(view)
        assert isinstance(arr, np.memmap) and arr.shape == (N, view.size, view.size, 3)
        assert np.array_equal(arr, preprocess(decoded, view))
        assert np.array_equal(store.frames(view.name), arr)
    assert store.decoded_ok.all() and store.n_corrupt == 0
    assert np.allclose(store.timestamps_s, np.arange(N) / 10.0)
    assert store.meta["timestamps_from"] == "container"
    assert store.meta["decode_fps"] > 0 and set(store.meta["preprocess_fps"]) == {v.name for v in VIEWS}
    assert store.info == probe_video(clip)


def test_open_returns_the_same_read_only_store(tmp_path, clip):
    built = build_frame_store(clip, tmp_path / "s", views=VIEWS[:1], progress=False)
    opened = FrameStore.open(tmp_path / "s")
    assert opened.n_frames == built.n_frames and opened.views == built.views
    arr = opened.frames(VIEWS[0])
    assert np.array_equal(arr, built.frames(VIEWS[0]))
    with pytest.raises(ValueError):
        arr[0, 0, 0, 0] = 1
    with pytest.raises(ArtifactError, match="no view"):
        opened.frames("full999")


def test_open_missing_or_incomplete_store_is_an_artifact_error(tmp_path, clip):
    with pytest.raises(ArtifactError, match="no complete frame store"):
        FrameStore.open(tmp_path / "absent")
    build_frame_store(clip, tmp_path / "s", views=VIEWS[:1], progress=False)
    (tmp_path / "s" / f"frames_{VIEWS[0].name}.npy").unlink()
    with pytest.raises(ArtifactError):
        FrameStore.open(tmp_path / "s")


def test_second_build_reuses_the_store_without_decoding(tmp_path, clip, monkeypatch):
    first = build_frame_store(clip, tmp_path / "s", views=VIEWS, progress=False)

    _watch_reader(monkeypatch, _no_decode)
    again = build_frame_store(clip, tmp_path / "s", views=VIEWS[:1], progress=False)  # a subset is enough
    assert again.meta["created_utc"] == first.meta["created_utc"]
    assert again.views == VIEWS  # still holds both


def test_a_store_left_aside_by_a_builder_killed_mid_swap_is_put_back_not_rebuilt(tmp_path, clip, monkeypatch, dead_pid):
    first = build_frame_store(clip, tmp_path / "s", views=VIEWS, progress=False)
    (tmp_path / "s").rename(tmp_path / f".s.old.{dead_pid}")  # a kill between the fallback swap's two renames

    _watch_reader(monkeypatch, _no_decode)
    again = build_frame_store(clip, tmp_path / "s", views=VIEWS, progress=False)
    assert again.meta["created_utc"] == first.meta["created_utc"]
    assert _leftovers(tmp_path) == []


def test_new_view_rebuilds_with_the_union_of_views(tmp_path, clip):
    build_frame_store(clip, tmp_path / "s", views=VIEWS[:1], progress=False)
    store = build_frame_store(clip, tmp_path / "s", views=VIEWS[1:], progress=False)
    assert {v.name for v in store.views} == {v.name for v in VIEWS}


def test_store_of_another_video_is_rebuilt(tmp_path, clip):
    other = write_synthetic_video(tmp_path / "other.avi", 30, dataclasses.replace(SCENE, seed=99))
    build_frame_store(clip, tmp_path / "s", views=VIEWS[:1], progress=False)
    store = build_frame_store(other, tmp_path / "s", views=VIEWS[:1], progress=False)
    assert store.n_frames == 30 and store.info.fingerprint == probe_video(other).fingerprint
    assert _leftovers(tmp_path) == []


def test_max_frames_limits_the_store_and_is_part_of_its_identity(tmp_path, clip):
    short = build_frame_store(clip, tmp_path / "s", views=VIEWS[:1], progress=False, max_frames=25)
    assert short.n_frames == 25 and short.meta["frames_missing_at_end"] == 0
    full = build_frame_store(clip, tmp_path / "s", views=VIEWS[:1], progress=False)
    assert full.n_frames == N


def test_failed_build_leaves_no_half_store_and_keeps_the_previous_one(tmp_path, clip, monkeypatch):
    good = build_frame_store(clip, tmp_path / "s", views=VIEWS[:1], progress=False, batch_size=8)
    before = np.array(good.frames(VIEWS[0]))
    meta_before = (tmp_path / "s" / "meta.json").read_text()
    calls = {"n": 0}

    def dies_midway(event):
        calls["n"] += event == "batch"
        if calls["n"] == 3:
            raise KeyboardInterrupt  # like Ctrl-C or a killed worker, mid-decode

    _watch_reader(monkeypatch, dies_midway)
    with pytest.raises(KeyboardInterrupt):
        build_frame_store(clip, tmp_path / "s", views=VIEWS, progress=False, batch_size=8)
    assert _leftovers(tmp_path) == []
    assert (tmp_path / "s" / "meta.json").read_text() == meta_before
    assert np.array_equal(FrameStore.open(tmp_path / "s").frames(VIEWS[0]), before)
    calls["n"] = 0
    with pytest.raises(KeyboardInterrupt):
        build_frame_store(clip, tmp_path / "fresh", views=VIEWS, progress=False, batch_size=8)
    assert not (tmp_path / "fresh").exists() and _leftovers(tmp_path) == []


def test_concurrent_builders_decode_once_and_share_the_store(tmp_path, clip, monkeypatch):
    decodes = []
    _watch_reader(monkeypatch, lambda event: decodes.append(1) if event == "pass" else None)
    results: list[FrameStore] = []
    errors: list[BaseException] = []

    def build():
        try:
            results.append(build_frame_store(clip, tmp_path / "s", views=VIEWS, progress=False, batch_size=8))
        except BaseException as err:  # noqa: BLE001 - asserted on in the main thread
            errors.append(err)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 3 and len(decodes) == 1
    assert all(np.array_equal(r.frames(VIEWS[1]), results[0].frames(VIEWS[1])) for r in results)
    assert _leftovers(tmp_path) == []


def test_truncated_video_keeps_decodable_frames_and_reports_missing_tail(tmp_path, clip, pyav_rows):
    cut = tmp_path / "cut.avi"
    data = clip.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    store = build_frame_store(cut, tmp_path / "s", views=VIEWS[:1], progress=False)
    assert 10 < store.n_frames < N
    assert store.meta["frames_missing_at_end"] == N - store.n_frames
    assert store.meta["decode_gave_up_at"] == store.n_frames
    k = store.n_frames - 2  # the last frames before the cut may be damaged
    assert np.array_equal(store.frames(VIEWS[0])[:k], pyav_rows[VIEWS[0].name][:k])


@pytest.mark.parametrize("claimed", [10, 500])
def test_store_follows_the_decoder_when_the_container_lies_about_length(
    tmp_path, clip, pyav_rows, monkeypatch, claimed
):
    real_probe = framestore.probe_video
    monkeypatch.setattr(framestore, "probe_video", lambda p: dataclasses.replace(real_probe(p), frame_count=claimed))
    store = build_frame_store(clip, tmp_path / "s", views=VIEWS[:1], progress=False, batch_size=4)
    assert store.n_frames == N
    assert np.array_equal(store.frames(VIEWS[0]), pyav_rows[VIEWS[0].name])
    assert store.timestamps_s.shape == (N,) and store.decoded_ok.all()


def test_resize_npy_grows_with_zeros_and_truncates_in_place(tmp_path):
    path = tmp_path / "a.npy"
    arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(5, 2, 3))
    arr[:] = np.arange(30, dtype=np.uint8).reshape(5, 2, 3)
    arr.flush()
    del arr
    framestore._resize_npy(path, 9)
    grown = np.load(path)
    assert grown.shape == (9, 2, 3) and (grown[:5].ravel() == np.arange(30)).all() and (grown[5:] == 0).all()
    framestore._resize_npy(path, 3)
    assert np.array_equal(np.load(path), np.arange(18, dtype=np.uint8).reshape(3, 2, 3))


def test_building_from_a_non_video_is_a_video_error(tmp_path):
    fake = tmp_path / "x.avi"
    fake.write_text("nope" * 100)
    with pytest.raises(VideoError):
        build_frame_store(fake, tmp_path / "s", progress=False)
    assert not (tmp_path / "s").exists()


def test_meta_json_is_plain_json_with_source_and_views(tmp_path, clip):
    build_frame_store(clip, tmp_path / "s", views=VIEWS, progress=False)
    meta = json.loads((tmp_path / "s" / "meta.json").read_text())
    assert meta["n_frames"] == N and meta["source"]["fingerprint"] == probe_video(clip).fingerprint
    assert [ViewSpec.from_dict(v) for v in meta["views"]] == list(VIEWS)


@pytest.mark.real
def test_real_camera_store_holds_all_795_frames_at_50_and_100(tmp_path):
    video = default_video()
    if not video.is_file():
        pytest.skip(f"{video} absent: run `noscope fetch`")
    store = build_frame_store(video, tmp_path / "vtest", views=(ViewSpec(50), ViewSpec(100)), progress=False)
    assert store.n_frames == 795 and store.n_corrupt == 0
    assert (store.info.width, store.info.height) == (768, 576) and store.fps == pytest.approx(10.0)
    assert store.frames("full50").shape == (795, 50, 50, 3) and store.frames("full100").shape == (795, 100, 100, 3)
    head = next(iter_views(video, (ViewSpec(100),), stop=8))
    assert np.array_equal(store.frames("full100")[:8], head.small["full100"])
    assert np.all(np.diff(store.timestamps_s) > 0)


def test_refuses_to_replace_a_folder_that_is_not_a_store(tmp_path, clip):
    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(ArtifactError, match="not a frame store"):
        build_frame_store(clip, precious, views=VIEWS[:1], progress=False)
    assert (precious / "notes.txt").read_text() == "keep me"


def test_a_store_of_the_previous_format_names_the_rebuild_and_is_rebuilt(tmp_path, clip):
    build_frame_store(clip, tmp_path / "s", views=VIEWS[:1], progress=False)
    meta_path = tmp_path / "s" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "format_version": 1}))
    with pytest.raises(ArtifactError, match="shrunk another way") as err:
        FrameStore.open(tmp_path / "s")
    assert "rebuild it" in str(err.value) and "retrain" in str(err.value)
    store = build_frame_store(clip, tmp_path / "s", views=VIEWS[:1], progress=False)
    assert store.meta["format_version"] == framestore.FORMAT_VERSION


def test_a_store_shrunk_by_another_reader_is_rebuilt(tmp_path, clip, pyav_rows):
    assert build_frame_store(clip, tmp_path / "s", views=VIEWS[:1], progress=False, reader="opencv").reader == "opencv"
    store = build_frame_store(clip, tmp_path / "s", views=VIEWS[:1], progress=False)
    assert store.reader == "pyav" and np.array_equal(store.frames(VIEWS[0]), pyav_rows[VIEWS[0].name])


def test_lowres_views_are_decoded_in_their_own_pass(tmp_path, clip, monkeypatch, pyav_rows):
    passes = []
    _watch_reader(monkeypatch, lambda event: passes.append(1) if event == "pass" else None)
    low = ViewSpec(16, lowres=1)
    store = build_frame_store(clip, tmp_path / "s", views=(VIEWS[0], low), progress=False)
    assert len(passes) == 2 and store.n_frames == N and store.decoded_ok.all()
    assert np.array_equal(store.frames(VIEWS[0]), pyav_rows[VIEWS[0].name])
    expect = np.concatenate([b.small[low.name] for b in PyAVReader().iter_views(clip, (low,))])
    assert np.array_equal(store.frames(low), expect) and not np.array_equal(store.frames(low), store.frames(VIEWS[0]))
