"""A query's answer as a picture: the positive intervals over the video's time, with a thumbnail per interval.

A person checks an answer by looking at it: the bar shows when the object is there, the thumbnails show what
the cascade saw. Thumbnails are capped (the longest intervals win, shown in time order) and the picture says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from noscope_core.common.atomic import atomic_path
from noscope_core.common.errors import QueryError

#: thumbnails drawn at most; more would shrink each below what an eye can read at the asset page's width
MAX_THUMBNAILS = 12
_COLUMNS = 4


@dataclass(frozen=True)
class TimelinePicture:
    """What :func:`timeline_picture` drew: ``capped`` when fewer thumbnails than intervals are shown."""

    path: Path
    n_intervals: int
    n_thumbnails: int
    duration_s: float
    positive_s: float

    @property
    def capped(self) -> bool:
        return self.n_thumbnails < self.n_intervals


def check_intervals(intervals: Sequence[Sequence[int]], n_frames: int | None = None) -> list[tuple[int, int]]:
    """``intervals`` as sorted ``(start, end)`` frame pairs; raises :class:`QueryError` on empty or reversed ones,
    or (with ``n_frames``) ones past the video's end."""
    out = sorted((int(a), int(b)) for a, b in intervals)
    for a, b in out:
        if a < 0 or b <= a:
            raise QueryError(f"interval [{a}, {b}) is empty or negative", "intervals are [start, end) frame numbers")
        if n_frames is not None and b > n_frames:
            raise QueryError(
                f"interval [{a}, {b}) ends past the video's {n_frames} frames",
                "pass the intervals of a query over this same video",
            )
    return out


def pick_thumbnails(intervals: Sequence[tuple[int, int]], limit: int = MAX_THUMBNAILS) -> list[int]:
    """Indices (into ``intervals``) of the ``limit`` longest intervals, in time order; ties go to the earlier."""
    ranked = sorted(range(len(intervals)), key=lambda i: (-(intervals[i][1] - intervals[i][0]), i))
    return sorted(ranked[: max(limit, 0)])


def timeline_picture(
    video: str | Path,
    intervals: Sequence[Sequence[int]],
    fps: float,
    out_path: str | Path,
    *,
    n_frames: int | None = None,
    max_thumbnails: int = MAX_THUMBNAILS,
    title: str | None = None,
) -> TimelinePicture:
    """Draw ``intervals`` (``[start, end)`` frames of ``video`` at ``fps``) on a time bar, one thumbnail (the
    interval's middle frame) per interval up to ``max_thumbnails``; written atomically as PNG.

    ``n_frames`` is the length of the time bar (default: the video's frame count as its container reports it).
    """
    from noscope_core.video.frames import read_frames
    from noscope_core.video.probe import probe_video

    if fps <= 0:
        raise QueryError(f"frame rate {fps} is not positive", "pass the video's frames per second")
    if n_frames is None:
        n_frames = probe_video(video).frame_count
    spans = check_intervals(intervals)
    n_frames = max(int(n_frames), max((b for _, b in spans), default=0), 1)
    shown = pick_thumbnails(spans, max_thumbnails)
    mids = [(spans[i][0] + spans[i][1] - 1) // 2 for i in shown]
    thumbs = [_rgb(f) for f in read_frames(video, mids)] if mids else []

    import matplotlib

    matplotlib.use("Agg")  # headless: pipelines and tests have no display
    import matplotlib.pyplot as plt

    duration_s = n_frames / fps
    positive_s = sum(b - a for a, b in spans) / fps
    rows = -(-len(thumbs) // _COLUMNS)
    fig = plt.figure(figsize=(9.0, 1.9 + 1.9 * rows), dpi=90, layout="constrained")
    try:
        grid = fig.add_gridspec(1 + rows, _COLUMNS, height_ratios=[0.9] + [1.9] * rows)
        bar = fig.add_subplot(grid[0, :])
        _draw_bar(bar, spans, shown, fps, duration_s)
        head = title or Path(video).name
        summary = (
            f"{len(spans)} positive interval{'s' if len(spans) != 1 else ''}, "
            f"{positive_s:.1f} s of {duration_s:.1f} s ({100 * positive_s / duration_s:.1f} %)"
        )
        if len(shown) < len(spans):
            summary += f"; thumbnails of the {len(shown)} longest"
        bar.set_title(f"{head}\n{summary}", fontsize=10)
        for k, (i, img) in enumerate(zip(shown, thumbs, strict=True)):
            ax = fig.add_subplot(grid[1 + k // _COLUMNS, k % _COLUMNS])
            a, b = spans[i]
            ax.imshow(img)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"#{i + 1}  {a / fps:.1f}–{b / fps:.1f} s  ({b - a} frames)", fontsize=8)
        _save_palette_png(fig, out_path)
    finally:
        plt.close(fig)
    return TimelinePicture(Path(out_path), len(spans), len(shown), duration_s, positive_s)


def _draw_bar(ax, spans: list[tuple[int, int]], shown: list[int], fps: float, duration_s: float) -> None:
    ax.broken_barh([(a / fps, (b - a) / fps) for a, b in spans], (0, 1), facecolors="tab:red")
    ax.set_xlim(0, duration_s)
    ax.set_ylim(0, 1.75)
    ax.set_yticks([])
    ax.set_xlabel("video time (s)")
    ax.set_facecolor("#f2f2f2")
    for i, row in zip(
        shown, label_rows([(spans[i][0] + spans[i][1]) / 2 / fps for i in shown], duration_s), strict=True
    ):
        a, b = spans[i]  # the thumbnails' numbers over their intervals, neighbours on staggered rows
        ax.text((a + b) / 2 / fps, 1.08 + 0.16 * row, f"#{i + 1}", ha="center", va="bottom", fontsize=7)
    if not spans:
        ax.text(duration_s / 2, 0.5, "no positive frames", ha="center", va="center", color="dimgrey")


def label_rows(xs_s: list[float], duration_s: float, rows: int = 3) -> list[int]:
    """A row per label so that labels closer than ~4 % of the bar's width never share a row (cycling when all
    rows are taken): "#1#2#3" printed on top of each other for neighbouring intervals."""
    gap = 0.04 * duration_s
    last = [float("-inf")] * rows
    out = [0] * len(xs_s)
    for k in sorted(range(len(xs_s)), key=lambda k: xs_s[k]):
        row = next((r for r in range(rows) if xs_s[k] - last[r] >= gap), min(range(rows), key=lambda r: last[r]))
        last[row] = xs_s[k]
        out[k] = row
    return out


def _save_palette_png(fig, out_path: str | Path) -> None:
    """Save with a 128-colour palette: thumbnails make a full-colour PNG ~4× larger, too large to embed in
    the asset's metadata as a data URI, and the picture reads the same."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    buf.seek(0)
    with Image.open(buf) as img:
        small = img.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
        with atomic_path(out_path, suffix=".png") as tmp:
            small.save(tmp, format="PNG", optimize=True)


def _rgb(frame_bgr: np.ndarray) -> np.ndarray:
    return frame_bgr[..., ::-1] if frame_bgr.ndim == 3 else frame_bgr
