"""Render a benchmark result (the JSON written by ``benchmarks.run``) as a markdown report."""

from __future__ import annotations

from typing import Any

from noscope_core.present.units import pct, times


def _f(x: Any, digits: int = 1, suffix: str = "") -> str:
    if x is None:
        return "–"
    if isinstance(x, float) and x == float("inf"):
        return "∞"
    if isinstance(x, (int, float)):
        if abs(x) >= 10_000:
            return f"{x:,.0f}{suffix}"
        return f"{x:,.{digits}f}{suffix}"
    return str(x)


def ranges_text(ranges) -> str:
    """``[[0, 398], [500, 600]]`` (half-open) as ``0-397, 500-599``; a bare ``[a, b]`` is one range."""
    if ranges and isinstance(ranges[0], int):
        ranges = [ranges]
    return ", ".join(f"{a}-{b - 1}" for a, b in ranges)


def _pct(x: float | None) -> str:
    return pct(x, missing="–")


def _x(x: float | None) -> str:
    return times(x, missing="–")


def methods_table(cam: dict) -> list[str]:
    rows = cam["methods"]["rows"]
    priced = rows[0].get("reference_priced") == "measured" and "speedup_priced" in rows[0]
    # the cascade's answers certified (benchmarks.methods): its bounds, what they cost, its error before correction
    certified = any(r.get("certified") is not None for r in rows)
    head = (
        "| method | fitted setting | frames/s, decode excluded | frames/s, decode included | speed-up (excl.) "
        "| speed-up (incl.) |"
        + (" speed-up, reference priced |" if priced else "")
        + " FNR | FPR | meets targets | sent to reference |"
        + (" certified | bound FNR / FPR | certificate frames (drawn + tightened) | FNR / FPR uncorrected |"
           if certified else "")
    )  # fmt: skip
    lines = [
        head,
        "|---|---|---:|---:|---:|---:|"
        + ("---:|" if priced else "")
        + "---:|---:|:-:|---:|"
        + (":-:|---:|---:|---:|" if certified else ""),
    ]
    for r in rows:
        line = (
            f"| {r['label']} | {r['describe']} | {_f(r['fps'])} | {_f(r['fps_e2e'])} | {_x(r['speedup'])} "
            f"| {_x(r['speedup_e2e'])} |"
            + (f" {_x(r['speedup_priced'])} |" if priced else "")
            + f" {_pct(r['fnr'])} | {_pct(r['fpr'])} "
            f"| {'yes' if r['meets_targets'] else '**no**'} | {_pct(r['reference_fraction'])} |"
        )
        if certified:
            if r.get("certified") is None:
                line += " – | – | – | – |"
            else:
                line += (
                    f" {'yes' if r['certified'] else '**no**'} | {_pct(r['fnr_bound'])} / {_pct(r['fpr_bound'])} "
                    f"| {r['certify_frames']:,} + {r['tighten_frames']:,} "
                    f"| {_pct(r['uncertified_fnr'])} / {_pct(r['uncertified_fpr'])} |"
                )
        lines.append(line)
    return lines


def limits_table(cam: dict) -> list[str]:
    lim = cam.get("limits")
    if not lim:
        return []
    casc = next(r for r in cam["methods"]["rows"] if r["method"] == "cascade")
    lines = [
        f"Decode limits over {lim['frames']:,} frames from frame {lim['start']:,} (one reader, positioning not timed):",
        "",
        "| pass | frames/s |",
        "|---|---:|",
        f"| grab only (decode, no colour conversion: what a skipped frame costs) | {_f(lim['grab_fps'])} |",
        f"| decode only (grab + retrieve: the floor of an end-to-end query) | {_f(lim['decode_fps'])} |",
        f"| decode + resize to 50×50 (cv2 INTER_AREA) | {_f(lim['decode_resize_fps'])} |",
        f"| decode + the engine's preprocess to the cascade's view | {_f(lim['decode_prep_fps'])} |",
        f"| the engine's reading path (its reader decoding and shrinking in its own thread, as `run_video`) "
        f"| {_f(lim.get('decode_prep_threaded_fps'))} |",
        f"| cascade end to end (streaming, the whole test segment, in the methods run) | {_f(casc['fps_e2e'])} |",
        f"| cascade end to end with the reference's time taken out (its own stages' ceiling) "
        f"| {_f(lim.get('cascade_e2e_without_reference_fps'))} |",
    ]
    if "paired_ratios" in lim:
        ratios = ", ".join(_pct(r) for r in lim["paired_ratios"])
        lines += [
            f"| decode only, in pairs with the cascade (median) | {_f(lim['paired_decode_fps'])} |",
            f"| cascade end to end over the same frames, right after each decode pass (median) "
            f"| {_f(lim['paired_cascade_e2e_fps'])} |",
            f"| **cascade end to end ÷ decode only, per pair (median of {ratios})** "
            f"| **{_pct(lim['cascade_e2e_over_decode'])}** |",
        ]
    else:  # results written before the paired measurement
        lines.append(f"| **cascade end to end ÷ decode only** | **{_pct(lim.get('cascade_e2e_over_decode'))}** |")
    return lines


