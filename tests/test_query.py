import pytest

from noscope_core.common.errors import QueryError
from noscope_core.spec.query import ROI, Query, parse_split, parse_target


def test_roi_parses_fractions_and_tests_box_centres():
    roi = ROI.parse("0,0.5,0.5,1")
    assert roi.as_tuple() == (0.0, 0.5, 0.5, 1.0)
    assert roi.contains(0.25, 0.75)
    assert not roi.contains(0.75, 0.75)


@pytest.mark.parametrize("text", ["0,0,1.5,1", "-0.1,0,1,1", "0.5,0,0.5,1", "0,0.6,1,0.4"])
def test_roi_outside_unit_square_or_empty_is_rejected(text):
    with pytest.raises(QueryError):
        ROI.parse(text)


def test_roi_with_wrong_arity_or_garbage_says_what_is_expected():
    with pytest.raises(QueryError, match="4 numbers"):
        ROI.parse("0,0,1")
    with pytest.raises(QueryError, match="X0,Y0,X1,Y1"):
        ROI.parse("a,b,c,d")


def test_unknown_class_lists_valid_names():
    q = Query("unicorn")
    with pytest.raises(QueryError) as info:
        q.validate_class(("person", "car"))
    assert "car, person" in str(info.value)


def test_query_round_trips_and_key_changes_with_roi():
    q = Query("person", ROI.parse("0,0.5,0.5,1"), 0.6, 3)
    assert Query.from_dict(q.to_dict()) == q
    assert q.key() != Query("person").key()


def test_split_and_targets_are_validated():
    assert parse_split("0.5,0.25,0.25") == (0.5, 0.25, 0.25)
    for bad in ("0.5,0.5,0.5", "1,0,0", "0.5,0.25"):
        with pytest.raises(QueryError):
            parse_split(bad)
    with pytest.raises(QueryError):
        parse_target("max_fnr", 1.5)
    with pytest.raises(QueryError):
        Query("person", smooth_frames=2)
