"""The guarantees grid's summary, goals and markdown, derived from its measurements only."""

from __future__ import annotations

import statistics

from benchmarks.guarantees_judge import judge, shorten

GROUPS = ("vtest", "synthetic", "long")


def _pct(v: float | None, digits: int = 2) -> str:
    return "n/a" if v is None else f"{100 * v:.{digits}f}%"


def _pair(a: float | None, b: float | None) -> str:
    return "n/a" if a is None and b is None else f"{_pct(a)} / {_pct(b)}"


def _x(v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:,.0f}×" if v >= 100 else f"{v:.1f}×"


def ordered(result: dict) -> list[tuple[str, dict]]:
    """Cases grouped as the grid runs them (default camera, synthetic, long camera), by name within a group."""

    def key(item: tuple[str, dict]) -> tuple:
        group = item[1]["case"]["group"]
        return (GROUPS.index(group) if group in GROUPS else len(GROUPS), item[0])

    return sorted(result.get("cases", {}).items(), key=key)


def _runs(result: dict, rule: str) -> list[tuple[str, dict, dict]]:
    """(name, case, run) of every completed run of ``rule``."""
    out = []
    for name, c in ordered(result):
        run = c.get(rule)
        if run and "error" not in run:
            out.append((name, c["case"], run))
    return out


def summarize(result: dict) -> None:
    """Add ``summary``, ``goals`` and ``not_run`` to the result (derived, never asserted); every run's verdict
    is judged again from its measurements, so a results file always agrees with the rules here."""
    for c in result.get("cases", {}).values():
        for rule in ("guarded", "point"):
            run = c.get(rule)
            if run and "error" not in run:
                run.update(judge(run, c["case"]["max_fnr"], c["case"]["max_fpr"]))
    summary: dict = {}
    for rule in ("guarded", "point"):
        runs = _runs(result, rule)
        summary[rule] = {
            "runs": len(runs),
            "broken_promises": [n for n, _, r in runs if r.get("broken_promise")],
            "claims_met": sum(1 for *_, r in runs if r.get("claims_met")),
            "measured_meets": sum(1 for *_, r in runs if r.get("measured_meets")),
            "fell_back": sum(1 for *_, r in runs if r.get("fell_back")),
            "certified": sum(1 for *_, r in runs if r.get("certified")),
        }
    result["summary"] = summary
    not_run = []
    for name, c in ordered(result):
        if c.get("skipped"):
            not_run.append(f"{name}: {c['skipped']}")
        for rule in ("guarded", "point"):
            if (c.get(rule) or {}).get("error"):
                not_run.append(f"{name} ({rule}): failed: {c[rule]['error']}")
    result["not_run"] = not_run
    goals = []
    g, p = summary["guarded"], summary["point"]
    goals.append(
        {
            "goal": "broken promises with the guarantees (0.95, certified): measured test error beyond a target "
            "while the system claimed it met it",
            "target": "0",
            "measured": f"{len(g['broken_promises'])} of {g['runs']} runs"
            + (f" ({', '.join(g['broken_promises'])})" if g["broken_promises"] else ""),
            "met": (not g["broken_promises"]) if g["runs"] else None,
        }
    )
    goals.append(
        {
            "goal": "for comparison: broken promises under NoScope's point rule (confidence none, no certification)",
            "target": "–",
            "measured": f"{len(p['broken_promises'])} of {p['runs']} runs"
            + (f" ({', '.join(p['broken_promises'])})" if p["broken_promises"] else ""),
            "met": None,
        }
    )
    for group in GROUPS:
        runs = [(n, c, r) for n, c, r in _runs(result, "guarded") if c["group"] == group]
        if not runs:
            continue
        counted = [r["counted_speedup"] for *_, r in runs if r.get("counted_speedup") is not None]
        goals.append(
            {
                "goal": f"{group}: speed-ups that count (measured error within the targets), guarantees on",
                "target": "–",
                "measured": f"{len(counted)} of {len(runs)} cases"
                + (f"; median {_x(statistics.median(counted))}, best {_x(max(counted))}" if counted else ""),
                "met": None,
            }
        )
    long_runs = [
        (n, r) for n, c, r in _runs(result, "guarded") if c["group"] == "long" and c["max_fnr"] <= 0.01 + 1e-12
    ]
    counted = [(r["counted_speedup"], n) for n, r in long_runs if r.get("counted_speedup") is not None]
    best = max(counted) if counted else None
    goals.append(
        {
            "goal": "long real-pixel camera at 1 %/1 %, 0.95: speed-up over the reference, certification included "
            "(counted only when the measured error meets the targets)",
            "target": "≥ 100×",
            "measured": f"{_x(best[0])} ({best[1]})" if best else ("not run" if not long_runs else "none counted"),
            "met": (best[0] >= 100) if best else None,
        }
    )
    result["goals"] = goals


def _claim(run: dict) -> str:
    if run.get("broken_promise"):
        return "**BROKEN**"
    return "claims met" if run.get("claims_met") else "no claim"


