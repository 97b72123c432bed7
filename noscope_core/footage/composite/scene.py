"""The timeline of a long camera: who arrives when (a daily rhythm), in groups, along which path, and who stops.

Everything is planned before a pixel is drawn, from one seeded generator, as per-frame foot points and views of
each appearance; rendering then only looks them up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from noscope_core.footage.composite.bank import SourceBank
from noscope_core.footage.composite.perspective import Perspective

#: a walker slower than this many body heights per source frame is someone standing, not walking
MIN_WALK_SPEED = 0.025


@dataclass(frozen=True)
class SceneSpec:
    """How busy the scene is. Arrivals are groups; the rate follows :func:`rhythm` between ``quiet_ratio`` and 1
    times ``peak_groups_per_min``."""

    peak_groups_per_min: float = 5.0
    quiet_ratio: float = 0.08
    group_size_probs: tuple[float, ...] = (0.62, 0.25, 0.09, 0.04)
    stand_prob: float = 0.2
    stand_s: tuple[float, float] = (4.0, 40.0)


@dataclass(frozen=True)
class Appearance:
    """One object on screen for ``len(view)`` frames from ``first_frame``: its foot point and which view to draw."""

    object_id: int
    track_index: int  # index into ``SourceBank.people``; -1 is the bank's vehicle
    class_name: str
    first_frame: int
    feet_px: np.ndarray  # (n, 2) float32
    view: np.ndarray  # (n,) int32, index into the track's views
    flip: bool

    @property
    def last_frame(self) -> int:
        return self.first_frame + len(self.view) - 1


def rhythm(u: np.ndarray | float) -> np.ndarray | float:
    """Share of the peak arrival rate at ``u`` in [0, 1] of the video, read as a day from 06:00 to 22:00: a morning
    peak, a lunch bump, an evening peak, quiet in between and at both ends."""
    hour = 6.0 + 16.0 * np.asarray(u, dtype=np.float64)

    def bump(mu: float, sd: float) -> np.ndarray:
        return np.exp(-0.5 * ((hour - mu) / sd) ** 2)

    return np.maximum.reduce(
        [bump(8.5, 0.9), 0.7 * bump(12.5, 1.0), bump(17.3, 1.2), 0.25 * np.sin(np.pi * (hour - 6) / 16) ** 2]
    )


def arrival_times_s(duration_s: float, spec: SceneSpec, rng: np.random.Generator) -> np.ndarray:
    """Group arrival times: a Poisson process at the peak rate, thinned by the daily rhythm (never below quiet)."""
    peak_per_s = spec.peak_groups_per_min / 60.0
    if peak_per_s <= 0:
        return np.zeros(0)
    n = rng.poisson(peak_per_s * duration_s)
    t = np.sort(rng.uniform(0.0, duration_s, n))
    share = spec.quiet_ratio + (1.0 - spec.quiet_ratio) * rhythm(t / duration_s)
    return t[rng.random(n) < share]


def _to_edge(p: np.ndarray, direction: np.ndarray, size: tuple[int, int], top_row: float) -> np.ndarray:
    """Move ``p`` along ``direction`` until it leaves the frame (so people walk in and out of view), stopping at
    ``top_row`` above which no one walks (the far end, where people appear small)."""
    w, h = size
    d = direction / (np.linalg.norm(direction) + 1e-9)
    ts = []
    if d[0] < -1e-6:
        ts.append((-0.06 * w - p[0]) / d[0])
    if d[0] > 1e-6:
        ts.append((1.06 * w - p[0]) / d[0])
    if d[1] > 1e-6:
        ts.append((h * 1.25 - p[1]) / d[1])
    if d[1] < -1e-6:
        ts.append((top_row - p[1]) / d[1])
    t = max(0.0, min(ts)) if ts else 0.0
    return p + t * d


def plan_path(walk_points: np.ndarray, size: tuple[int, int], top_row: float, rng: np.random.Generator) -> np.ndarray:
    """A polyline of 2-3 points through places where real people walked, extended beyond the frame at both ends."""
    w = size[0]
    a = walk_points[rng.integers(len(walk_points))]
    for _ in range(20):
        b = walk_points[rng.integers(len(walk_points))]
        if np.linalg.norm(b - a) > 0.35 * w:
            break
    a = a + rng.normal(0, 8, 2)
    b = b + rng.normal(0, 8, 2)
    pts = [a, b]
    if rng.random() < 0.5:
        mid = walk_points[rng.integers(len(walk_points))] + rng.normal(0, 8, 2)
        # a bend only if it does not turn the walk back on itself
        if np.dot(mid - a, b - mid) > 0:
            pts = [a, mid, b]
    start = _to_edge(pts[0], pts[0] - pts[1], size, top_row)
    end = _to_edge(pts[-1], pts[-1] - pts[-2], size, top_row)
    return np.array([start, *pts, end], dtype=np.float64)


def walk(
    path: np.ndarray,
    perspective: Perspective,
    speed_heights_per_frame: float,
    offset_heights: float,
    stop_at: float | None,
    stop_frames: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Foot points frame by frame along ``path`` at a speed proportional to the local body height (perspective),
    shifted sideways by ``offset_heights``; returns (feet (n, 2), moving (n,) bool). ``stop_at`` is a share of the
    path length where the walker stands still for ``stop_frames``."""
    if not speed_heights_per_frame > 0:
        raise ValueError(f"walking speed must be positive, got {speed_heights_per_frame}")
    seg = np.diff(path, axis=0)
    seg_len = np.linalg.norm(seg, axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg_len)])
    total = cum[-1]
    feet, moving = [], []
    s, stood = 0.0, stop_at is None
    while s < total:
        k = min(int(np.searchsorted(cum, s, side="right")) - 1, len(seg) - 1)
        d = seg[k] / max(seg_len[k], 1e-9)
        p = path[k] + d * (s - cum[k])
        h = max(float(perspective.height_at(p[1])), 4.0)
        feet.append(p + np.array([-d[1], d[0]]) * offset_heights * h)
        if not stood and s >= stop_at * total:
            feet.extend([feet[-1]] * stop_frames)
            moving.extend([False] * stop_frames)
            stood = True
        moving.append(True)
        s += speed_heights_per_frame * h
    return np.array(feet, dtype=np.float32).reshape(-1, 2), np.array(moving, dtype=bool)


