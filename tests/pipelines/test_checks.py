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
    assert "PROMISE NOT KEPT" in check.description and check.metadata["test_fnr_bound"].value == 0.2


def test_a_kept_promise_passes_and_shows_both_bounds():
    check = answer_check(query_results=_answer())
    assert check.passed
    assert check.metadata["test_fpr_bound"].value == 0.01


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
