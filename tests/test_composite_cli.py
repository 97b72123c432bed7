"""``noscope make-camera`` options, and the long camera cut from the real vtest.avi (marked real)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from noscope_cli import make_camera
from noscope_core.common.errors import QueryError


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="noscope")
    make_camera.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["make-camera", *argv])


def test_make_camera_options_and_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("NOSCOPE_HOME", str(tmp_path))
    args = _parse()
    assert (args.name, args.seconds, args.fps, args.seed, args.drift) == ("vtest-long", 3600.0, 10.0, 0, "")
    assert args.func is make_camera.run
    assert make_camera.output_path("cam-2") == tmp_path.resolve() / "videos" / "cam-2.mp4"
    assert make_camera.output_path(str(tmp_path / "x.avi")) == tmp_path / "x.avi"
    args = _parse("night", "--seconds", "60", "--fps", "30", "--seed", "7", "--drift", "evening,rain")
    assert (args.seconds, args.fps, args.seed, args.drift) == (60.0, 30.0, 7, "evening,rain")


def test_make_camera_refuses_bad_options_in_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("NOSCOPE_HOME", str(tmp_path))
    with pytest.raises(QueryError, match="unknown drift fog"):
        make_camera.run(_parse("--drift", "fog"))
    with pytest.raises(QueryError, match="--seconds"):
        make_camera.run(_parse("--seconds", "-5"))
    with pytest.raises(QueryError, match="invalid camera name"):
        make_camera.run(_parse("bad name!"))


@pytest.mark.real
def test_people_cut_from_vtest_walk_again():
    from noscope_core.common.paths import default_video
    from noscope_core.footage.composite.bank import source_bank
    from noscope_core.footage.composite.make import LongCameraSpec, render_frames

    if not default_video().is_file():
        pytest.skip("vtest.avi not fetched (run `noscope fetch`)")
    bank = source_bank(default_video())  # cached under $NOSCOPE_HOME after the first run (~30 s)
    assert bank.size == (768, 576) and len(bank.people) >= 10
    assert 0.15 < bank.perspective.slope < 0.45  # people are ~3x taller at the bottom than at the far road
    assert bank.vehicle is not None and bank.vehicle.class_name in ("car", "truck", "bus")
    walkers = [t for t in bank.people if t.speed_heights_per_frame > 0.025]
    assert len(walkers) >= 5 and all(0.1 < (t.rgba[0][:, :, 3] > 127).mean() < 0.9 for t in walkers)
    frames = [(img, placed) for f, img, placed in render_frames(LongCameraSpec(seconds=20, seed=1), bank)]
    assert any(placed for _, placed in frames)
    diff = np.abs(frames[-1][0].astype(int) - bank.background.astype(int)).mean()
    assert diff < 25  # the empty scene is still the camera's own


def test_make_camera_hours_continue_the_camera(monkeypatch, tmp_path):
    from noscope_core.footage.composite.make import hour_seed

    monkeypatch.setenv("NOSCOPE_HOME", str(tmp_path))
    assert _parse().hour == "1"
    assert make_camera.parse_hours("3") == [3]
    assert make_camera.parse_hours("2-7") == [2, 3, 4, 5, 6, 7]
    # hour 1 is the camera itself (today's video, byte-identical); later hours beside it, under their own seeds
    assert make_camera.output_path("cam", 1) == tmp_path.resolve() / "videos" / "cam.mp4"
    assert make_camera.output_path("cam", 4) == tmp_path.resolve() / "videos" / "cam-h4.mp4"
    assert make_camera.output_path(str(tmp_path / "x.avi"), 2) == tmp_path / "x-h2.avi"
    assert hour_seed(0, 1) == 0 and hour_seed(5, 1) == 5
    seeds = [hour_seed(s, h) for s in (0, 1) for h in range(2, 30)]
    assert len(set(seeds)) == len(seeds) and min(seeds) >= 2**16  # never another hour's, never a small plain seed
    assert hour_seed(0, 2) == hour_seed(0, 2)  # deterministic


def test_make_camera_refuses_bad_hours_in_one_line():
    for bad in ("0", "x", "5-3", "2-"):
        with pytest.raises(QueryError, match="--hour"):
            make_camera.parse_hours(bad)
