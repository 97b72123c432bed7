"""NoScope's protocol: one video split in time order into consecutive, disjoint train / threshold / test segments."""

from __future__ import annotations

from dataclasses import dataclass

from noscope_core.errors import VideoError

#: fewest frames a segment may have; below this no model or threshold can be fitted meaningfully
MIN_SEGMENT_FRAMES = 20


@dataclass(frozen=True)
class Segment:
    name: str
    start: int  # first frame, inclusive
    stop: int  # last frame, exclusive

    def __len__(self) -> int:
        return self.stop - self.start

    def as_slice(self) -> slice:
        return slice(self.start, self.stop)


@dataclass(frozen=True)
class Segments:
    train: Segment
    threshold: Segment
    test: Segment

    def __iter__(self):
        return iter((self.train, self.threshold, self.test))

    def to_dict(self) -> dict[str, list[int]]:
        return {s.name: [s.start, s.stop] for s in self}


def split_frames(n_frames: int, fractions: tuple[float, float, float] = (0.5, 0.25, 0.25)) -> Segments:
    """Split ``n_frames`` in time order; raises VideoError when a segment would be too short."""
    a = int(round(n_frames * fractions[0]))
    b = a + int(round(n_frames * fractions[1]))
    c = min(n_frames, b + int(round(n_frames * fractions[2])))
    segs = Segments(Segment("train", 0, a), Segment("threshold", a, b), Segment("test", b, c))
    short = [s for s in segs if len(s) < MIN_SEGMENT_FRAMES]
    if short:
        need = max(int(MIN_SEGMENT_FRAMES / f) + 1 for f in fractions)
        raise VideoError(
            f"video has {n_frames} frames, too short for split {fractions}: segment "
            f"{short[0].name!r} would have {len(short[0])} frames (minimum {MIN_SEGMENT_FRAMES})",
            f"use a video of at least {need} frames or a different --split",
        )
    return segs
