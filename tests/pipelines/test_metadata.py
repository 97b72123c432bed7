"""Engine figures as typed, rounded Dagster metadata."""

import dagster as dg
import pytest

from pipelines import metadata as md

BEST = {
    "config": {"skip": 1},
    "describe": "skip 1 → model m",
    "fnr": 0.34146341463414637,
    "fpr": 0.0123,
    "cost_ms": 12.345678,
    "reference_fraction": 0.25,
    "speedup": 3.2551907309157158,
}


def test_rates_become_rounded_float_percentages():
    value = md.pct(0.34146341463414637)
    assert isinstance(value, dg.FloatMetadataValue) and value.value == 34.15
    assert md.pct(0.0).value == 0.0
    assert isinstance(md.pct(None), dg.NullMetadataValue)


def test_speedups_read_as_people_write_them():
    assert md.times(3.2551907309157158).value == 3.3
    assert [md.times_text(x) for x in (3.2551, 1.0, 250.4, 194134.2, None)] == [
        "3.3×",
        "1.0×",
        "250×",
        "194,134×",
        "n/a",
    ]


def test_counts_are_ints():
    assert isinstance(md.count(12.0), dg.IntMetadataValue) and md.count(12.0).value == 12


def test_cascade_headline_is_typed_and_rounded():
    head = md.cascade_headline(BEST, {"max_fnr": 0.05, "max_fpr": 0.05, "confidence": 0.95}, 19.987)
    assert head["speedup"].value == "3.3×"
    assert head["speedup_x"].value == 3.3
    assert (head["threshold_fnr_pct"].value, head["threshold_fpr_pct"].value) == (34.15, 1.23)
    assert head["reference_calls_pct"].value == 25.0
    assert head["cost_ms_per_frame"].value == 12.35
    assert head["reference_fps"].value == 20.0
    assert all(isinstance(v, dg.MetadataValue) for v in head.values())


def test_query_headline_counts_intervals_and_nulls_what_is_missing():
    head = md.query_headline({"fnr": 0.0, "fpr": 0.02, "speedup": 4.0, "intervals": [[0, 3], [5, 9]]}, {})
    assert head["test_fnr_pct"].value == 0.0 and head["n_intervals"].value == 2
    assert isinstance(head["speedup_e2e_x"], dg.NullMetadataValue)
    assert isinstance(head["targets"], dg.NullMetadataValue)


def test_constants_are_text_not_flat_plots():
    """Targets and confidence do not change from run to run: text, so the Plots tab draws no flat line."""
    head = md.cascade_headline(BEST, {"max_fnr": 0.05, "max_fpr": 0.01, "confidence": 0.95}, 19.987)
    assert isinstance(head["targets"], dg.TextMetadataValue)
    assert head["targets"].text == "FNR ≤ 5.00 %, FPR ≤ 1.00 % at 95 % confidence"
    point = md.targets_text({"max_fnr": 0.05, "max_fpr": 0.05, "confidence": None})
    assert point.text.endswith("point rule (no confidence)")
    assert not any(k.startswith("max_") for k in head)


def test_frontier_table_has_a_schema_and_marks_the_chosen_row():
    other = {**BEST, "config": {"skip": 2}, "describe": "skip 2 → model m", "speedup": 6.0, "fnr": 0.5}
    value = md.frontier_table([BEST, other], chosen=dict(other))
    assert isinstance(value, dg.TableMetadataValue)
    types = {c.name: c.type for c in value.schema.columns}
    assert types["chosen"] == "bool" and types["speedup"] == "float" and types["rank"] == "int"
    rows = [r.data for r in value.records]
    assert [r["chosen"] for r in rows] == [False, True]
    assert rows[0]["fnr_pct"] == 34.15 and rows[0]["speedup"] == 3.3


def test_intervals_table_gives_frames_and_seconds():
    value = md.intervals_table([[10, 25], [40, 41]], fps=10.0)
    assert [r.data for r in value.records][0] == {
        "start_frame": 10,
        "end_frame": 25,
        "frames": 15,
        "start_s": 1.0,
        "end_s": 2.5,
    }
    assert md.intervals_table([[10, 25]], fps=None).records[0].data["start_s"] is None
    assert len(md.intervals_table([[i, i + 1] for i in range(0, 20, 2)], 10.0, limit=3).records) == 3


def test_png_markdown_embeds_the_image(tmp_path):
    png = tmp_path / "a.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")
    assert md.png_markdown(png, "plot").value == "![plot](data:image/png;base64,iVBORw0KGgo=)"


@pytest.mark.parametrize("rate", [1e-9, 0.999999])
def test_percent_rounding_stays_in_range(rate):
    assert 0.0 <= md.pct(rate).value <= 100.0
