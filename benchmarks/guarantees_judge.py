"""What one run of the guarantees grid claimed, what was measured, and whether a promise broke (pure functions).

A run *claims* the targets are met when it answers with the reference on every frame (exact by construction),
when its answer was certified on its own footage, or — where no certificate was made — when the optimizer's
rule accepted the cascade (its upper bound at the confidence, or NoScope's point estimate under the point
rule). A **broken promise** is a claim whose measured test error breaks a target. A speed-up counts toward a
goal only when the measured error meets the targets and, where the answer was certified, its certificate held.
"""

from __future__ import annotations

#: fields read from ``QueryCommandResult.to_dict()``; any of them may be missing (older engine): read as None
RUN_FIELDS = (
    "confidence",
    "fnr_bound",
    "fpr_bound",
    "threshold_fnr_bound",
    "threshold_fpr_bound",
    "certified",
    "certify_frames",
    "certify_reason",
    "fell_back",
    "fallback_reason",
    "fnr",
    "fpr",
    "speedup",
    "speedup_e2e",
    "reference_call_fraction",
    "frames_test",
    "wall_seconds",
)
REASON_CHARS = 320


def extract(data: dict) -> dict:
    """The grid's fields of one query's JSON, defensively: an engine without certification leaves them None."""
    out = {k: data.get(k) for k in RUN_FIELDS}
    cascade = data.get("cascade") or {}
    out["cascade"] = cascade.get("describe")
    out["threshold_fnr"] = cascade.get("fnr")  # the point estimates on the threshold segment
    out["threshold_fpr"] = cascade.get("fpr")
    # before the query reported the optimizer's bounds at top level, they lived on the chosen candidate
    if out["threshold_fnr_bound"] is None:
        out["threshold_fnr_bound"] = cascade.get("fnr_bound")
    if out["threshold_fpr_bound"] is None:
        out["threshold_fpr_bound"] = cascade.get("fpr_bound")
    if out["confidence"] is None:
        out["confidence"] = (data.get("targets") or {}).get("confidence")
    return out


def shorten(text: str | None, limit: int = REASON_CHARS) -> str | None:
    """One line of at most ``limit`` characters; a long reason keeps its head and its tail (where the engine
    says what would help, e.g. how much more footage to label)."""
    if not text:
        return text
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    head = text[: int(limit * 0.45)].rsplit(" ", 1)[0]  # whole words at both ends
    tail = text[-(limit - len(head) - 3) :].split(" ", 1)[-1]
    return f"{head} … {tail}"


def meets(fnr: float | None, fpr: float | None, max_fnr: float, max_fpr: float) -> bool | None:
    """Whether measured rates meet the targets; None when not measured."""
    if fnr is None or fpr is None:
        return None
    return fnr <= max_fnr and fpr <= max_fpr


def claim(run: dict, max_fnr: float, max_fpr: float) -> tuple[bool, str]:
    """(claims the targets are met, on what basis) for one extracted run."""
    if run.get("fell_back"):
        return True, "reference on every frame"
    # a certificate exists when its bounds do (``certified`` alone reads False also where none was attempted)
    if run.get("fnr_bound") is not None and run.get("fpr_bound") is not None:
        return bool(run.get("certified")), "certified on the answer" if run.get("certified") else "not certified"
    if run.get("confidence") is not None:
        fnr_b, fpr_b = run.get("threshold_fnr_bound"), run.get("threshold_fpr_bound")
        ok = fnr_b is not None and fpr_b is not None and fnr_b <= max_fnr and fpr_b <= max_fpr
        return ok, "optimizer's bound" if ok else "optimizer's bound above target"
    return True, "point rule"  # NoScope's rule: the threshold segment's error met the targets, so it claims them


def _uncertified(run: dict) -> bool:
    """A certificate was made (its bounds exist) and it did not certify the targets."""
    has_certificate = run.get("fnr_bound") is not None and run.get("fpr_bound") is not None
    return has_certificate and not run.get("certified")


def judge(run: dict, max_fnr: float, max_fpr: float) -> dict:
    """The verdict fields of one extracted run: claim, measured, broken promise, counted speed-up."""
    claimed, basis = claim(run, max_fnr, max_fpr)
    measured_ok = meets(run.get("fnr"), run.get("fpr"), max_fnr, max_fpr)
    return {
        "claims_met": claimed,
        "claim_basis": basis,
        "measured_meets": measured_ok,
        "broken_promise": bool(claimed and measured_ok is False),
        # a speed-up bought with errors beyond the targets is no speed-up at those targets, nor is one whose
        # answer was certified and failed its certificate (the user was told the promise was not kept)
        "counted_speedup": run.get("speedup") if measured_ok and not _uncertified(run) else None,
    }
