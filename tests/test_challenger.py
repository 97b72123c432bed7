"""The nightly challenger in the engine: its training window, the stored frames it decodes, and the verdict rule
that moves the champion only for a lower certified cost with the promise held."""

from __future__ import annotations

import numpy as np
import pytest

from noscope_core.common.errors import QueryError
from noscope_core.flows.challenger import AnswerCost, decode_stored, judge, window_days
from noscope_core.reference.detection import Detection
from noscope_core.reference.label_store import LabelledFrame
from noscope_core.spec.query import Query


def _cost(**kw) -> AnswerCost:
    base = dict(
        cascade="c", frames=1000, reference_calls=100, certify_frames=50, tighten_frames=0, cheap_ms=1000.0,
        reference_ms=50.0, charged_ms_per_frame=8.0, certified=True, fnr_bound=0.04, fpr_bound=0.03,
        max_fnr=0.05, max_fpr=0.05,
    )  # fmt: skip
    return AnswerCost(**{**base, **kw})


def test_a_cheaper_certified_challenger_wins_and_the_reason_gives_both_costs():
    champion, challenger = _cost(reference_calls=300), _cost(reference_calls=100)
    v = judge(champion, challenger)
    # (1000 ms + 150 * 50 ms) / 1000 frames vs (1000 + 350 * 50) / 1000
    assert v.moved and v.challenger_ms_per_frame == pytest.approx(8.5) and v.champion_ms_per_frame == 18.5
    assert "challenger wins" in v.reason and "8.50 ms/frame" in v.reason and "18.50 ms/frame" in v.reason


@pytest.mark.parametrize(
    ("challenger", "why"),
    [
        (_cost(reference_calls=10, certified=False), "promise did not hold"),
        (_cost(reference_calls=10, fnr_bound=0.06), "promise did not hold"),  # a bound above its target
        (_cost(reference_calls=10, fnr_bound=None, fpr_bound=None), "promise did not hold"),
        (_cost(reference_calls=10, frames=999), "not the same"),
        (_cost(), "same cascade and the same reference work"),  # a tie keeps the champion
        (_cost(cheap_ms=900.0), "same cascade and the same reference work"),  # faster only by its timing
        (_cost(cascade="other", cheap_ms=990.0), "not lower"),  # 0.1 % cheaper: within the timing noise
        (_cost(reference_calls=120), "not lower"),
    ],
)
def test_the_champion_stays_unless_the_challenger_is_cheaper_with_its_promise_held(challenger, why):
    v = judge(_cost(), challenger)
    assert not v.moved and why in v.reason and "champion kept" in v.reason


def test_the_reference_is_priced_once_for_both_so_its_timing_cannot_decide():
    # the challenger's answer measured the reference slower (a busier moment): same work, same price
    v = judge(_cost(reference_ms=40.0), _cost(cascade="other", reference_ms=60.0))
    assert v.reference_ms == 50.0 and v.champion_ms_per_frame == v.challenger_ms_per_frame and not v.moved


def test_a_required_gain_keeps_a_champion_only_slightly_dearer():
    champion, challenger = _cost(reference_calls=104), _cost(reference_calls=100)  # 2.3 % dearer
    assert judge(champion, challenger).moved and judge(champion, challenger, min_gain=0.0).moved
    assert not judge(champion, challenger, min_gain=0.05).moved
    with pytest.raises(QueryError, match="fraction"):
        judge(champion, challenger, min_gain=1.0)


def _frame(day: str, i: int, reason: str = "random", fp: str = "f", path: str = "x.avi") -> LabelledFrame:
    return LabelledFrame(fp, path, i, (Detection("person", 0.9, 0.5, 0.5, 0.1, 0.1),), "ref", reason, day)


def test_the_window_is_the_most_recent_days_before_the_judged_day():
    recs = [_frame(d, 0) for d in ("", "2026-01-01", "2026-01-02", "2026-01-03", "2026-01-05", "2026-01-04")]
    assert window_days(recs, "2026-01-05", 2) == ("2026-01-03", "2026-01-04")
    assert window_days(recs, "2026-01-05", 10) == ("2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04")
    assert window_days(recs, "2026-01-01", 3) == () and window_days(recs, "2026-01-05", 0) == ()
    with pytest.raises(QueryError, match="0 or more days"):
        window_days(recs, "2026-01-05", -1)


def test_stored_frames_decode_by_index_and_a_changed_or_missing_file_is_skipped(tmp_path):
    from noscope_core.footage.synthetic.scene import SyntheticScene
    from noscope_core.footage.synthetic.write import write_synthetic_video
    from noscope_core.video.frames import read_frames
    from noscope_core.video.probe import probe_video
    from noscope_core.video.shrink import preprocess
    from noscope_core.video.views import ViewSpec

    video = write_synthetic_video(tmp_path / "day.avi", 30, SyntheticScene(width=64, height=48, seed=3))
    fp = probe_video(video).fingerprint
    recs = [
        _frame("2026-01-02", 7, "random", fp, str(video)),
        LabelledFrame(fp, str(video), 21, (), "ref", "risky", "2026-01-02"),
        _frame("2026-01-02", 3, "random", "another-fingerprint", str(video)),  # the file was replaced since
        _frame("2026-01-02", 1, "random", "gone", str(tmp_path / "gone.avi")),
    ]
    view = ViewSpec(16)
    ex = decode_stored(recs, Query("person"), view)
    assert ex.keys == ((fp, 7), (fp, 21)) and ex.skipped == 2 and len(ex.notes) == 2
    assert ex.label.tolist() == [True, False] and ex.unbiased.tolist() == [True, False]
    assert np.array_equal(ex.frames, preprocess(read_frames(video, [7, 21]), view))
    assert ex.target[0] > 0.5 > ex.target[1]  # soft targets: the reference's confidence, 0.5 at its threshold