def micro_table(cam: dict) -> list[str]:
    mic = cam.get("stages")
    if not mic:
        return []
    lines = [f"Stage micro-benchmarks on {mic['frames']:,} small frames of the test segment (median of 3):", ""]
    if mic["dd"]:
        lines += ["| difference detector | compares with | batch | threads | frames/s |", "|---|---|---:|---:|---:|"]
        for d in mic["dd"]:
            lines.append(f"| {d['name']} | {d['kind']} | {d['batch']} | {d['threads']} | {_f(d['fps'], 0)} |")
        lines.append("")
    if mic["models"]:
        lines += ["| specialized model | batch | threads | frames/s |", "|---|---:|---:|---:|"]
        for m in mic["models"]:
            lines.append(f"| {m['name']} | {m['batch']} | {m['threads']} | {_f(m['fps'], 0)} |")
        lines.append("")
    ref = mic.get("reference") or {}
    if ref.get("basis") == "declared":
        lines.append(f"Reference {ref['name']}: declared {_f(ref['fps'])} frames/s (not run).")
    elif ref:
        per = ", ".join(f"{t['threads']} thread(s) {_f(t['fps'])} frames/s" for t in ref["by_threads"])
        lines.append(f"Reference {ref['name']} on {ref['frames']} full frames: {per}.")
    return lines


