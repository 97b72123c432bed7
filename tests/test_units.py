"""One unit convention for every figure a person reads (noscope_core.present.units)."""

from noscope_core.present import units


def test_rates_speedups_speeds_and_costs_are_written_one_way():
    assert units.pct(0.16333333333333333) == "16.33 %" and units.pct_value(0.16333333333333333) == 16.33
    assert [units.times(x) for x in (3.2551, 0.8512, 250.4, 223361.6)] == ["3.3×", "0.85×", "250×", "223,362×"]
    assert units.times_value(223361.6) == 223362.0 and units.times_value(3.2551) == 3.3
    assert units.fps(10.875546570985032) == "10.9 frames/s" and units.fps_value(10.875546570985032) == 10.9
    assert units.ms(91.94940166666281) == "91.95 ms" and units.ms_value(91.94940166666281) == 91.95


def test_unknown_figures_read_n_a():
    assert {units.pct(None), units.times(None), units.fps(None), units.ms(None)} == {"n/a"}
    assert units.pct_value(None) is None and units.times_value(None) is None


def test_a_table_may_mark_unknown_figures_its_own_way():
    assert {units.pct(None, missing="–"), units.times(None, missing="–"), units.fps(None, missing="–")} == {"–"}
    assert units.ms(None, missing="-") == "-"


def test_digits_keep_the_decimals_a_figure_needs():
    assert units.pct(0.01, digits=0) == "1 %" and units.pct(0.001, digits=1) == "0.1 %"
    assert units.times(1.0512, digits=2) == "1.05×" and units.times(1234.5, digits=0) == "1,234×"
    assert units.times(None, digits=2) == "n/a"
