"""A query's answer as a picture: the positive intervals over the video's time, with a thumbnail per interval.

A person checks an answer by looking at it: the bar shows when the object is there, the thumbnails show what
the cascade saw. Thumbnails are capped (the longest intervals win, shown in time order) and the picture says so.

The bar covers the frames the query examined, not the whole video: a test segment made of several stretches is
drawn as those stretches side by side (a gap marks each jump), and the share of positive time is taken over the
examined frames. Intervals split by a gap of one or two frames (a flicker of the answer) are drawn as one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from noscope_core.common.atomic import atomic_path
from noscope_core.common.errors import QueryError

#: intervals this many frames apart or closer are drawn as one (within one examined stretch)
MERGE_GAP_FRAMES = 2
#: thumbnails drawn at most; more would shrink each below what an eye can read at the asset page's width
MAX_THUMBNAILS = 12
_COLUMNS = 4


@dataclass(frozen=True)
class TimelinePicture:
    """What :func:`timeline_picture` drew: ``capped`` when fewer thumbnails than intervals are shown."""

    path: Path
    n_intervals: int
    n_thumbnails: int
    duration_s: float  # the examined frames' duration
    positive_s: float  # the answer's positive frames' duration (before merging for the picture)

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


def check_ranges(ranges: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """Examined ``[start, stop)`` stretches, sorted; overlapping or touching ones joined."""
    out: list[tuple[int, int]] = []
    for a, b in sorted((int(a), int(b)) for a, b in ranges):
        if b <= a or a < 0:
            raise QueryError(f"examined range [{a}, {b}) is empty or negative", "ranges are [start, stop) frames")
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def merge_gaps(
    intervals: Sequence[tuple[int, int]],
    ranges: Sequence[tuple[int, int]] | None = None,
    max_gap: int = MERGE_GAP_FRAMES,
) -> list[tuple[int, int]]:
    """Sorted intervals with gaps of at most ``max_gap`` frames closed, never across two examined ``ranges``
    (a jump between stretches is not a gap the answer left)."""

    def stretch(frame: int) -> int | None:
        if ranges is None:
            return 0
        return next((k for k, (a, b) in enumerate(ranges) if a <= frame < b), None)

    out: list[tuple[int, int]] = []
    for a, b in sorted(intervals):
        if out and a - out[-1][1] <= max_gap and stretch(out[-1][0]) == stretch(a):
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def describe_ranges(ranges: Sequence[tuple[int, int]]) -> str:
    """``frames 299–398 and 695–794`` (last frames included), for titles."""
    parts = [f"{a}–{b - 1}" for a, b in ranges]
    return "frames " + (parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1])


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
    examined: Sequence[Sequence[int]] | None = None,
    merge_gap: int = MERGE_GAP_FRAMES,
) -> TimelinePicture:
    """Draw ``intervals`` (``[start, end)`` frames of ``video`` at ``fps``) on a time bar, one thumbnail (the
    interval's middle frame) per interval up to ``max_thumbnails``; written atomically as PNG.

    ``examined``: the ``[start, stop)`` stretches the query looked at; the bar covers them only, and the positive
    share is over them (default: the whole video, ``n_frames`` long, as its container reports it). Intervals
    ``merge_gap`` frames apart or closer are drawn as one.
    """
    from noscope_core.video.frames import read_frames
    from noscope_core.video.probe import probe_video

    if fps <= 0:
        raise QueryError(f"frame rate {fps} is not positive", "pass the video's frames per second")
    answer = check_intervals(intervals)
    if examined:
        ranges = check_ranges(examined)
        outside = [(a, b) for a, b in answer if not any(ra <= a and b <= rb for ra, rb in ranges)]
        if outside:
            raise QueryError(
                f"interval [{outside[0][0]}, {outside[0][1]}) lies outside the examined frames",
                "pass the ranges the query examined (its test_ranges)",
            )
    else:
        if n_frames is None:
            n_frames = probe_video(video).frame_count
        ranges = [(0, max(int(n_frames), max((b for _, b in answer), default=0), 1))]
    spans = merge_gaps(answer, ranges, merge_gap)
    shown = pick_thumbnails(spans, max_thumbnails)
    mids = [(spans[i][0] + spans[i][1] - 1) // 2 for i in shown]
    thumbs = [_rgb(f) for f in read_frames(video, mids)] if mids else []

    import matplotlib

    matplotlib.use("Agg")  # headless: pipelines and tests have no display
    import matplotlib.pyplot as plt

    duration_s = sum(b - a for a, b in ranges) / fps
    positive_s = sum(b - a for a, b in answer) / fps
    rows = -(-len(thumbs) // _COLUMNS)
    fig = plt.figure(figsize=(9.0, 1.9 + 1.9 * rows), dpi=90, layout="constrained")
    try:
        grid = fig.add_gridspec(1 + rows, _COLUMNS, height_ratios=[0.9] + [1.9] * rows)
        bar = fig.add_subplot(grid[0, :])
        _draw_bar(bar, spans, shown, fps, ranges)
        head = title or Path(video).name
        of = "examined" if examined else "the video"
        summary = (
            f"{len(spans)} positive interval{'s' if len(spans) != 1 else ''}, "
            f"{positive_s:.1f} s of {duration_s:.1f} s {of} ({100 * positive_s / duration_s:.1f} %)"
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


def _draw_bar(ax, spans: list[tuple[int, int]], shown: list[int], fps: float, ranges: list[tuple[int, int]]) -> None:
    """The examined stretches side by side on one axis of examined time (seconds since the first examined
    frame, jumps closed), each stretch's start labelled with its video time, a dashed line at each jump."""
    offsets, pos = [], 0
    for a, b in ranges:
        offsets.append(pos - a)  # examined position of frame f in this stretch: f + offset
        pos += b - a
    total_s = pos / fps

    def x(frame: float) -> float:
        k = next((k for k, (a, b) in enumerate(ranges) if a <= frame <= b), len(ranges) - 1)
        return (frame + offsets[k]) / fps

    ax.broken_barh([(x(a), (b - a) / fps) for a, b in spans], (0, 1), facecolors="tab:red")
    ax.set_xlim(0, total_s)
    ax.set_ylim(0, 1.75)
    ax.set_yticks([])
    ax.set_facecolor("#f2f2f2")
    if len(ranges) > 1:
        for a, _ in ranges[1:]:
            ax.axvline(x(a), color="dimgrey", linestyle="--", linewidth=1.0)
        ax.set_xticks([x(a) for a, _ in ranges], [f"{a / fps:.1f} s" for a, _ in ranges])
        ax.set_xlabel("video time at the start of each examined stretch (dashed: a jump)")
    else:
        ax.set_xticks(ax.get_xticks(), [f"{(v * fps + ranges[0][0]) / fps:.0f}" for v in ax.get_xticks()])
        ax.set_xlim(0, total_s)
        ax.set_xlabel("video time (s)")
    for i, row in zip(shown, label_rows([x((spans[i][0] + spans[i][1]) / 2) for i in shown], total_s), strict=True):
        a, b = spans[i]  # the thumbnails' numbers over their intervals, neighbours on staggered rows
        ax.text(x((a + b) / 2), 1.08 + 0.16 * row, f"#{i + 1}", ha="center", va="bottom", fontsize=7)
    if not spans:
        ax.text(total_s / 2, 0.5, "no positive frames", ha="center", va="center", color="dimgrey")


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
