"""One unit convention for every figure a person reads: Dagster metadata, MLflow, the CLI and the pictures.

Rates are percent (``3.41 %``), speed-ups are times (``3.3×``, ``250×``), speeds frames per second
(``10.9 frames/s``), costs milliseconds (``91.95 ms``). The ``*_value`` functions give the same rounding as
plain numbers, for typed metadata and MLflow metrics whose key carries the unit (``fnr_pct``, ``speedup_x``,
``reference_fps``, ``cost_ms``). Every function passes ``None`` through (text: ``n/a``, or the ``missing`` mark a
table uses). ``pct(..., digits=0)`` and ``times(..., digits=2)`` keep fewer or more decimals where a figure needs
them (a target of ``1 %``; a ratio near one, ``1.05×``).
"""

from __future__ import annotations

import math

NA = "n/a"
#: decimals kept for each unit (the text and the ``*_value`` forms agree)
PCT_DIGITS, FPS_DIGITS, MS_DIGITS = 2, 1, 2


def pct_value(rate: float | None, digits: int = PCT_DIGITS) -> float | None:
    """A rate in [0, 1] as a rounded percentage: 0.16333… → 16.33."""
    return None if rate is None else round(100.0 * float(rate), digits)


def times_value(factor: float | None) -> float | None:
    """A speed-up rounded as :func:`times` writes it: 3.2551 → 3.3, 223361.6 → 223362."""
    if factor is None:
        return None
    f = float(factor)
    if not math.isfinite(f):
        return f
    return float(round(f)) if f >= 100 else round(f, 1) if f >= 1 else round(f, 2)


def fps_value(fps: float | None) -> float | None:
    return None if fps is None else round(float(fps), FPS_DIGITS)


def ms_value(ms: float | None) -> float | None:
    return None if ms is None else round(float(ms), MS_DIGITS)


def pct(rate: float | None, digits: int = PCT_DIGITS, missing: str = NA) -> str:
    """``3.41 %``; ``n/a`` when unknown."""
    return missing if rate is None else f"{100.0 * float(rate):.{digits}f} %"


def times(factor: float | None, digits: int | None = None, missing: str = NA) -> str:
    """``3.3×``, ``0.85×``, ``250×``, ``223,362×``; ``n/a`` when unknown; ``digits`` fixes the decimals."""
    if digits is not None and factor is not None and math.isfinite(float(factor)):
        return f"{float(factor):,.{digits}f}×"
    v = times_value(factor)
    if v is None:
        return missing
    if not math.isfinite(v):
        return f"{v}×"
    return f"{v:,.0f}×" if v >= 100 else f"{v:.1f}×" if v >= 1 else f"{v:.2f}×"


def fps(value: float | None, missing: str = NA) -> str:
    """``10.9 frames/s``; ``n/a`` when unknown."""
    return missing if value is None else f"{float(value):,.{FPS_DIGITS}f} frames/s"


def ms(value: float | None, missing: str = NA) -> str:
    """``91.95 ms``; ``n/a`` when unknown."""
    return missing if value is None else f"{float(value):,.{MS_DIGITS}f} ms"


def seconds(value: float | None) -> str:
    """``4.1 s``; ``n/a`` when unknown."""
    return NA if value is None else f"{float(value):,.1f} s"
