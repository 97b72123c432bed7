"""NoScope's protocol: the video split in time order into disjoint train / threshold / test segments.

With ``blocks=1`` (NoScope's own protocol) each segment is one consecutive stretch: train first, then
threshold, then test. Short clips often show the object only in part of the video (on the default camera,
nobody enters the bottom-left quadrant in the first 530 frames), so the split can also be *blocked*: the video
is cut into ``blocks`` consecutive blocks and each block is split train / threshold / test in time order.
Segments stay disjoint and time-ordered inside every block; each segment is then a few consecutive ranges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from noscope_core.common.errors import VideoError

#: fewest frames a segment may have; below this no model or threshold can be fitted meaningfully
MIN_SEGMENT_FRAMES = 20
#: fewest frames of one segment inside one block
MIN_PIECE_FRAMES = 5


@dataclass(frozen=True)
class Segment:
    name: str
    ranges: tuple[tuple[int, int], ...]  # half-open [start, stop) ranges, in time order

    @property
    def start(self) -> int:
        return self.ranges[0][0]

    @property
    def stop(self) -> int:
        return self.ranges[-1][1]

    @property
    def contiguous(self) -> bool:
        return len(self.ranges) == 1

    def __len__(self) -> int:
        return sum(b - a for a, b in self.ranges)

    def indices(self) -> np.ndarray:
        """Every frame number of the segment, in time order."""
        return np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in self.ranges])

    def as_slice(self) -> slice:
        if not self.contiguous:
            raise ValueError(f"segment {self.name!r} has {len(self.ranges)} ranges; use indices()")
        return slice(self.start, self.stop)


@dataclass(frozen=True)
class Segments:
    train: Segment
    threshold: Segment
    test: Segment
    blocks: int = 1

    def __iter__(self):
        return iter((self.train, self.threshold, self.test))

    def to_dict(self) -> dict:
        return {"blocks": self.blocks, **{s.name: [list(r) for r in s.ranges] for s in self}}

    @classmethod
    def from_dict(cls, d: dict) -> Segments:
        def seg(name: str) -> Segment:
            v = d[name]
            ranges = (tuple(v),) if v and isinstance(v[0], int) else tuple(tuple(r) for r in v)
            return Segment(name, ranges)

        return cls(seg("train"), seg("threshold"), seg("test"), int(d.get("blocks", 1)))


def split_frames(n_frames: int, fractions: tuple[float, float, float] = (0.5, 0.25, 0.25), blocks: int = 1) -> Segments:
    """Split ``n_frames`` in time order; raises VideoError when a segment would be too short."""
    if blocks < 1:
        raise ValueError("blocks must be >= 1")
    edges = np.linspace(0, n_frames, blocks + 1).round().astype(int).tolist()  # plain ints: segments go to JSON
    pieces: dict[str, list[tuple[int, int]]] = {"train": [], "threshold": [], "test": []}
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        size = hi - lo
        a = lo + int(round(size * fractions[0]))
        b = a + int(round(size * fractions[1]))
        # fractions summing to 1 use the whole block (rounding must not drop its last frame)
        c = hi if sum(fractions) >= 1.0 - 1e-9 else min(hi, b + int(round(size * fractions[2])))
        for name, (s, e) in zip(pieces, ((lo, a), (a, b), (b, c)), strict=True):
            if e > s:
                pieces[name].append((s, e))
    train, threshold, test = (Segment(name, tuple(r)) for name, r in pieces.items())
    segs = Segments(train, threshold, test, blocks=blocks)
    short = [s for s in segs if len(s) < MIN_SEGMENT_FRAMES]
    if short:
        need = max(int(MIN_SEGMENT_FRAMES / f) + 1 for f in fractions)
        raise VideoError(
            f"video has {n_frames} frames, too short for split {fractions}: segment "
            f"{short[0].name!r} would have {len(short[0])} frames (minimum {MIN_SEGMENT_FRAMES})",
            f"use a video of at least {need} frames or a different --split",
        )
    if blocks > 1 and any(b - a < MIN_PIECE_FRAMES for s in segs for a, b in s.ranges):
        raise VideoError(
            f"{blocks} blocks of a {n_frames}-frame video leave segment pieces under {MIN_PIECE_FRAMES} frames"
        )
    return segs


def candidate_blocks(n_frames: int, fractions: tuple[float, float, float], max_blocks: int = 8) -> list[int]:
    """Block counts to try, fewest first (1 = NoScope's protocol), that this video is long enough for."""
    out = []
    b = 1
    while b <= max_blocks:
        try:
            split_frames(n_frames, fractions, b)
        except VideoError:
            break
        out.append(b)
        b *= 2
    return out
