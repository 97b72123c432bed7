"""The answer pictures: the timeline PNG with thumbnails and the review reel of positive stretches."""

from __future__ import annotations

import cv2
import pytest

from noscope_core.common.errors import QueryError
from noscope_core.present.clips import positive_clips
from noscope_core.present.timeline import (
    check_intervals,
    check_ranges,
    describe_ranges,
    merge_gaps,
    pick_thumbnails,
    timeline_picture,
)

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    from noscope_core.footage.synthetic.scene import SyntheticScene
    from noscope_core.footage.synthetic.write import write_synthetic_video

    path = tmp_path_factory.mktemp("answer") / "cam.avi"
    return write_synthetic_video(path, 80, SyntheticScene(width=160, height=120, fps=10.0, seed=3))


def test_thumbnails_go_to_the_longest_intervals_in_time_order():
    spans = [(0, 2), (10, 30), (40, 41), (50, 60), (70, 90)]
    assert pick_thumbnails(spans, 2) == [1, 4]
    assert pick_thumbnails(spans, 3) == [1, 3, 4]
    assert pick_thumbnails(spans, 10) == [0, 1, 2, 3, 4]


def test_intervals_are_sorted_and_checked():
    assert check_intervals([[5, 9], (0, 2)]) == [(0, 2), (5, 9)]
    with pytest.raises(QueryError, match="empty or negative"):
        check_intervals([(4, 4)])
    with pytest.raises(QueryError, match="ends past the video's 10 frames"):
        check_intervals([(4, 11)], n_frames=10)


def test_timeline_picture_caps_thumbnails_and_says_so(video, tmp_path):
    spans = [(0, 5), (10, 30), (35, 37), (40, 60), (70, 80)]
    pic = timeline_picture(video, spans, 10.0, tmp_path / "out" / "timeline.png", max_thumbnails=3)
    assert pic.path.read_bytes()[:8] == PNG
    assert (pic.n_intervals, pic.n_thumbnails, pic.capped) == (5, 3, True)
    assert pic.duration_s == pytest.approx(8.0)
    assert pic.positive_s == pytest.approx(5.7)
    assert [p.name for p in pic.path.parent.iterdir()] == ["timeline.png"]  # no temporary file left


def test_timeline_picture_of_an_empty_answer_still_draws_the_time_bar(video, tmp_path):
    pic = timeline_picture(video, [], 10.0, tmp_path / "none.png")
    assert (pic.n_intervals, pic.n_thumbnails, pic.capped, pic.positive_s) == (0, 0, False, 0.0)
    assert pic.path.read_bytes()[:8] == PNG


def test_reel_holds_every_stretch_with_a_card_before_each(video, tmp_path):
    reel = positive_clips(video, [(50, 60), (5, 15)], 10.0, tmp_path / "reel.mp4", gap_s=0.5)
    assert (reel.n_intervals, reel.n_stretches, reel.n_frames, reel.capped) == (2, 2, 20, False)
    cap = cv2.VideoCapture(str(reel.path))
    try:
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 20 + 2 * 5
        ok, frame = cap.read()
        assert ok and frame.shape[:2] == (120, 160)
    finally:
        cap.release()
    assert reel.duration_s == pytest.approx(3.0)


def test_reel_is_capped_and_cut_short_at_the_limit(video, tmp_path):
    reel = positive_clips(video, [(0, 20), (30, 50), (60, 80)], 10.0, tmp_path / "reel.mp4", gap_s=0.2, max_reel_s=3)
    # 2 card + 20 frames of the first stretch, 2 card + 6 frames of the second, then the closing card
    assert (reel.n_stretches, reel.n_frames, reel.capped) == (2, 26, True)


def test_reel_of_nothing_is_refused_with_a_hint(video, tmp_path):
    with pytest.raises(QueryError, match="no positive intervals"):
        positive_clips(video, [], 10.0, tmp_path / "reel.mp4")
    assert not (tmp_path / "reel.mp4").exists()


def test_neighbouring_interval_labels_go_on_different_rows():
    from noscope_core.present.timeline import label_rows

    rows = label_rows([10.0, 10.5, 11.0, 50.0], duration_s=100.0)
    assert len(set(rows[:3])) == 3  # three labels within 1 s of each other on a 100 s bar
    assert rows[3] == 0  # a label far from the others stays on the first row


def test_gaps_of_one_or_two_frames_are_closed_but_never_across_a_jump():
    walk = [(695, 703), (704, 712), (714, 725), (730, 740)]  # gaps of 1, 2 and 5 frames
    assert merge_gaps(walk) == [(695, 725), (730, 740)]
    ranges = [(299, 399), (400, 500)]  # frame 399 was not examined: the answer's gap there is not its own
    assert merge_gaps([(390, 399), (400, 410)], ranges) == [(390, 399), (400, 410)]
    assert check_ranges([(695, 795), (299, 399), (390, 400)]) == [(299, 400), (695, 795)]
    assert describe_ranges([(299, 399), (695, 795)]) == "frames 299–398 and 695–794"


def test_the_timeline_of_a_split_test_segment_counts_the_examined_frames_only(video, tmp_path):
    examined = [(10, 20), (60, 70)]  # 20 of the video's 80 frames
    pic = timeline_picture(video, [(12, 14), (15, 18), (60, 65)], 10.0, tmp_path / "split.png", examined=examined)
    assert pic.duration_s == pytest.approx(2.0)  # not the video's 8 s
    assert pic.positive_s == pytest.approx(1.0)  # the answer's 10 frames, the closed gap not counted
    assert pic.n_intervals == 2  # [12, 14) and [15, 18) drawn as one
    with pytest.raises(QueryError, match="outside the examined frames"):
        timeline_picture(video, [(30, 35)], 10.0, tmp_path / "bad.png", examined=examined)
