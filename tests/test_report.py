"""Frontier plot and markdown table from the optimizer's candidate dicts."""

from __future__ import annotations

import pytest

from noscope_core.common.errors import ArtifactError
from noscope_core.present.frontier import (
    error_axis_limit,
    frontier_plot,
    frontier_table,
    frontier_table_md,
    pareto_front,
)


def cand(fnr: float, fpr: float, speedup: float, describe: str = "model m") -> dict:
    return {
        "config": {"skip": 1, "model_name": "m"},
        "fnr": fnr,
        "fpr": fpr,
        "cost_ms": 50.0 / speedup,
        "reference_fraction": 1.0 / speedup,
        "speedup": speedup,
        "describe": describe,
    }


FRONTIER = [cand(0.0, 0.0, 1.0, "reference"), cand(0.01, 0.005, 8.0), cand(0.02, 0.03, 40.0), cand(0.05, 0.01, 20.0)]


def test_pareto_front_drops_candidates_beaten_on_error_and_speed():
    front = pareto_front(FRONTIER)
    # (error 0.05, speed-up 20) is beaten by (error 0.03, speed-up 40)
    assert [c["speedup"] for c in front] == [1.0, 8.0, 40.0]


def test_frontier_plot_writes_a_png_and_leaves_no_temporary_file(tmp_path):
    out = frontier_plot(FRONTIER, tmp_path / "plots" / "frontier.png", reference_fps=20.0, chosen=FRONTIER[1])
    assert out == tmp_path / "plots" / "frontier.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["frontier.png"]


def test_frontier_plot_handles_a_single_reference_only_candidate(tmp_path):
    out = frontier_plot([cand(0.0, 0.0, 1.0, "reference")], tmp_path / "one.png")
    assert out.stat().st_size > 0


def test_frontier_table_lists_rates_in_percent_short_names_and_details_on_demand():
    md = frontier_table_md([cand(0.0125, 0.005, 8.0, "a | b")], details=True)
    lines = md.strip().splitlines()
    assert lines[0].startswith("| # | cascade | FNR % | FPR %")
    assert lines[2] == "| 1 | m → reference | 1.25 | 0.50 | 6.25 | 8.0× | 12.50 | dearer than the choice |"
    assert lines[-1] == "- #1: a | b"
    assert "Details" not in frontier_table_md([cand(0.0125, 0.005, 8.0, "a | b")])


def test_frontier_table_truncates_at_limit_and_says_how_many_are_left():
    md = frontier_table_md(FRONTIER, limit=2)
    rows = [line for line in md.splitlines() if line.startswith("| ")][1:]  # minus the header
    assert [r.split(" | ")[0] for r in rows] == ["| 1", "| 2"]
    assert "and 2 more candidates" in md


def test_malformed_candidates_raise_artifact_error(tmp_path):
    with pytest.raises(ArtifactError, match="lacks fnr"):
        frontier_table_md([{"fpr": 0.0, "speedup": 1.0}])
    with pytest.raises(ArtifactError):
        frontier_plot([{"speedup": 1.0}], tmp_path / "x.png")


def test_frontier_plot_with_targets_and_candidates_off_the_error_axis(tmp_path):
    frontier = [*FRONTIER, cand(0.6, 0.1, 90000.0, "skip 30")]  # 60 % error: counted, not drawn
    out = frontier_plot(frontier, tmp_path / "t.png", 20.0, chosen=FRONTIER[2], max_fnr=0.05, max_fpr=0.02)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_error_axis_spans_ten_percent_or_twice_the_loosest_target():
    assert error_axis_limit(None, None) == 10.0
    assert error_axis_limit(0.01, 0.05) == 10.0
    assert error_axis_limit(0.08, 0.02) == 16.0
    assert error_axis_limit(0.9, 0.9) == 100.0


def test_frontier_table_marks_the_chosen_row_and_rounds_for_reading():
    table = frontier_table(FRONTIER, chosen=dict(FRONTIER[2]))
    assert [c.name for c in table.columns][:3] == ["rank", "chosen", "cascade"]
    assert {c.kind for c in table.columns} <= {"int", "float", "string", "bool"}
    assert [r["chosen"] for r in table.rows] == [False, False, True, False]
    assert table.rows[1] == {
        "rank": 2,
        "chosen": False,
        "cascade": "m → reference",
        "verdict": "dearer than the choice",
        "fnr_pct": 1.0,
        "fpr_pct": 0.5,
        "fnr_estimate_pct": None,
        "fpr_estimate_pct": None,
        "speedup": 8.0,
        "certified_speedup": None,
        "cost_ms": 6.25,
        "certified_cost_ms": None,
        "reference_calls_pct": 12.5,
        "details": "model m",
    }
    assert table.n_left_out == 0


