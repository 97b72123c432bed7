"""Smoke run of the reader benchmark's measuring and rendering on a tiny clip, so it cannot rot."""

from __future__ import annotations

import pytest

from noscope_core.footage.synthetic.scene import SyntheticScene
from noscope_core.footage.synthetic.write import write_synthetic_video

pytest.importorskip("av")


def test_decode_benchmark_times_every_option_on_both_codecs_and_renders_a_table(tmp_path):
    from benchmarks import decode

    clip = write_synthetic_video(tmp_path / "clip.avi", 40, SyntheticScene(width=96, height=64, seed=2))
    h264 = decode.encode_h264(clip, tmp_path / "clip-h264.mp4", gop_s=1.0, log=lambda *_: None)
    res = decode.measure({"clip": clip, "clip-h264": h264}, repeats=1, log=lambda *_: None)
    keys = {o.key for o in decode.options()}
    for name in ("clip", "clip-h264"):
        row = res["videos"][name]
        assert row["frames"] == 40 and set(row["options"]) == keys
        assert all(o["fps"] > 0 for o in row["options"].values())
        assert row["options"]["cv_decode"]["x_decode_only"] == 1.0
        assert set(row["shrink_error"]) == {"cv_area", "cv_engine", "pyav", "lowres1", "lowres2", "lowres3"}
    assert res["videos"]["clip-h264"]["options"]["keyframes"]["keyframes"] == 4  # one per second at 10 fps
    assert res["videos"]["clip-h264"]["options"]["lowres2"]["lowres"] == 0  # H.264 ignores lowres
    res.update(created_utc="now", machine="test", repeats=1)
    table = decode.render(res)
    assert "lowres ignored" in table and "clip-h264 (40 fr)" in table
