"""Asset checks: are the labels usable, does the chosen cascade meet its targets, does it hold up on held-out frames.

The checks read only the small manifests the assets hand on (rates, claimed and measured errors), never frames.
"""

import warnings

import dagster as dg

from pipelines.partitions import cameras_partitions

# Per-camera check results need partitioned checks, a preview feature in Dagster 1.13; the warning says only that.
warnings.filterwarnings(
    "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning
)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


@dg.asset_check(asset="reference_labels", partitions_def=cameras_partitions)
def labels_not_degenerate(reference_labels: dict) -> dg.AssetCheckResult:
    """The object must come and go in the train and threshold segments, else no cheap model can learn it.

    Not blocking: the downstream assets then fall back to the reference and say why.
    """
    rates = reference_labels["positive_rates"]
    bad = {seg: rate for seg in ("train", "threshold") if (rate := rates.get(seg)) is not None and rate in (0.0, 1.0)}
    meta = {f"positive_rate_{k}": dg.MetadataValue.float(float(v)) for k, v in rates.items()}
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
    """The cascade's claimed FNR/FPR on the threshold segment must be within the camera's targets.

    Blocking: a cascade that misses its targets is not run on the test segment. A fallback to the reference
    meets them trivially; that is a WARN, with the reason, because the user gets no speed-up.
    """
    best, targets = optimized_cascade["best"], optimized_cascade["targets"]
    meta = {
        "threshold_fnr": dg.MetadataValue.float(best["fnr"]),
        "threshold_fpr": dg.MetadataValue.float(best["fpr"]),
        "max_fnr": dg.MetadataValue.float(targets["max_fnr"]),
        "max_fpr": dg.MetadataValue.float(targets["max_fpr"]),
        "speedup": dg.MetadataValue.float(best["speedup"]),
    }
    if optimized_cascade["fell_back"]:
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            metadata=meta,
            description=(
                "No cheaper cascade: the reference runs on every frame (meets the targets trivially, no speed-up). "
                f"Reason: {optimized_cascade['reason']}"
            ),
        )
    ok = best["fnr"] <= targets["max_fnr"] and best["fpr"] <= targets["max_fpr"]
    return dg.AssetCheckResult(
        passed=ok,
        metadata=meta,
        description=(
            f"threshold-segment FNR {_pct(best['fnr'])} / FPR {_pct(best['fpr'])} vs targets "
            f"{_pct(targets['max_fnr'])} / {_pct(targets['max_fpr'])}"
        ),
    )


@dg.asset_check(asset="query_results", partitions_def=cameras_partitions)
def test_error_within_targets(query_results: dict) -> dg.AssetCheckResult:
    """Measured FNR/FPR on the held-out test segment against the targets.

    WARN when exceeded: held-out error can exceed the threshold-segment error the optimizer saw, and the user
    must see that before trusting the cascade's answers.
    """
    test, targets = query_results["test"], query_results["targets"]
    fnr, fpr = test["fnr"], test["fpr"]
    meta = {
        "test_fnr": dg.MetadataValue.float(fnr),
        "test_fpr": dg.MetadataValue.float(fpr),
        "max_fnr": dg.MetadataValue.float(targets["max_fnr"]),
        "max_fpr": dg.MetadataValue.float(targets["max_fpr"]),
    }
    text = (
        f"test-segment FNR {_pct(fnr)} / FPR {_pct(fpr)} vs targets "
        f"{_pct(targets['max_fnr'])} / {_pct(targets['max_fpr'])}"
    )
    ok = fnr <= targets["max_fnr"] and fpr <= targets["max_fpr"]
    if not ok:
        text += " -- held-out error exceeds the target the cascade was chosen for; consider a longer threshold segment"
    return dg.AssetCheckResult(passed=ok, severity=dg.AssetCheckSeverity.WARN, metadata=meta, description=text)


CHECKS = [labels_not_degenerate, cascade_meets_targets, test_error_within_targets]
