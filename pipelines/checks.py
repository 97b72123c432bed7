"""Asset checks: are the labels usable, does the chosen cascade meet its targets, does it hold up on held-out frames.

The checks read only the small manifests the assets hand on (rates, claimed and measured errors), never frames.
Their metadata follows the assets' convention (``pipelines.metadata``): what varies from run to run is a typed,
rounded figure with its unit in the key (``*_pct``, ``*_x``), which the check page plots; what is constant for a
camera (its targets, confidence, declared footage) is text, since a plot of it would be a flat line.
"""

import warnings

import dagster as dg

from pipelines import metadata as md
from pipelines.metadata import pct_text
from pipelines.partitions import cameras_partitions

# Per-camera check results need partitioned checks, a preview feature in Dagster 1.13; the warning says only that.
warnings.filterwarnings(
    "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning
)


@dg.asset_check(asset="reference_labels", partitions_def=cameras_partitions)
def labels_not_degenerate(reference_labels: dict) -> dg.AssetCheckResult:
    """The object must come and go in the train and threshold segments, else no cheap model can learn it.

    Not blocking: the downstream assets then fall back to the reference and say why.
    """
    rates = reference_labels["positive_rates"]
    bad = {seg: rate for seg in ("train", "threshold") if (rate := rates.get(seg)) is not None and rate in (0.0, 1.0)}
    meta = {f"positive_rate_{k}_pct": md.pct(v) for k, v in rates.items()}
    if not bad:
        return dg.AssetCheckResult(passed=True, metadata=meta)
    seg, rate = next(iter(bad.items()))
    what = "present in every" if rate == 1.0 else "absent from every"
    return dg.AssetCheckResult(
        passed=False,
        metadata=meta,
        description=(
            f"The reference finds {reference_labels['query_text']} {what} frame of the {seg} segment, so no cheap "
            "model can be trained. Change the query (object class) or its region of interest (roi in "
            "cameras.yaml) so that the object comes and goes."
        ),
    )


@dg.asset_check(asset="optimized_cascade", blocking=True, partitions_def=cameras_partitions)
def cascade_meets_targets(optimized_cascade: dict) -> dg.AssetCheckResult:
    """The chosen cascade must be worth running under the rule it was chosen by.

    Certified (the default): its answers carry a certificate, so what is judged is the cost: the ESTIMATED
    certified speed-up (its own cost plus the certificate's expected reference frames) for the declared footage
    must exceed 1. Certification off: its block-bound estimates (jointly at the confidence, uncorrected for the
    selection) must meet the targets; NoScope's point rule: the threshold-segment rates. Blocking: a cascade
    that fails is not run on the test segment. A fallback to the reference keeps the targets exactly: it passes,
    with the reason (the user gets no speed-up) in the description.
    """
    best, targets = optimized_cascade["best"], optimized_cascade["targets"]
    meta = {
        "targets": md.targets_text(targets),
        "threshold_fnr_pct": md.pct(best["fnr"]),
        "threshold_fpr_pct": md.pct(best["fpr"]),
        "speedup_x": md.times(best["speedup"]),
    }
    if best.get("fnr_bound") is not None:
        meta["fnr_estimate_pct"] = md.pct(best["fnr_bound"])
        meta["fpr_estimate_pct"] = md.pct(best["fpr_bound"])
    if optimized_cascade["fell_back"]:
        meta["fallback_reason"] = dg.MetadataValue.text(str(optimized_cascade["reason"]))
        return dg.AssetCheckResult(
            passed=True,
            metadata=meta,
            description=(
                "No cheaper cascade: the reference runs on every frame (exact, no speed-up). "
                f"Reason: {optimized_cascade['reason']}"
            ),
        )
    if best.get("expected_speedup_certified") is not None:
        speedup, frames = best["expected_speedup_certified"], best["footage_frames"]
        meta["estimated_certified_speedup_x"] = md.times(speedup)
        meta["estimated_certify_frames"] = md.count(round(best["expected_certify_frames"]))
        meta["footage"] = dg.MetadataValue.text(f"{int(frames):,} frames (declared for the camera)")
        return dg.AssetCheckResult(
            passed=speedup > 1.0,
            metadata=meta,
            description=(
                f"estimated certified speed-up {speedup:.3g}x on {frames:,} frames of footage (the certificate is "
                f"expected to check about {best['expected_certify_frames']:,.0f} frames); each answer's "
                "certificate makes the promise"
            ),
        )
    fnr, fpr, what = _promised(best, targets)
    ok = fnr <= targets["max_fnr"] and fpr <= targets["max_fpr"]
    return dg.AssetCheckResult(
        passed=ok,
        metadata=meta,
        description=(
            f"{what} FNR {pct_text(fnr)} / FPR {pct_text(fpr)} vs targets {pct_text(targets['max_fnr'])} / {pct_text(targets['max_fpr'])}"
        ),
    )


def _promised(best: dict, targets: dict) -> tuple[float, float, str]:
    """What the optimizer's rule judged: its block-bound estimates at the confidence, or the point rule's rates."""
    if targets.get("confidence") is not None and best.get("fnr_bound") is not None:
        conf = targets["confidence"]
        return best["fnr_bound"], best["fpr_bound"], f"block-bound estimate (both rates at {conf:g}, uncorrected)"
    return best["fnr"], best["fpr"], "threshold-segment (point rule)"


@dg.asset_check(asset="query_results", partitions_def=cameras_partitions)
def test_error_within_targets(query_results: dict) -> dg.AssetCheckResult:
    """The answer's promise on the held-out test segment: its certified bounds against the targets.

    ERROR when a certified bound breaks a target (the promise is not kept, and the user must not trust the
    answer silently). Without a certificate (confidence none: NoScope's point rule) the measured error is
    compared instead, a WARN when exceeded, because nothing was promised.
    """
    test, targets = query_results["test"], query_results["targets"]
    fnr, fpr = test["fnr"], test["fpr"]
    meta = {"targets": md.targets_text(targets), "test_fnr_pct": md.pct(fnr), "test_fpr_pct": md.pct(fpr)}
    limits = f"targets {pct_text(targets['max_fnr'])} / {pct_text(targets['max_fpr'])}"
    if test.get("fnr_bound") is not None:
        meta["test_fnr_bound_pct"] = md.pct(test["fnr_bound"])
        meta["test_fpr_bound_pct"] = md.pct(test["fpr_bound"])
        ok = bool(test.get("certified"))
        text = (
            f"certified bound FNR {pct_text(test['fnr_bound'])} / FPR {pct_text(test['fpr_bound'])} (measured "
            f"{pct_text(fnr)} / {pct_text(fpr)}) vs {limits}: {test.get('certify_reason')}"
        )
        if not ok:
            text = "PROMISE NOT KEPT -- " + text
        return dg.AssetCheckResult(passed=ok, severity=dg.AssetCheckSeverity.ERROR, metadata=meta, description=text)
    text = f"test-segment FNR {pct_text(fnr)} / FPR {pct_text(fpr)} vs {limits} (not certified: {test.get('certify_reason')})"
    ok = fnr <= targets["max_fnr"] and fpr <= targets["max_fpr"]
    if not ok:
        text += " -- held-out error exceeds the target the cascade was chosen for; consider a longer threshold segment"
    return dg.AssetCheckResult(passed=ok, severity=dg.AssetCheckSeverity.WARN, metadata=meta, description=text)


CHECKS = [labels_not_degenerate, cascade_meets_targets, test_error_within_targets]
