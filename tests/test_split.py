import pytest

from noscope_core.errors import VideoError
from noscope_core.split import split_frames


def test_segments_are_consecutive_disjoint_and_in_time_order():
    segs = split_frames(795)
    assert (segs.train.start, segs.train.stop) == (0, 398)
    assert segs.threshold.start == segs.train.stop
    assert segs.test.start == segs.threshold.stop
    assert segs.test.stop <= 795


def test_video_too_short_for_split_is_a_clear_error():
    with pytest.raises(VideoError, match="too short"):
        split_frames(50)
