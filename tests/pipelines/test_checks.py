"""The checks read the promise: the optimizer's bound for the cascade, the certified bound for the answer."""

import dagster as dg

from pipelines import checks

cascade_meets_targets = checks.cascade_meets_targets
# imported under another name: pytest would try to collect a module-level ``test_*`` object
answer_check = checks.test_error_within_targets

TARGETS = {"max_fnr": 0.05, "max_fpr": 0.05, "confidence": 0.95}


def _answer(**test) -> dict:
    base = {"fnr": 0.01, "fpr": 0.0, "fnr_bound": 0.03, "fpr_bound": 0.01, "certified": True, "certify_reason": "ok"}
    return {"test": {**base, **test}, "targets": TARGETS}


def test_a_certified_bound_that_breaks_a_target_is_an_error_even_when_the_measured_error_meets_it():
    check = answer_check(query_results=_answer(fnr_bound=0.2, certified=False, certify_reason="no"))
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert "PROMISE NOT KEPT" in check.description and check.metadata["test_fnr_bound_pct"].value == 20.0


def test_a_kept_promise_passes_and_shows_both_bounds():
    check = answer_check(query_results=_answer())
    assert check.passed
    assert check.metadata["test_fpr_bound_pct"].value == 1.0


def test_without_a_certificate_the_measured_error_is_only_a_warning():
    answer = _answer(fnr=0.2, fnr_bound=None, fpr_bound=None, certified=False, certify_reason="point rule")
    check = answer_check(query_results={**answer, "targets": {**TARGETS, "confidence": None}})
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN


def _cascade(fell_back: bool = False, **best) -> dict:
    base = {"fnr": 0.0, "fpr": 0.0, "speedup": 12.0, "fnr_bound": 0.04, "fpr_bound": 0.02}
    return {"best": {**base, **best}, "targets": TARGETS, "fell_back": fell_back, "reason": "too little footage"}


def test_the_cascade_check_judges_the_optimizers_bound_not_the_measured_rates():
    assert cascade_meets_targets(optimized_cascade=_cascade()).passed
    broken = cascade_meets_targets(optimized_cascade=_cascade(fnr_bound=0.09))  # measured 0 %, bound 9 %
    assert not broken.passed and "block-bound estimate" in broken.description


def test_a_fallback_passes_with_its_reason():
    check = cascade_meets_targets(optimized_cascade=_cascade(fell_back=True, fnr_bound=0.0, fpr_bound=0.0))
    assert check.passed and check.metadata["fallback_reason"].text == "too little footage"


def test_a_cascade_planned_for_certified_answers_is_judged_by_its_estimated_certified_speedup():
    planned = {"expected_speedup_certified": 7.5, "expected_certify_frames": 3_000.0, "footage_frames": 216_000}
    # its block-bound estimate breaks the targets, but the certificate keeps the promise: the cost is what counts
    ok = cascade_meets_targets(optimized_cascade=_cascade(fnr_bound=0.09, **planned))
    assert ok.passed and "estimated certified speed-up 7.5x on 216,000 frames" in ok.description
    slow = cascade_meets_targets(optimized_cascade=_cascade(**{**planned, "expected_speedup_certified": 0.8}))
    assert not slow.passed


def _float_keys(check) -> set[str]:
    return {k for k, v in check.metadata.items() if isinstance(v, (dg.FloatMetadataValue, dg.IntMetadataValue))}


def test_check_pages_plot_only_what_varies_and_show_constants_as_text():
    """Targets and confidence are the camera's, the same every run: text with units, never a flat plot."""
    planned = {"expected_speedup_certified": 7.5, "expected_certify_frames": 2_999.6, "footage_frames": 216_000}
    checks_run = [
        cascade_meets_targets(optimized_cascade=_cascade(**planned)),
        cascade_meets_targets(optimized_cascade=_cascade()),
        answer_check(query_results=_answer()),
        checks.labels_not_degenerate(reference_labels={"positive_rates": {"train": 0.16333333333333333}}),
    ]
    for check in checks_run:
        assert not any(k.startswith("max_") or "confidence" in k for k in check.metadata), check.metadata
        for key in _float_keys(check):
            assert key.endswith(("_pct", "_x", "_frames")), key
    targets = checks_run[0].metadata["targets"]
    assert isinstance(targets, dg.TextMetadataValue) and targets.text == "FNR ≤ 5.00 %, FPR ≤ 5.00 % at 95 % confidence"
    assert checks_run[0].metadata["footage"].text == "216,000 frames (declared for the camera)"
    assert checks_run[0].metadata["estimated_certify_frames"].value == 3_000
    assert checks_run[3].metadata["positive_rate_train_pct"].value == 16.33  # rounded, in percent
    assert _float_keys(checks_run[1]) == {
        "threshold_fnr_pct", "threshold_fpr_pct", "speedup_x", "fnr_estimate_pct", "fpr_estimate_pct"
    }  # fmt: skip
