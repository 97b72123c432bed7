"""One format for the figures every report prints (noscope_core.present.units)."""

from __future__ import annotations

import math

import pytest

from noscope_core.present.units import fps, ms, pct, times


@pytest.mark.parametrize(
    ("rate", "kwargs", "text"),
    [(0.0341, {}, "3.41%"), (0.0, {}, "0.00%"), (1.0, {}, "100.00%"), (0.01, {"digits": 0}, "1%"), (None, {}, "n/a")],
)
def test_pct_reads_a_rate_as_a_percentage(rate, kwargs, text):
    assert pct(rate, **kwargs) == text


@pytest.mark.parametrize(
    ("factor", "text"),
    [
        (3.2551, "3.3×"),
        (1.0, "1.0×"),
        (0.5234, "0.52×"),
        (250.4, "250×"),
        (194134.2, "194,134×"),
        (math.inf, "∞×"),
        (math.nan, "n/a"),
        (None, "n/a"),
    ],
)
def test_times_reads_a_speed_up_as_people_write_it(factor, text):
    assert times(factor) == text


def test_times_digits_fix_the_decimals_for_ratios_near_one():
    assert times(1.0512, digits=2) == "1.05×"
    assert times(1234.5, digits=0) == "1,234×"  # round half to even, as format() does
    assert times(None, missing="–") == "–"


@pytest.mark.parametrize(("rate", "text"), [(13.84, "13.8"), (1234.4, "1,234"), (math.inf, "∞"), (None, "n/a")])
def test_fps_keeps_one_decimal_only_below_a_hundred(rate, text):
    assert fps(rate) == text


@pytest.mark.parametrize(("value", "text"), [(12.5, "12.5"), (0.41234, "0.412"), (1234.4, "1,234"), (None, "-")])
def test_ms_keeps_three_significant_digits_below_a_hundred(value, text):
    assert ms(value, missing="-") == text
