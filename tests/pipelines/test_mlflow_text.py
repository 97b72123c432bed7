"""MLflow texts and links: experiment view, run and registry-version descriptions."""

import json

from pipelines import mlflow_text as mt

INFO = {
    "best": {"describe": "skip 2 → model m", "fnr": 0.0123, "fpr": 0.004, "speedup": 3.2551, "cost_ms": 12.5},
    "targets": {"max_fnr": 0.05, "max_fpr": 0.05, "confidence": None},
    "costs": {"reference_ms": 40.7},
    "fell_back": False,
    "reason": None,
}


def test_classic_view_tag_and_links_open_the_training_view():
    tags = mt.classic_view_tags()
    assert tags["mlflow.experimentKind"] == "custom_model_development"
    assert mt.experiment_url("http://127.0.0.1:5000/", "3") == (
        "http://127.0.0.1:5000/#/experiments/3/runs?viewStateShareKey=noscope-headline&workflowType=machine_learning"
    )


def test_the_runs_table_view_the_links_open_has_the_headline_metrics_as_columns():
    """MLflow keeps no default columns per experiment; its shared view (an experiment tag the link names) does."""
    state = json.loads(mt.classic_view_tags()["mlflow.sharedViewState.noscope-headline"])
    assert state["selectedColumns"][0] == "tags.`decision`"
    assert state["selectedColumns"][1:] == [f"metrics.`{m}`" for m in mt.HEADLINE_METRICS]
    assert mt.run_url("http://h", "3", "abc").endswith("/#/experiments/3/runs/abc?workflowType=machine_learning")


def test_compare_url_lists_runs_and_experiments_once():
    url = mt.compare_url("http://h", ["r1", "r2"], ["3", "3"])
    runs = url.split("runs=")[1].split("&")[0]
    assert json.loads(runs) == ["r1", "r2"] and 'experiments=["3"]' in url and " " not in url
    assert url.endswith("&workflowType=machine_learning")


def test_run_description_before_the_test_query_shows_threshold_figures_only():
    text = mt.run_description(mt.CascadeFigures.from_cascade("cam-a", INFO))
    assert text.startswith("**Camera `cam-a`**: expected 3.3× faster than the reference (12.50 ms/frame vs")
    assert "- threshold segment (chosen on): FNR 1.23 %, FPR 0.40 %" in text
    assert "- target (at most): FNR 5.00 %, FPR 5.00 %" in text
    assert "test segment" not in text and "Meets" not in text
    assert "Cascade: skip 2 → model m" in text


def test_run_description_with_test_and_certified_figures_gives_a_verdict():
    test = {"fnr": 0.07, "fpr": 0.01, "speedup": 2.9, "certified_fnr": 0.09, "certified_fpr": 0.03}
    info = {**INFO, "targets": {**INFO["targets"], "confidence": 0.95}}
    f = mt.CascadeFigures.from_cascade("cam-a", info, test)
    text = mt.run_description(f)
    assert "measured 2.9× on the test segment" in text
    assert "- test segment (measured, footage not used to choose): FNR 7.00 %, FPR 1.00 %" in text
    assert "- certified upper bound at 95 % confidence: FNR 9.00 %, FPR 3.00 %" in text
    assert "**Misses the targets on the test segment** (FNR 7.00 %, FPR 1.00 % vs 5.00 % / 5.00 %)." in text
    assert f.meets_on_test() is False
    assert mt.CascadeFigures.from_cascade("c", INFO, {"fnr": 0.01, "fpr": 0.0}).meets_on_test() is True


def test_version_description_says_why_it_did_or_did_not_become_champion():
    f = mt.CascadeFigures.from_cascade("cam-a", INFO)
    moved = mt.version_description(f, True, "first registered cascade for this camera")
    assert moved.startswith("**Became champion**: first registered cascade for this camera.\n\n**Camera `cam-a`**")
    kept = mt.version_description(f, False, "meets the targets but costs 12.5 ms/frame > champion's 9.1", 4)
    assert kept.startswith("**Not champion** (v4 stays champion): meets the targets but costs")


def test_fallback_is_explained():
    info = {**INFO, "fell_back": True, "reason": "labels are all negative"}
    assert "Fell back to the reference on every frame: labels are all negative" in mt.run_description(
        mt.CascadeFigures.from_cascade("c", info)
    )
