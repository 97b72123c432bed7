"""Which day a footage file belongs to, and whether it is ready to be answered (no NoScope algorithm here).

A file's day is the first ``YYYY-MM-DD`` in its name (recorders name files by their start: ``2026-01-04T10.mp4``,
``cam3_2026-01-04.avi``), else the UTC date of its last modification. A file is answered only once it has
stopped changing: its size and modification time unchanged for ``settle_s`` seconds (a recorder still writing an
MP4 has no ``moov`` atom yet, and no reader can open it), and hidden files (``.name.mp4``: copy tools' temporaries)
are never footage.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")

#: a file modified more recently than this is taken to be still being written
SETTLE_SECONDS = float(os.environ.get("NOSCOPE_FOOTAGE_SETTLE_S", "5"))


def footage_day(path: str | Path) -> str:
    """``YYYY-MM-DD``: the date in the file's name, else its modification date (UTC)."""
    path = Path(path)
    for m in _DAY.finditer(path.name):
        try:
            return date(int(m[1]), int(m[2]), int(m[3])).isoformat()
        except ValueError:
            continue  # 2026-13-40 is not a date: look further, then fall back to the file's time
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).date().isoformat()


@dataclass(frozen=True)
class FootageFile:
    """A footage file as the sensor and the day's answer see it."""

    path: Path
    day: str
    size_bytes: int
    mtime_ns: int
    settled: bool  # unchanged for SETTLE_SECONDS: safe to open

    @property
    def status(self) -> str:
        return "ready" if self.settled else "still being written (skipped until it stops changing)"


def scan(files: Iterable[Path], now: float | None = None, settle_s: float = SETTLE_SECONDS) -> list[FootageFile]:
    """Each (non-hidden) file with its day and whether it has settled, in name order."""
    now = time.time() if now is None else now
    out = []
    for p in sorted(files):
        if p.name.startswith("."):
            continue
        try:
            st = p.stat()
        except FileNotFoundError:  # moved away between the listing and now
            continue
        settled = now - st.st_mtime >= settle_s
        out.append(FootageFile(p, footage_day(p), st.st_size, st.st_mtime_ns, settled))
    return out


def by_day(files: Iterable[FootageFile]) -> dict[str, list[FootageFile]]:
    out: dict[str, list[FootageFile]] = {}
    for f in files:
        out.setdefault(f.day, []).append(f)
    return dict(sorted(out.items()))
