"""Numbers as people read them: one format for rates, speed-ups, frame rates and milliseconds.

The command line's lines, the benchmarks' tables and the frontier plot format their figures here, so a figure
reads the same wherever it appears: ``3.41%``, ``3.3×``, ``250×``, ``13.8 frames/s``. ``None`` (not measured)
reads ``n/a`` unless the caller's table wants another mark.
"""

from __future__ import annotations

import math

MISSING = "n/a"


def pct(rate: float | None, digits: int = 2, missing: str = MISSING) -> str:
    """A rate in [0, 1] as a percentage: ``0.0341`` → ``3.41%``."""
    if rate is None:
        return missing
    return f"{100 * float(rate):.{digits}f}%"


def times(factor: float | None, digits: int | None = None, missing: str = MISSING) -> str:
    """A speed-up or ratio as people write it: ``0.52×``, ``3.3×``, ``250×``, ``194,134×``, ``∞×``.

    By default a factor of 100 or more shows no decimals, one below 1 two significant digits, any other one
    decimal; ``digits`` fixes the decimals instead (``1.05×`` for ratios near one)."""
    if factor is None or math.isnan(float(factor)):
        return missing
    f = float(factor)
    if math.isinf(f):
        return "∞×"
    if digits is not None:
        return f"{f:,.{digits}f}×"
    if f >= 100:
        return f"{f:,.0f}×"
    return f"{f:.2g}×" if f < 1 else f"{f:.1f}×"


def fps(rate: float | None, missing: str = MISSING) -> str:
    """A frame rate, the unit left to the caller: ``1,234`` from 100 frames/s up, else ``13.8``."""
    if rate is None:
        return missing
    r = float(rate)
    if math.isinf(r):
        return "∞"
    return f"{r:,.0f}" if r >= 100 else f"{r:.1f}"


def ms(value: float | None, missing: str = MISSING) -> str:
    """A duration in milliseconds, the unit left to the caller: ``1,234`` from 100 ms up, else three significant
    digits (``12.5``, ``0.412``)."""
    if value is None:
        return missing
    v = float(value)
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"
