"""Reading costs per view and skip, and the rule that picks a decoding view only when it still meets the targets."""

from __future__ import annotations

import pytest

from noscope_core.common.errors import QueryError
from noscope_core.footage.synthetic.scene import SyntheticScene
from noscope_core.footage.synthetic.write import write_synthetic_video
from noscope_core.spec.decodings import parse_decodings
from noscope_core.video.reading_costs import (
    ReadingCost,
    ReadingCosts,
    ViewOption,
    choose_view,
    measure_reading_costs,
    with_decoding,
)
from noscope_core.video.views import ViewSpec


def test_decodings_are_checked_and_the_exact_one_always_competes():
    assert parse_decodings([]) == ("",)
    assert parse_decodings(["LR2", "nlf", "lr2", "exact"]) == ("", "lr2", "nlf")
    with pytest.raises(QueryError, match="unknown decoding 'lr4'"):
        parse_decodings(["lr4"])


def test_a_decoding_name_is_the_suffix_it_gives_the_view():
    base = ViewSpec(50)
    for decoding in parse_decodings(["lr1", "lr3", "nlf", "lr2-nlf"]):
        view = with_decoding(base, decoding)
        assert view.name == "full50" + (f"-{decoding}" if decoding else "")
    with pytest.raises(QueryError):
        with_decoding(base, "fast")


def _costs(points: dict[int, float]) -> ReadingCosts:
    return ReadingCosts({("v", s): ReadingCost("v", s, ms, 100, "pyav", 0, False, 0) for s, ms in points.items()})


def test_reading_cost_between_measured_skips_is_linear_in_one_over_skip():
    costs = _costs({1: 1.0, 5: 0.2, 30: 0.05})
    assert costs.ms("v", 1) == 1.0 and costs.ms("v", 30) == 0.05
    # between 1 and 5: a + b/s through (1, 1.0) and (5, 0.2) gives a = 0, b = 1: 0.5 at skip 2
    assert costs.ms("v", 2) == pytest.approx(0.5)
    assert costs.ms("v", 60) == 0.05  # beyond the measured skips: the nearest one's cost
    with pytest.raises(QueryError, match="no reading cost"):
        costs.ms("w", 1)


def test_reading_costs_are_measured_per_view_and_skip_on_the_file(tmp_path):
    clip = write_synthetic_video(tmp_path / "clip.avi", 60, SyntheticScene(width=96, height=64, seed=3))
    views = (ViewSpec(16), ViewSpec(16, lowres=1))
    costs = measure_reading_costs(clip, views, skips=(1, 7), frames=50, repeats=1)
    assert set(costs.costs) == {(v.name, s) for v in views for s in (1, 7)}
    for (name, skip), c in costs.costs.items():
        assert c.frames == 50 and c.ms_per_frame > 0 and c.reader == "pyav"
        assert c.lowres == (1 if name.endswith("lr1") else 0)
        assert c.n_dropped == 0 or skip > 1
    assert set(costs.to_dict()) == {v.name for v in views}


def test_a_cheaper_view_wins_only_when_its_cascade_meets_the_targets():
    exact = ViewOption("full50", reading_ms=1.0, cascade_ms=0.2, meets_targets=True)
    fast_bad = ViewOption("full50-lr3", reading_ms=0.3, cascade_ms=0.2, meets_targets=False)
    fast_ok = ViewOption("full50-lr2", reading_ms=0.5, cascade_ms=0.25, meets_targets=True)
    assert choose_view([exact, fast_bad], "full50").view == "full50"
    choice = choose_view([exact, fast_bad, fast_ok], "full50")
    assert choice.view == "full50-lr2" and choice.total_ms == pytest.approx(0.75) and "full50-lr3" in choice.reason
    tie = ViewOption("full50-nlf", reading_ms=0.995, cascade_ms=0.2, meets_targets=True)
    assert choose_view([exact, tie], "full50").view == "full50"  # within 1 %: the default's pixels
    none_ok = choose_view([ViewOption("full50", 1.0, 0.2, False), fast_bad], "full50")
    assert none_ok.view == "full50" and "no view" in none_ok.reason
    with pytest.raises(QueryError, match="default view"):
        choose_view([fast_ok], "full50")


def test_each_candidate_decoding_gives_the_models_view_its_own_name():
    from noscope_core.spec.query import ROI, Query
    from noscope_core.video.views import decoding_views, model_view

    query = Query("car", roi=ROI(0.0, 0.5, 0.5, 1.0))
    views = decoding_views(query, ["nlf", "lr2"])
    assert views[0] == model_view(query) and [v.decode_key for v in views] == [(0, False), (0, True), (2, False)]
    assert len({v.name for v in views}) == 3 and all(v.roi == query.roi for v in views)


def test_an_option_is_priced_at_its_cascades_skip():
    costs = _costs({1: 1.0, 5: 0.2})
    option = ViewOption.priced("v", 5, cascade_ms=0.1, meets_targets=True, costs=costs)
    assert option.reading_ms == 0.2 and option.total_ms == pytest.approx(0.3)