def memory_table(mem: dict | None) -> list[str]:
    if not mem:
        return []
    lines = [
        f"Peak resident memory (VmHWM, fresh process per measurement), {mem['camera']} camera; "
        f"a process that only imports the libraries peaks at {_f(mem['imports'].get('peak_rss_mib'), 0)} MiB.",
        "",
        "| measurement | frames | peak RSS MiB | final anonymous MiB | final file-backed MiB | seconds |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind in ("decode", "query"):
        for r in mem[kind]:
            if "error" in r:
                lines.append(f"| {kind} | {r['requested_frames']:,} | failed: {r['error']} | | | |")
                continue
            lines.append(
                f"| {'decode into frame store' if kind == 'decode' else 'stream the cascade over the video'} "
                f"| {r['frames']:,} | {_f(r['peak_rss_mib'], 0)} | {_f(r['final_rss_anon_mib'], 0)} "
                f"| {_f(r['final_rss_file_mib'], 0)} | {_f(r['seconds'])} |"
            )
    return lines


def goals_table(goals: list[dict]) -> list[str]:
    if not goals:
        return []
    lines = ["| goal | target | measured | met |", "|---|---:|---:|:-:|"]
    for g in goals:
        met = "–" if g["met"] is None else ("yes" if g["met"] else "**no**")
        lines.append(f"| {g['goal']} | {g['target']} | {g['measured']} | {met} |")
    return lines


def render(result: dict) -> str:
    meta = result["meta"]
    out = [
        f"# Benchmark `{meta['name']}`",
        "",
        f"{meta['date_utc']} · commit `{meta.get('git_commit', '?')}` · {meta['machine']} · "
        f"load average {meta['load_before']} before, {meta.get('load_after', '?')} after · "
        f"wall time {_f(result.get('wall_seconds'), 0)} s",
        "",
        *(
            [f"Measured with uncommitted changes in: {', '.join(meta['uncommitted_files'])}.", ""]
            if meta.get("uncommitted_files")
            else []
        ),
        f"Targets: FNR ≤ {_pct(meta['max_fnr'])}, FPR ≤ {_pct(meta['max_fpr'])} against the reference's labels of "
        "the test segment. All methods ran in this one process on this one machine, which is shared and noisy: "
        "compare ratios, not absolute frames/s.",
        "",
    ]
    if result.get("goals"):
        out += ["## Goals", "", *goals_table(result["goals"]), ""]
    for cam in result["cameras"].values():
        c = cam["camera"]
        out += [f"## Camera `{c['name']}`", "", c["description"], ""]
        if cam.get("skipped"):
            out += [f"Skipped: {cam['skipped']}", ""]
            continue
        s = cam["methods"]["summary"]
        seg = cam["prepare"]["notes"]["segments"]
        ref = s["reference_cost"]
        out += [
            f"Segments (frames, {seg.get('blocks', 1)} block(s)): train {ranges_text(seg['train'])}, "
            f"threshold {ranges_text(seg['threshold'])}, test {ranges_text(seg['test'])}. "
            f"Positive rate: "
            + ", ".join(f"{k} {_pct(v)}" for k, v in cam["prepare"]["notes"]["positive_rates"].items())
            + ".",
            "",
            f"Reference cost: {_f(ref['ms_per_frame'])} ms/frame ({ref['basis']}"
            + (f" on {ref['frames']} test frames" if ref["basis"] == "measured" else ", priced as calls × cost")
            + f"); the naive run measured {_f(s['naive_reference_ms_per_frame'])} ms/frame of reference time."
            if ref["basis"] == "measured"
            else f"Reference cost: declared {_f(ref['ms_per_frame'])} ms/frame; every method's reference time is "
            "its reference calls × that cost (the ground-truth lookup itself takes microseconds).",
            "",
            *methods_table(cam),
            "",
            "Decode excluded = wall time of the run less the time spent waiting for the decoder; decode included "
            "= whole wall time. Every streaming method decodes through the engine's prefetching decoder (a batch "
            "ahead, in its own thread), so decoding overlaps the other stages and slows them only through the "
            "shared cores."
            + (
                " Reference priced = the same runs with every reference call charged the naive run's "
                f"{_f(s['naive_reference_ms_per_frame'])} ms, which takes the detector's run-to-run drift on this "
                "shared machine out of the ratio."
                if ref["basis"] == "measured"
                else ""
            )
            + f" The one-off {_f(1000 * s['positioning_seconds'], 0)} ms to position the decoder at the "
            "test segment's first frame is subtracted from every streaming run. The frame-store row is NoScope's "
            "own measure: small frames read from the memory-mapped store, full frames fetched for the reference "
            "not counted.",
            "",
        ]
        if s["best_baseline"]:
            out.append(
                f"Cascade vs the best baseline meeting the targets ({s['best_baseline']}): "
                f"{_x(s['cascade_over_best_baseline'])} decode excluded, "
                f"{_x(s['cascade_over_best_baseline_e2e'])} decode included."
            )
        else:
            out.append("No baseline met the targets on the test segment.")
        out.append("")
        prep = cam["prepare"]["seconds"]
        out += [
            "Preparation (seconds): "
            + ", ".join(f"{k} {_f(v)}" for k, v in prep.items())
            + f"; frame store {'reused' if cam['prepare']['notes']['store_reused'] else 'built this run'}"
            + (f"; video written this run in {_f(c['generate_seconds'])} s" if c.get("generate_seconds") else "")
            + ".",
            "",
        ]
        for part in (limits_table(cam), micro_table(cam)):
            if part:
                out += [*part, ""]
    if result.get("memory"):
        out += ["## Memory", "", *memory_table(result["memory"]), ""]
    if result.get("bottlenecks"):
        out += ["## Where the time goes", "", *[f"- {b}" for b in result["bottlenecks"]], ""]
    return "\n".join(out)