def guarded_table(result: dict) -> list[str]:
    lines = [
        "| case | targets | fell back | promised bound FNR / FPR | certified bound FNR / FPR | certify frames "
        "| measured FNR / FPR | speed-up (e2e) | claim |",
        "|---|---:|:-:|---:|---:|---:|---:|---:|:-:|",
    ]
    for name, c in ordered(result):
        case = c["case"]
        target = f"{_pct(case['max_fnr'], 0)} / {_pct(case['max_fpr'], 0)}"
        if c.get("skipped"):
            lines.append(f"| {name} | {target} | not run | | | | | | |")
            continue
        r = c.get("guarded")
        if not r:
            continue
        if "error" in r:
            lines.append(f"| {name} | {target} | failed | | | | | | |")
            continue
        frames = "n/a" if r.get("certify_frames") is None else f"{r['certify_frames']:,}"
        lines.append(
            f"| {name} | {target} | {'yes' if r.get('fell_back') else 'no'} "
            f"| {_pair(r.get('threshold_fnr_bound'), r.get('threshold_fpr_bound'))} "
            f"| {_pair(r.get('fnr_bound'), r.get('fpr_bound'))} | {frames} "
            f"| {_pair(r.get('fnr'), r.get('fpr'))} "
            f"| {_x(r.get('speedup'))} ({_x(r.get('speedup_e2e'))}) | {_claim(r)} |"
        )
    return lines


def point_table(result: dict) -> list[str]:
    lines = [
        "| case | fell back | cascade | threshold FNR / FPR | measured FNR / FPR | speed-up (e2e) | claim |",
        "|---|:-:|---|---:|---:|---:|:-:|",
    ]
    for name, c in ordered(result):
        r = c.get("point")
        if not r:
            continue
        if "error" in r:
            lines.append(f"| {name} | failed | | | | | |")
            continue
        lines.append(
            f"| {name} | {'yes' if r.get('fell_back') else 'no'} | {r.get('cascade') or ''} "
            f"| {_pair(r.get('threshold_fnr'), r.get('threshold_fpr'))} | {_pair(r.get('fnr'), r.get('fpr'))} "
            f"| {_x(r.get('speedup'))} ({_x(r.get('speedup_e2e'))}) | {_claim(r)} |"
        )
    return lines


def reasons(result: dict) -> list[str]:
    out = []
    for name, c in ordered(result):
        r = c.get("guarded") or {}
        if r.get("fell_back") and r.get("fallback_reason"):
            out.append(f"- {name}: fell back: {shorten(r['fallback_reason'])}")
        if r.get("certify_reason") and not r.get("certified"):
            out.append(f"- {name}: certification: {shorten(r['certify_reason'])}")
    return out


def render(result: dict) -> str:
    meta = result.get("meta", {})
    summary = result.get("summary", {})
    g = summary.get("guarded", {})
    engine_certifies = any((c.get("guarded") or {}).get("engine_certifies") for c in result.get("cases", {}).values())
    out = [
        "# Guarantees grid",
        "",
        f"{meta.get('date_utc', '?')} · {meta.get('machine', '?')} · load {meta.get('load_before')} before, "
        f"{meta.get('load_after', '?')} after · models {', '.join(meta.get('models', []))}, "
        f"max {meta.get('max_epochs')} epochs · commit `{meta.get('git_commit', '?')}` · produced by "
        "`python -m benchmarks.guarantees`",
        "",
        *([meta["note"], ""] if meta.get("note") else []),
        "Every case is one `noscope query --evaluate` run (`run_query_command`). **Guarantees**: confidence "
        f"{meta.get('confidence')} — the optimizer accepts a cascade only when the upper bound of its FNR and FPR "
        "on the threshold segment (evidence counted in blocks, `docs/guarantees.md`) meets the targets — and the "
        "answer is certified on the test segment with reference frames. **Point rule**: NoScope's own, "
        "confidence none, no certification. Measured = against the reference's labels of the whole test segment. "
        "A **broken** claim is a measured error beyond a target while the system claimed the targets met (it "
        "claims them when it answers with the reference, when the answer was certified, or — without "
        "certification — when the optimizer's rule accepted the cascade). Speed-up = reference frames/s ÷ cascade "
        "frames/s on the test segment, certification included; e2e: decoding included. A fallback answers with "
        "the reference on every frame: its speed-up is 1× up to timing noise on this shared, loaded machine.",
        "",
    ]
    if not engine_certifies:
        out += [
            "This engine does not certify answers yet (no `certified` field in the query's JSON): certified "
            "bounds and certify frames read n/a, and a guarded claim rests on the optimizer's bound.",
            "",
        ]
    if result.get("goals"):
        out += ["## Goals", "", "| goal | target | measured | met |", "|---|---:|---:|:-:|"]
        for goal in result["goals"]:
            met = "–" if goal["met"] is None else ("yes" if goal["met"] else "**no**")
            out.append(f"| {goal['goal']} | {goal['target']} | {goal['measured']} | {met} |")
        out.append("")
    out += [
        "## With the guarantees",
        "",
        f"{g.get('runs', 0)} runs: {g.get('fell_back', 0)} fell back to the reference, {g.get('certified', 0)} "
        f"certified, {g.get('measured_meets', 0)} measured within the targets, "
        f"{len(g.get('broken_promises', []))} broken promises.",
        "",
        *guarded_table(result),
        "",
        "## NoScope's point rule on the same cases",
        "",
        *point_table(result),
        "",
    ]
    notes = reasons(result)
    if notes:
        out += ["## Why it fell back or could not certify (shortened)", "", *notes, ""]
    if result.get("not_run"):
        out += ["## Not run", "", *[f"- {line}" for line in result["not_run"]], ""]
    return "\n".join(out)
