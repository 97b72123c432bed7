"""Smoke run of the reading-path benchmark on a tiny clip and its H.264 re-encode, so it cannot rot."""

from __future__ import annotations

import pytest

from noscope_core.footage.synthetic.scene import SyntheticScene
from noscope_core.footage.synthetic.write import write_synthetic_video

av = pytest.importorskip("av")


def test_reading_path_benchmark_times_every_row_on_both_codecs_and_renders_its_tables(tmp_path):
    from benchmarks import decode, reading_path

    clip = write_synthetic_video(tmp_path / "clip.avi", 40, SyntheticScene(width=96, height=64, seed=2))
    cut = reading_path.cut_video(clip, tmp_path / "cut.avi", 30, log=lambda *_: None)
    with av.open(str(cut)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 30
    h264 = decode.encode_h264(clip, tmp_path / "clip-h264.mp4", gop_s=1.0, log=lambda *_: None)
    res = reading_path.measure({"clip": clip, "clip-h264": h264}, repeats=1, log=lambda *_: None)
    keys = {r.key for r in reading_path.rows()}
    for name in ("clip", "clip-h264"):
        row = res["videos"][name]["options"]
        assert res["videos"][name]["frames"] == 40 and set(row) == keys
        assert all(o["fps"] > 0 and o["frames_covered"] == 40 for o in row.values())
        assert row["cv_decode"]["x_decode_only"] == 1.0
        assert set(res["videos"][name]["shrink_error"]) == {
            "cv_engine",
            "pyav",
            *(f"pyav-{d}" for d in ("lr2", "lr3", "nlf", "lr2-nlf", "lr3-nlf")),
        }
    h = res["videos"]["clip-h264"]["options"]
    assert h["pyav-nlf"]["skip_loop_filter"] and not res["videos"]["clip"]["options"]["pyav-nlf"]["skip_loop_filter"]
    assert h["pyav-lr2"]["lowres"] == 0 and res["videos"]["clip"]["options"]["pyav-lr2"]["lowres"] == 2
    # skip 30 on a 10-frame GOP evaluates frames 0 and 30, both keyframes: every other packet is never decoded
    assert h["pyav@30"]["frames_read"] == 2 and h["pyav@30"]["n_dropped"] == 38
    decode.save_results(res, {"clip": clip, "clip-h264": h264}, 1, tmp_path / "out", "rp", reading_path.render)
    table = (tmp_path / "out" / "rp.md").read_text()
    assert (tmp_path / "out" / "rp.json").is_file()
    assert "clip-h264 (40 fr)" in table and "skip 30" in table and "38 dropped" in table
    assert "Mean absolute error" in table


def test_the_h264_re_encode_can_stop_after_the_first_frames(tmp_path):
    from benchmarks import decode

    clip = write_synthetic_video(tmp_path / "clip.avi", 40, SyntheticScene(width=96, height=64, seed=2))
    h264 = decode.encode_h264(clip, tmp_path / "first20.mp4", gop_s=1.0, log=lambda *_: None, max_frames=20)
    with av.open(str(h264)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 20