def plan_people(
    bank: SourceBank, spec: SceneSpec, n_frames: int, fps: float, rng: np.random.Generator
) -> list[Appearance]:
    """Every person appearance of the video, planned from ``rng``."""
    walkers = [i for i, t in enumerate(bank.people) if t.speed_heights_per_frame >= MIN_WALK_SPEED]
    if not walkers:
        walkers = list(range(len(bank.people)))
    walk_points = np.concatenate([t.source_feet_px for t in bank.people])
    top_row = float(np.quantile(walk_points[:, 1], 0.02))
    src_per_out = bank.fps / fps  # source frames per output frame: the gait's pace
    sizes = np.arange(1, len(spec.group_size_probs) + 1)
    probs = np.asarray(spec.group_size_probs) / np.sum(spec.group_size_probs)
    out: list[Appearance] = []
    for t0 in arrival_times_s(n_frames / fps, spec, rng):
        k = int(min(rng.choice(sizes, p=probs), len(walkers)))
        members = rng.choice(walkers, size=k, replace=False)
        path = plan_path(walk_points, bank.size, top_row, rng)
        speeds = np.array([bank.people[m].speed_heights_per_frame for m in members])
        group_speed = max(float(np.median(speeds)), MIN_WALK_SPEED) * rng.uniform(0.9, 1.1)
        stop_at = float(rng.uniform(0.3, 0.7)) if rng.random() < spec.stand_prob else None
        stop_frames = int(rng.uniform(*spec.stand_s) * fps)
        heading = path[-1, 0] - path[0, 0]
        for j, m in enumerate(members.tolist()):
            track = bank.people[m]
            lag = int(j * rng.uniform(0.0, 0.6) * fps)
            feet, moving = walk(
                path, bank.perspective, group_speed * src_per_out, (j - (k - 1) / 2) * 0.45, stop_at, stop_frames
            )
            first = int(t0 * fps) + lag
            n = min(len(feet), n_frames - first)
            if n <= 0:
                continue
            # the gait runs at the walker's own pace scaled to the group's speed, and pauses while standing
            rate = np.clip(group_speed / max(track.speed_heights_per_frame, 1e-6), 0.75, 1.33) * src_per_out
            phase = np.cumsum(np.where(moving[:n], rate, 0.0)) + rng.uniform(0, track.loop_len)
            view = np.where(moving[:n], phase.astype(np.int64) % track.loop_len, track.still_index)
            flip = track.facing != 0 and np.sign(heading) != track.facing
            out.append(Appearance(len(out), m, track.class_name, first, feet[:n], view.astype(np.int32), bool(flip)))
    return out


def plan_vehicles(
    bank: SourceBank,
    n_frames: int,
    fps: float,
    start_frame: int,
    every_s: float,
    rng: np.random.Generator,
    first_id: int,
) -> list[Appearance]:
    """Vans driving in from the right along the road, parking for a while and driving back out."""
    if bank.vehicle is None or start_frame >= n_frames:
        return []
    w, h = bank.size
    src_row = float(bank.vehicle.source_foot_rows[0])
    out: list[Appearance] = []
    t = start_frame / fps + rng.uniform(0, min(every_s, 30.0))
    while t * fps < n_frames:
        row = rng.uniform(0.32, 0.45) * h
        park_x = rng.uniform(0.45, 0.7) * w
        scale = float(bank.perspective.height_at(row) / bank.perspective.height_at(src_row))
        step = 6.0 * scale * bank.fps / fps
        inward = np.arange(1.1 * w, park_x, -step)
        park = np.full(int(rng.uniform(20, 90) * fps), park_x)
        xs = np.concatenate([inward, park, inward[::-1]])
        feet = np.stack([xs, np.full_like(xs, row)], axis=1).astype(np.float32)
        first = int(t * fps)
        n = min(len(feet), n_frames - first)
        flips = np.concatenate([np.zeros(len(inward) + len(park), bool), np.ones(len(inward), bool)])[:n]
        # a van turning round is two appearances: one facing left (in), one facing right (out)
        cut = int(np.argmax(flips)) if flips.any() else n
        for a, b, flip in ((0, cut, False), (cut, n, True)):
            if b > a:
                out.append(
                    Appearance(
                        first_id + len(out),
                        -1,
                        bank.vehicle.class_name,
                        first + a,
                        feet[a:b],
                        np.zeros(b - a, np.int32),
                        flip,
                    )
                )
        t += len(feet) / fps + rng.exponential(every_s)
    return out
