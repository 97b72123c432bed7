"""The champion rule judges a cascade planned for certified answers by its certified answer and its cost."""

from pipelines.champion import CascadeSummary, HeldOut, champion_decision

BASE = {"query_key": "q", "reference_identity": "ssd", "max_fnr": 0.01, "max_fpr": 0.01}


def _summary(cost_ms: float, **kw) -> CascadeSummary:
    return CascadeSummary(fnr=kw.pop("fnr", 0.02), fpr=0.0, cost_ms=cost_ms, **{**BASE, **kw})


def test_a_certified_plan_is_not_held_to_the_threshold_segment_bound_but_to_its_certified_answer():
    champion = _summary(5.0, fnr=0.0, fnr_bound=0.005, fpr_bound=0.005)
    # threshold FNR 2 % and a block-bound estimate of 9 %: the bound rule would refuse it
    new = _summary(2.0, fnr_bound=0.09, fpr_bound=0.01, certified_plan=True)
    moved, reason = champion_decision(new, champion)
    assert moved and "meets the targets at" in reason
    bound_rule = _summary(2.0, fnr_bound=0.09, fpr_bound=0.01)
    assert not champion_decision(bound_rule, champion)[0]
    # its certified answer broke the promise: never champion
    broken = new.with_held_out(HeldOut(0.02, 0.0, fnr_bound=0.03, fpr_bound=0.0, certified=False))
    moved, reason = champion_decision(broken, champion)
    assert not moved and "broke its promise" in reason


def test_the_version_tags_read_back_the_plan_rule_and_the_certified_cost():
    """The registry writes ``to_tags``; a certified plan read back from them is still judged as one."""
    for plan in (
        _summary(2.0, certified_plan=True, expected_certified_cost_ms=3.5, reference_ms=80.0),
        _summary(2.0, fnr_bound=0.004, fpr_bound=0.003),
    ):
        back = CascadeSummary.from_tags(plan.to_tags())
        assert back is not None
        assert back.certified_plan == plan.certified_plan
        assert back.expected_certified_cost_ms == plan.expected_certified_cost_ms
        assert (back.fnr_bound, back.fpr_bound, back.reference_ms) == (
            plan.fnr_bound,
            plan.fpr_bound,
            plan.reference_ms,
        )
