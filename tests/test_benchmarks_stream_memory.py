"""The stream-memory benchmark's pieces: its stand-in reference, its table, its refusals."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import stream_memory as sm


def test_the_stand_in_reference_answers_fixed_boxes_per_frame_and_needs_pixels():
    ref = sm.StandInReference(5, "ssd-mobilenet-v3", "ssd|x")
    assert ref.needs_pixels and ref.identity() == "ssd|x" and ref.name == "ssd-mobilenet-v3"
    frames = [np.zeros((4, 4, 3), np.uint8)] * 3
    a = ref.detect(frames, [3, 10, 11])
    assert [len(d) for d in a] == [5, 5, 5]
    assert a == ref.detect(frames, [3, 10, 11])  # deterministic
    assert all(0.3 <= d.score <= 1.0 for dets in a for d in dets)
    with pytest.raises(ValueError, match="2 frames for 3 indices"):
        ref.detect(frames[:2], [1, 2, 3])


def _row(variant, short_mib, long_mib):
    ratio = long_mib / short_mib
    side = {"frames": 1000, "reference_frames": 10, "seconds": 1.0, "plan": "keyframe-first"}
    return {
        "variant": variant,
        "short": {**side, "peak_rss_mib": short_mib},
        "long": {**side, "frames": 6000, "peak_rss_mib": long_mib},
        "ratio": ratio,
        "met": abs(ratio - 1) <= sm.GOAL,
    }


def test_the_table_says_which_heap_streams():
    meta = {"date_utc": "2026-12-08", "machine": "m", "commit": "c", "cascade": "x.json", "boxes": 20}
    text = sm.render({"meta": meta, "variants": [_row("pinned", 755, 791), _row("unpinned", 884, 1580)]})
    pinned = next(line for line in text.splitlines() if line.startswith("| pinned"))
    unpinned = next(line for line in text.splitlines() if line.startswith("| unpinned"))
    assert "| 1.05 |" in pinned and pinned.endswith("| yes |")
    assert "| 1.79 |" in unpinned and unpinned.endswith("| no |")


def test_missing_inputs_and_unknown_variants_are_refused_in_one_line(tmp_path):
    cascade = tmp_path / "cascade.json"
    with pytest.raises(SystemExit, match="does not exist"):
        sm.main([str(cascade), str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4")])
    for p in ("cascade.json", "a.mp4", "b.mp4"):
        (tmp_path / p).write_text("x")
    with pytest.raises(SystemExit, match="unknown variant"):
        sm.main([str(cascade), str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4"), "--variants", "pinned,bogus"])
