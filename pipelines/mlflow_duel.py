"""A nightly duel in the model registry: the challenger's version says which cascade won on the judged day and why,
with the numbers, and the ``champion`` alias follows the duel's verdict.

The verdict itself is the engine's (``noscope_core.flows.challenger.judge``); this module only writes it down.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipelines.champion import CHAMPION


def duel_description(duel: Mapping[str, Any], version: int, champion_version: int | None) -> str:
    """Markdown for the challenger's version page: the verdict first, then both answers side by side."""
    verdict, window = duel["verdict"], duel.get("window") or {}
    champ = f"v{champion_version}" if champion_version else "the champion"
    if verdict["moved"]:
        head = f"**Challenger of {window.get('judged_day', '?')} won: v{version} is champion** (was {champ})."
    else:
        head = f"**Champion {champ} kept**: the challenger of {window.get('judged_day', '?')} (v{version}) lost."
    a, b = duel["champion"], duel["challenger"]
    ref_ms = float(verdict["reference_ms"])

    def row(name: str, fmt, key) -> str:
        return f"| {name} | {fmt(a, key)} | {fmt(b, key)} |"

    def num(d, k):
        return f"{d[k]}"

    def pct(d, k):
        return "n/a" if d[k] is None else f"{100 * float(d[k]):.2f} %"

    def ms(_d, k):
        return f"{float(verdict[k]):.2f}"

    lines = [
        head,
        "",
        f"Why: {verdict['reason']}.",
        "",
        f"Both answered the same files ({', '.join(duel['videos'])}), certified with one seed "
        f"({duel['certify_seed']}); each reference frame priced at {ref_ms:.2f} ms for both.",
        "",
        f"| | champion ({champ}) | challenger (v{version}) |",
        "|---|---|---|",
        row("cascade", lambda d, k: d[k], "cascade"),
        f"| certified cost (ms/frame) | {ms(None, 'champion_ms_per_frame')} | {ms(None, 'challenger_ms_per_frame')} |",
        row("frames answered", num, "frames"),
        row("reference frames (routed + drawn + tightened)", num, "reference_frames"),
        row("routed by the cascade", num, "reference_calls"),
        row("drawn by certification", num, "certify_frames"),
        row("tightened", num, "tighten_frames"),
        row("FNR bound", pct, "fnr_bound"),
        row("FPR bound", pct, "fpr_bound"),
        row("promise held", lambda d, k: "yes" if d[k] else "no", "promise_held"),
        row("charged cost as measured (ms/frame)", lambda d, k: f"{float(d[k]):.2f}", "charged_ms_per_frame"),
        "",
        f"Trained on: {window.get('describe', 'n/a')}.",
    ]
    return "\n".join(lines) + "\n"


def record_duel(client, name: str, version: int, duel: Mapping[str, Any], champion_version: int | None) -> None:
    """Tags, description and (when the challenger won) the ``champion`` alias of the challenger's version."""
    verdict = duel["verdict"]
    tags = {
        "nightly_duel": "won" if verdict["moved"] else "lost",
        "champion_moved": str(bool(verdict["moved"])).lower(),
        "champion_decision": verdict["reason"],
        "judged_day": (duel.get("window") or {}).get("judged_day", ""),
        "duel_champion_ms_per_frame": repr(float(verdict["champion_ms_per_frame"])),
        "duel_challenger_ms_per_frame": repr(float(verdict["challenger_ms_per_frame"])),
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, value)
    if verdict["moved"]:
        client.set_registered_model_alias(name, CHAMPION, str(version))
    client.update_model_version(name, str(version), description=duel_description(duel, version, champion_version))