def test_frontier_table_keeps_the_chosen_row_beyond_the_limit():
    table = frontier_table(FRONTIER, chosen=FRONTIER[3], limit=1)
    assert [(r["rank"], r["chosen"]) for r in table.rows] == [(1, False), (4, True)]
    assert table.n_left_out == 2
    md = frontier_table_md(FRONTIER, limit=1, chosen=FRONTIER[3])
    assert "| ★ 4 | m → reference |" in md and "and 2 more candidates" in md


def test_the_table_says_what_decided_and_lists_the_fallback_as_a_row():
    estimated = {**cand(0.0, 0.0, 3.4, "skip 2 → model m"), "fnr_bound": 0.09, "fpr_bound": 0.004}
    fallback = {**cand(0.0, 0.0, 1.0, "reference"), "config": {"skip": 1}}
    table = frontier_table([estimated], chosen=fallback, max_fnr=0.05, max_fpr=0.05)
    first, row = table.rows
    assert (first["rank"], first["chosen"], first["cascade"]) == (0, True, "reference on every frame")
    assert (row["verdict"], row["fnr_pct"], row["fnr_estimate_pct"]) == ("estimate over a target", 0.0, 9.0)
    priced = {**estimated, "fnr_bound": 0.01, "expected_certified_cost_ms": 60.0, "expected_speedup_certified": 0.8}
    chosen = {**priced, "config": {"skip": 3, "model_name": "m"}, "expected_certified_cost_ms": 20.0}
    rows = frontier_table([chosen, priced], chosen=chosen, max_fnr=0.05, max_fpr=0.05).rows
    assert [r["verdict"] for r in rows] == ["chosen", "dearer once certified"]
    assert rows[1]["certified_speedup"] == 0.8 and rows[1]["certified_cost_ms"] == 60.0


def test_under_the_certified_planner_no_estimate_rules_a_candidate_out():
    """The certified planner chooses by expected certified cost alone (the certificate proves the answer): a
    candidate whose block-bound estimate is over a target lost on its price, and one left unpriced says so."""
    over = {**cand(0.02, 0.0, 3.4, "skip 2 → model m"), "fnr_bound": 0.30, "fpr_bound": 0.004}
    priced_over = {**over, "expected_certified_cost_ms": 60.0, "expected_speedup_certified": 0.8}
    unpriced = {**cand(0.03, 0.0, 2.0, "model n"), "fnr_bound": 0.40, "fpr_bound": 0.01}
    chosen = {**priced_over, "config": {"skip": 3, "model_name": "m"}, "expected_certified_cost_ms": 20.0}
    rows = frontier_table([chosen, priced_over, unpriced], chosen=chosen, max_fnr=0.05, max_fpr=0.05).rows
    assert [r["verdict"] for r in rows] == ["chosen", "dearer once certified", "not priced for a certificate"]


def test_the_plot_judges_candidates_by_their_estimates(tmp_path):
    estimated = {**cand(0.0, 0.0, 3.4), "fnr_bound": 0.09, "fpr_bound": 0.004, "expected_speedup_certified": 0.6}
    fallback = {**cand(0.0, 0.0, 1.0, "reference"), "config": {"skip": 1}}
    out = frontier_plot([estimated], tmp_path / "f.png", 10.0, fallback, max_fnr=0.05, max_fpr=0.05)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from noscope_core.present.frontier import judged_error, meets_targets

    assert judged_error(estimated) == 0.09 and not meets_targets(estimated, 0.05, 0.05)


def test_a_frontier_priced_for_certification_plots_threshold_rates_not_the_block_estimates(tmp_path):
    """Under the certified planner a chosen cascade may carry block-bound estimates of 100 % / 45 % (they gate
    nothing there): the error axis must show its threshold-segment rates, or every candidate and the star sit off
    the 10 % axis (what the re-taken UI screenshot showed)."""
    from noscope_core.present.frontier import judged_error, priced_for_certification, threshold_error

    c = {**cand(0.0048, 0.0101, 7.5), "fnr_bound": 1.0, "fpr_bound": 0.4483, "expected_speedup_certified": 4.7}
    bound_only = {**cand(0.0048, 0.0101, 7.5), "fnr_bound": 1.0, "fpr_bound": 0.4483}
    assert priced_for_certification([c]) and priced_for_certification([bound_only], chosen=c)
    assert not priced_for_certification([bound_only]) and not priced_for_certification(FRONTIER)
    assert threshold_error(c) == pytest.approx(0.0101) and judged_error(c) == pytest.approx(1.0)
    out = frontier_plot([c, bound_only], tmp_path / "c.png", 11.8, chosen=c, max_fnr=0.05, max_fpr=0.05)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
