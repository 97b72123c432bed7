import numpy as np
import pytest

from noscope_core.common.errors import VideoError
from noscope_core.spec.split import Segments, candidate_blocks, split_frames


def test_segments_are_consecutive_disjoint_and_in_time_order():
    segs = split_frames(795)
    assert segs.train.ranges == ((0, 398),)
    assert segs.threshold.start == segs.train.stop
    assert segs.test.start == segs.threshold.stop
    assert segs.test.stop <= 795


def test_blocked_split_is_disjoint_time_ordered_within_each_block_and_round_trips():
    segs = split_frames(800, (0.5, 0.25, 0.25), blocks=4)
    assert len(segs.train.ranges) == 4
    all_idx = np.concatenate([s.indices() for s in segs])
    assert len(np.unique(all_idx)) == len(all_idx) == 800
    for tr, th, te in zip(segs.train.ranges, segs.threshold.ranges, segs.test.ranges, strict=True):
        assert tr[1] == th[0] and th[1] == te[0]
    assert Segments.from_dict(segs.to_dict()) == segs
    with pytest.raises(ValueError):
        segs.test.as_slice()


def test_video_too_short_for_split_is_a_clear_error():
    with pytest.raises(VideoError, match="too short"):
        split_frames(50)


def test_candidate_blocks_stop_where_pieces_get_too_small():
    assert candidate_blocks(795, (0.5, 0.25, 0.25)) == [1, 2, 4, 8]
    assert candidate_blocks(100, (0.5, 0.25, 0.25)) == [1, 2, 4]
    assert candidate_blocks(60, (0.5, 0.25, 0.25)) == []


def test_fractions_summing_to_one_cover_every_frame_in_any_block_count():
    for n in (795, 1001, 333):
        for blocks in (1, 2, 4):
            segs = split_frames(n, (0.5, 0.25, 0.25), blocks)
            assert sum(len(s) for s in segs) == n
