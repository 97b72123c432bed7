"""The decodings a camera may offer the optimizer, by name: checked here, priced in ``video.reading_costs``."""

from __future__ import annotations

from collections.abc import Iterable

from noscope_core.common.errors import QueryError

#: decoding settings a camera may offer the optimizer, by the suffix they add to a view's name ("" = exact)
DECODINGS = ("", "lr1", "lr2", "lr3", "nlf", "lr1-nlf", "lr2-nlf", "lr3-nlf")


def parse_decodings(names: Iterable[str]) -> tuple[str, ...]:
    """Checked decoding names (e.g. ``("lr2", "nlf")``); the exact decoding ``""`` always comes first."""
    out = [""]
    for name in names:
        name = str(name).strip().lower()
        if name in ("exact", "default"):
            name = ""
        if name not in DECODINGS:
            raise QueryError(
                f"unknown decoding {name!r}",
                f"choose among {', '.join(d or 'exact' for d in DECODINGS)} (lrN: reduced resolution, nlf: no loop filter)",
            )
        if name not in out:
            out.append(name)
    return tuple(out)
