"""The long composited camera, on a small synthetic source bank (no detector, no real footage)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from noscope_core.common.errors import ArtifactError, NoScopeError, QueryError, VideoError
from noscope_core.footage.composite import LongCameraSpec, existing_camera, load_truth, make_long_camera, truth_path
from noscope_core.footage.composite.background import boxes_mask, median_background
from noscope_core.footage.composite.bank import SourceBank, load_bank, save_bank
from noscope_core.footage.composite.drift import DriftSpec, parse_drift
from noscope_core.footage.composite.make import render_frames
from noscope_core.footage.composite.perspective import Perspective, fit_perspective
from noscope_core.footage.composite.render import compose
from noscope_core.footage.composite.scene import Appearance, SceneSpec, arrival_times_s, rhythm
from noscope_core.footage.composite.sprites import SpriteTrack, clean_runs, fill_gaps, link_tracks, person_mask

W, H = 192, 144
PERSPECTIVE = Perspective(slope=0.4, intercept=0.0)  # 40 px tall at row 100


def _person(colour: tuple[int, int, int], n_views: int = 12, track_id: int = 0, speed: float = 0.06) -> SpriteTrack:
    """A walker 40 px tall (at source row 100) whose legs swing: the views differ, so the gait can be seen."""
    views, anchors = [], []
    for k in range(n_views):
        rgba = np.zeros((44, 20, 4), np.uint8)
        rgba[2:26, 4:16, :3] = colour
        rgba[2:26, 4:16, 3] = 255
        swing = int(3 * np.sin(2 * np.pi * k / n_views))
        for leg_x in (7 + swing, 12 - swing):
            rgba[26:42, leg_x : leg_x + 3, :3] = (40, 40, 40)
            rgba[26:42, leg_x : leg_x + 3, 3] = 255
        views.append(rgba)
        anchors.append((10.0, 42.0))
    feet = np.stack([np.linspace(20, 170, n_views), np.linspace(70, 130, n_views)], axis=1)
    return SpriteTrack(
        track_id=track_id,
        class_name="person",
        rgba=tuple(views),
        anchors_px=np.array(anchors, np.float32),
        source_frames=np.arange(n_views, dtype=np.int32),
        source_feet_px=np.column_stack([feet[:, 0], np.full(n_views, 100.0)]).astype(np.float32),
        speed_heights_per_frame=speed,
        facing=1,
        loop_len=n_views,
        still_index=0,
    )


def _van() -> SpriteTrack:
    rgba = np.zeros((30, 50, 4), np.uint8)
    rgba[:, :, :3] = (250, 250, 250)
    rgba[:, :, 3] = 255
    return dataclasses.replace(
        _person((0, 0, 0)),
        track_id=9,
        class_name="truck",
        rgba=(rgba,),
        anchors_px=np.array([[25.0, 29.0]], np.float32),
        source_frames=np.zeros(1, np.int32),
        source_feet_px=np.array([[100.0, 60.0]], np.float32),
        speed_heights_per_frame=0.0,
        facing=-1,
        loop_len=1,
    )


@pytest.fixture(scope="module")
def bank() -> SourceBank:
    rng = np.random.default_rng(0)
    background = np.clip(rng.normal(110, 12, (H, W, 3)), 0, 255).astype(np.uint8)
    background[: H // 3] = (150, 120, 100)  # a "building" at the top
    # BGR: track 0 red, track 1 blue, track 2 green
    people = tuple(_person(c, track_id=i) for i, c in enumerate([(0, 0, 220), (220, 0, 0), (0, 200, 0)]))
    return SourceBank(background, PERSPECTIVE, people, _van(), 10.0, "synthetic-source")


def _spec(**kw) -> LongCameraSpec:
    scene = SceneSpec(peak_groups_per_min=60.0, quiet_ratio=0.5)
    return LongCameraSpec(**{"seconds": 12.0, "fps": 10.0, "seed": 3, "scene": scene, **kw})


def _frames(spec, bank):
    return [(img, placed) for _, img, placed in render_frames(spec, bank)]


def test_median_background_ignores_hidden_pixels():
    frames = np.full((6, 4, 4, 3), 100, np.uint8)
    frames[:4, 1, 1] = 250  # someone stands on pixel (1, 1) in 4 of 6 frames
    hidden = np.zeros((6, 4, 4), bool)
    hidden[:4, 1, 1] = True
    assert median_background(frames)[1, 1, 0] == 250  # a plain median keeps the person
    assert median_background(frames, hidden)[1, 1, 0] == 100
    mask = boxes_mask((20, 20), np.array([[5, 5, 4, 4]]), margin=0.0)
    assert mask.sum() == 16 and mask[5, 5] and not mask[9, 9]


def test_perspective_fit_recovers_a_line_and_refuses_flat_sources():
    rows = np.linspace(100, 500, 50)
    heights = 0.3 * rows + 5
    heights[::10] = 10  # people cut short by the detector
    fit = fit_perspective(rows, heights)
    assert fit.slope == pytest.approx(0.3, rel=0.02) and fit.intercept == pytest.approx(5, abs=2)
    with pytest.raises(VideoError, match="too few people"):
        fit_perspective(np.full(5, 200.0), np.full(5, 60.0))


def test_tracks_link_by_overlap_and_bridge_missed_frames():
    boxes = [np.array([[10.0 + 2 * f, 10, 10, 30]]) for f in range(20)]
    boxes[7] = np.zeros((0, 4))  # the detector missed one frame
    boxes[5] = np.vstack([boxes[5], [[100, 10, 10, 30]]])  # someone else, far away
    tracks = link_tracks(boxes)
    longest = max(tracks, key=len)
    assert len(longest) == 19
    frames, filled = fill_gaps(longest, boxes)
    assert frames.tolist() == list(range(20)) and filled[7, 0] == pytest.approx(24.0)
    boxes[12] = np.vstack([boxes[12], [[30, 12, 10, 30]]])  # a neighbour covers the walker in frame 12
    runs = clean_runs(link_tracks(boxes), boxes, 200, 100, min_len=5)
    assert sorted(len(f) for f, _ in runs) == [7, 12]


def test_person_mask_is_soft_and_follows_the_difference():
    bg = np.full((40, 30, 3), 100, np.uint8)
    frame = bg.copy()
    frame[10:30, 10:20] = 200
    alpha = person_mask(frame, bg, (0, 0, 30, 40))
    assert alpha[20, 15] > 0.9 and alpha[2, 2] == 0.0
    assert 0.05 < alpha[20, 10] < 0.95  # a feathered edge, not a hard cut
    assert person_mask(frame, bg, (0, 0, 30, 40), [np.array([5.0, 5, 20, 30])]).max() == 0.0


def test_same_seed_same_video_other_seed_other_video(bank):
    a = _frames(_spec(), bank)
    b = _frames(_spec(), bank)
    c = _frames(_spec(seed=4), bank)
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(a, b, strict=True))
    assert [x[1] for x in a] == [y[1] for y in b]
    assert any(not np.array_equal(x[0], y[0]) for x, y in zip(a, c, strict=True))


def _one(bank, track: int, foot: tuple[float, float], object_id: int = 0, flip: bool = False) -> Appearance:
    return Appearance(object_id, track, "person", 0, np.array([foot], np.float32), np.zeros(1, np.int32), flip)


def test_perspective_scales_a_person_by_row(bank):
    _, far = compose(bank.background, bank, [(_one(bank, 0, (60, 60)), 0)])
    _, near = compose(bank.background, bank, [(_one(bank, 0, (60, 120)), 0)])
    # 40 px alpha (rows 2..41 of 44) at source row 100; height is proportional to the row here
    assert far[0].box_px[3] == pytest.approx(40 * 60 / 100, abs=1.5)
    assert near[0].box_px[3] == pytest.approx(40 * 120 / 100, abs=1.5)
    assert near[0].box_px[1] + near[0].box_px[3] == pytest.approx(120, abs=2)  # feet on the row


def test_nearer_person_is_drawn_over_the_farther_one(bank):
    far = _one(bank, 0, (80, 100), object_id=0)  # red
    near = _one(bank, 1, (84, 104), object_id=1)  # blue, four rows lower: nearer
    img, placed = compose(bank.background, bank, [(near, 0), (far, 0)])
    vis = {p.object_id: p.visible for p in placed}
    assert vis[1] == pytest.approx(1.0) and vis[0] < 0.7
    # where the torsos overlap, the nearer (blue) one shows
    b, g, r = img[85, 82].tolist()
    assert b > 150 and r < 80


def test_truth_boxes_match_the_drawn_pixels(bank):
    spec = _spec(noise_sigma=0.0)
    n_checked = 0
    for f, img, placed in render_frames(spec, bank):
        # without noise, what differs from the lit background is people, inside their boxes
        from noscope_core.footage.composite.drift import apply_light, gains_bgr

        lit = apply_light(bank.background, gains_bgr(f / spec.fps, spec.seconds, spec.seed, spec.drift))
        changed = np.abs(img.astype(int) - lit.astype(int)).max(axis=2) > 30
        inside = np.zeros_like(changed)
        for p in placed:
            x, y, w, h = (int(round(v)) for v in p.box_px)
            inside[max(0, y - 1) : y + h + 1, max(0, x - 1) : x + w + 1] = True
            if p.visible > 0.5:
                assert changed[y : y + h, x : x + w].mean() > 0.3
                n_checked += 1
        assert not (changed & ~inside).any()
    assert n_checked > 20


def test_truth_file_written_beside_the_video(bank, tmp_path):
    out = tmp_path / "cam.mp4"
    res = make_long_camera(_spec(seconds=5.0), out, bank=bank)
    assert out.is_file() and res.truth_path == truth_path(out) == tmp_path / "cam.truth.npz"
    truth = load_truth(res.truth_path)
    assert truth.n_frames == res.n_frames == 50 and (truth.width, truth.height) == (W, H)
    assert truth.positive((0, 0, 1, 1)).any()
    assert set(np.unique(truth.frame)) <= set(range(50))
    import cv2

    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 50
    assert not list(tmp_path.glob(".*tmp*"))


def test_a_camera_made_with_the_same_spec_is_recognised_and_nothing_else_is(bank, tmp_path):
    out = tmp_path / "cam.mp4"
    spec = _spec(seconds=3.0)
    assert existing_camera(spec, out) is None  # nothing there yet
    make_long_camera(spec, out, bank=bank)
    truth = existing_camera(spec, out)
    assert truth is not None and truth.n_frames == 30
    assert existing_camera(_spec(seconds=3.0, seed=4), out) is None  # another seed is another video
    assert existing_camera(_spec(seconds=4.0), out) is None
    with open(out, "ab") as fh:  # a video changed after its truth was written is made again
        fh.write(b"\0")
    assert existing_camera(spec, out) is None
    make_long_camera(spec, out, bank=bank)
    truth_path(out).write_bytes(b"not a zip")  # an unreadable truth too
    assert existing_camera(spec, out) is None


def test_make_camera_leaves_a_camera_made_with_the_same_options_alone(bank, monkeypatch, tmp_path, capsys):
    import argparse

    from noscope_cli import make_camera

    def run(*argv: str) -> int:
        parser = argparse.ArgumentParser(prog="noscope")
        make_camera.register(parser.add_subparsers(dest="command"))
        return make_camera.run(parser.parse_args(["make-camera", *argv]))

    monkeypatch.setenv("NOSCOPE_HOME", str(tmp_path))  # no vtest.avi here: making it again would fail
    out = tmp_path / "videos" / "demo.mp4"
    make_long_camera(LongCameraSpec(seconds=2.0), out, bank=bank)  # the spec the command builds from its options
    before = out.stat().st_mtime_ns
    assert run("demo", "--seconds", "2") == 0
    assert "up to date" in capsys.readouterr().out and out.stat().st_mtime_ns == before
    with pytest.raises(VideoError, match="source video"):  # other options, or --force: made again
        run("demo", "--seconds", "3")
    with pytest.raises(VideoError, match="source video"):
        run("demo", "--seconds", "2", "--force")


@pytest.mark.slow  # renders every drift variant
def test_drift_changes_only_what_it_should_and_only_after_it_starts(bank):
    base = _frames(_spec(), bank)
    half = len(base) // 2

    def frames_with(kind):
        return _frames(_spec(drift=DriftSpec((kind,), start_fraction=0.5)), bank)

    for kind in ("evening", "nudge", "rain", "vehicle"):
        got = frames_with(kind)
        assert all(np.array_equal(x[0], y[0]) for x, y in zip(base[:half], got[:half], strict=True)), kind
        assert any(not np.array_equal(x[0], y[0]) for x, y in zip(base[half:], got[half:], strict=True)), kind
    evening = frames_with("evening")
    assert evening[-1][0].mean() < 0.7 * base[-1][0].mean()
    assert [p for p in evening[-1][1]] == [p for p in base[-1][1]]  # same people, only darker
    nudged = frames_with("nudge")
    # the whole view moved by (6, 4): that shift matches the plain frame best
    a, b = base[-1][0].astype(int), nudged[-1][0].astype(int)

    def mismatch(dx: int, dy: int) -> float:
        return float(np.abs(b[10 + dy : H - 10 + dy, 10 + dx : W - 10 + dx] - a[10 : H - 10, 10 : W - 10]).mean())

    assert min(((dx, dy) for dx in range(-8, 9) for dy in range(-8, 9)), key=lambda d: mismatch(*d)) == (6, 4)
    moved = 0
    for (_, p_base), (_, p_nudge) in zip(base[-10:], nudged[-10:], strict=True):
        for a, b in zip(p_base, p_nudge, strict=True):
            if a.box_px[0] > 10 and a.box_px[0] + a.box_px[2] < W - 10 and a.box_px[1] + a.box_px[3] < H - 10:
                assert b.box_px[0] - a.box_px[0] == pytest.approx(6) and b.box_px[1] - a.box_px[1] == pytest.approx(4)
                moved += 1
    assert moved > 0
    vehicle = _frames(_spec(seconds=60.0, drift=DriftSpec(("vehicle",), start_fraction=0.5, vehicle_every_s=5)), bank)
    classes = [{p.class_name for p in placed} for _, placed in vehicle]
    assert not any("truck" in c for c in classes[:300]) and any("truck" in c for c in classes[300:])


def test_rhythm_has_busy_and_quiet_hours():
    u = np.linspace(0, 1, 161)
    r = rhythm(u)
    assert r.max() == pytest.approx(1.0, abs=0.02) and r[0] < 0.05 and r[-1] < 0.05
    t = arrival_times_s(3600, SceneSpec(peak_groups_per_min=6), np.random.default_rng(0))
    per_10min = np.histogram(t, bins=6, range=(0, 3600))[0]
    assert per_10min.max() > 3 * max(per_10min.min(), 1)


def test_bank_round_trips_through_its_cache_file(bank, tmp_path):
    save_bank(bank, tmp_path / "bank.npz")
    back = load_bank(tmp_path / "bank.npz")
    assert back.perspective == bank.perspective and len(back.people) == len(bank.people)
    assert all(np.array_equal(a, b) for a, b in zip(back.people[1].rgba, bank.people[1].rgba, strict=True))
    assert back.vehicle.class_name == "truck" and back.fps == bank.fps


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: LongCameraSpec(seconds=0), QueryError, "--seconds"),
        (lambda: LongCameraSpec(fps=500), QueryError, "--fps"),
        (lambda: parse_drift("evening,snow"), QueryError, "unknown drift snow"),
        (lambda: DriftSpec(("rain",), start_fraction=1.5), QueryError, "drift start"),
    ],
)
def test_bad_options_are_one_line_errors(make, error, words):
    with pytest.raises(error, match=words) as info:
        make()
    assert "\n" not in str(info.value) and info.value.hint


def test_bad_paths_are_one_line_errors(bank, tmp_path):
    with pytest.raises(VideoError, match="extension"):
        make_long_camera(_spec(), tmp_path / "cam.gif", bank=bank)
    with pytest.raises(VideoError, match="not found"):
        make_long_camera(_spec(source=str(tmp_path / "nope.avi")), tmp_path / "cam.mp4")
    (tmp_path / "x.truth.npz").write_bytes(b"not a zip")
    with pytest.raises(ArtifactError, match="cannot read placement truth"):
        load_truth(tmp_path / "x.truth.npz")
    assert issubclass(ArtifactError, NoScopeError)


def test_later_hours_walk_new_people_over_the_same_scene_and_the_command_finds_each(
    bank, monkeypatch, tmp_path, capsys
):
    import argparse
    import dataclasses

    from noscope_cli import make_camera
    from noscope_core.footage.composite.make import hour_seed

    hour1 = _spec()
    hour2 = dataclasses.replace(hour1, seed=hour_seed(hour1.seed, 2))
    a, b = _frames(hour1, bank), _frames(hour2, bank)
    assert [p for _, p in a] != [p for _, p in b]  # new walks
    # the same scene: where nobody walks in either hour, the pixels differ by sensor noise only
    empty = [i for i in range(len(a)) if not a[i][1] and not b[i][1]]
    assert empty and all(
        np.abs(a[i][0].astype(int) - b[i][0].astype(int)).mean() < 6 for i in empty
    )  # both are the background plus noise of sigma 2 (mean |difference| ~ 2.3)

    monkeypatch.setenv("NOSCOPE_HOME", str(tmp_path))
    out = tmp_path / "videos" / "cam.mp4"
    make_long_camera(LongCameraSpec(seconds=2.0, seed=hour_seed(0, 3)), make_camera.output_path("cam", 3), bank=bank)
    parser = argparse.ArgumentParser(prog="noscope")
    make_camera.register(parser.add_subparsers(dest="command"))
    assert make_camera.run(parser.parse_args(["make-camera", "cam", "--seconds", "2", "--hour", "3"])) == 0
    said = capsys.readouterr().out
    assert "hour 3:" in said and "up to date" in said and str(out.with_name("cam-h3.mp4")) in said
