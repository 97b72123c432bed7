"""What reading a video costs, measured on the file: dense decoding, shrinking, keyframe-only scans and seeks.

The optimizer prices plans with these (a dense plan decodes every frame; a keyframe-first plan decodes the
keyframes alone and only the groups of pictures it opens), so both kinds of plan pay for reading the video.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from noscope_core.common.errors import ArtifactError, VideoError
from noscope_core.video.frames import DecodeStats
from noscope_core.video.views import ViewSpec

#: frames decoded densely to time decoding and shrinking
DENSE_TIMING_FRAMES = 600
#: keyframes scanned (and seeked to) to time a keyframe-only scan and a seek
KEYFRAME_TIMING = 40
SEEK_TIMING = 8


@dataclass(frozen=True)
class DecodeCosts:
    """Measured per-frame decode costs of one video (ms), what a plan pays to read it.

    ``frame_ms``: one frame of a dense pass (every frame the codec makes you decode, shrink excluded);
    ``shrink_ms``: one decoded frame shrunk into the view; ``keyframe_ms``: one keyframe of a keyframe-only scan,
    shrink included, the file's opening not; ``seek_ms``: one seek to a keyframe before a dense run (container seek, decoder flush).
    """

    frame_ms: float
    shrink_ms: float
    keyframe_ms: float
    seek_ms: float = 0.0
    gop_frames: float = 0.0  # mean frames per GOP of the measured file (informational)
    reader: str = "pyav"

    def __post_init__(self) -> None:
        for name in ("frame_ms", "shrink_ms", "keyframe_ms", "seek_ms", "gop_frames"):
            v = float(getattr(self, name))
            if not (v >= 0 and np.isfinite(v)):
                raise ArtifactError(f"decode cost {name} is negative or not finite ({v})", "re-measure decode costs")
            object.__setattr__(self, name, v)

    def dense_ms(self, evaluated_fraction: float) -> float:
        """Per-frame cost of reading a video densely when ``evaluated_fraction`` of its frames are shrunk."""
        return self.frame_ms + evaluated_fraction * self.shrink_ms

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DecodeCosts:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def measure_decode_costs(
    path: str | Path,
    view: ViewSpec,
    dense_frames: int = DENSE_TIMING_FRAMES,
    keyframes: int = KEYFRAME_TIMING,
    seeks: int = SEEK_TIMING,
) -> tuple[DecodeCosts, np.ndarray] | None:
    """(costs, keyframe frame numbers) of ``path`` read through PyAV into ``view``: a short timed dense pass, a
    keyframe-only scan of ``keyframes`` keyframes near the start and ``seeks`` seeks spread over the file. The
    keyframe index comes from the cache (``readers.keyframe_cache``), which this call fills for later queries.

    None when PyAV does not read the file (the OpenCV reader has no keyframe-only scan) or it has fewer than two
    keyframes: a keyframe-first plan cannot run there.
    """
    from noscope_core.video.readers import choose_reader, iter_views
    from noscope_core.video.readers.keyframe_cache import keyframe_index
    from noscope_core.video.readers.pyav_reader import configure, decoded_frames, open_video

    path = Path(path).expanduser()
    try:
        chosen = choose_reader(path, "auto")
        if chosen.choice.name != "pyav":
            return None
        index = keyframe_index(path)
    except VideoError:
        return None
    keys = index.keyframes
    if len(keys) < 2:
        return None
    stats = DecodeStats()
    t0 = time.perf_counter()
    for _ in iter_views(path, (view,), stop=dense_frames, batch_size=64, stats=stats, reader=chosen, keep_full=False):
        pass
    wall = time.perf_counter() - t0
    n = max(stats.n_read, 1)
    shrink_ms = 1000.0 * stats.shrink_seconds / n
    frame_ms = max(0.0, 1000.0 * wall / n - shrink_ms)

    keyframe_ms = time_keyframe_scan(path, view, min(keyframes, len(keys) - 1), chosen.choice.threads)

    seek_ms = 0.0
    picks = np.unique(np.linspace(1, len(keys) - 1, min(seeks, len(keys) - 1)).astype(int))
    container, stream = open_video(path)
    try:
        configure(stream, chosen.choice.threads, view.lowres, view.skip_loop_filter)
        spent = []
        for k in picks:
            t1 = time.perf_counter()
            container.seek(int(index.keyframe_pts[k]), stream=stream, backward=True, any_frame=False)
            next(decoded_frames(container, stream), None)
            spent.append(1000.0 * (time.perf_counter() - t1))
        # a seek plus decoding its keyframe, less the keyframe's own decode: what the seek adds
        seek_ms = max(0.0, float(np.median(spent)) - keyframe_ms) if spent else 0.0
    finally:
        container.close()
    gop = float(np.mean(np.diff(keys))) if len(keys) > 1 else 0.0
    return DecodeCosts(frame_ms, shrink_ms, keyframe_ms, seek_ms, gop), keys


def time_keyframe_scan(path: Path, view: ViewSpec, keyframes: int, threads: str = "default") -> float:
    """ms per keyframe of a keyframe-only scan into ``view`` (demux, decode with the view's decoding, shrink).

    The file is opened and its first keyframe decoded before the clock starts: a query opens the file once per
    scan, so the opening and the decoder's start-up are not a per-keyframe cost (timing them in would price the
    keyframe-first plan too high on short timing runs).
    """
    import av

    from noscope_core.video.readers.pyav_reader import Shrinker, configure, open_video

    shrink = Shrinker(view)
    container, stream = open_video(path)
    try:
        configure(stream, threads, view.lowres, view.skip_loop_filter)
        cc = stream.codec_context
        cc.skip_frame = "NONKEY"
        sent = 0
        t0 = 0.0
        for packet in container.demux(stream):
            if not packet.size or not packet.is_keyframe:
                continue
            if sent == 1:
                t0 = time.perf_counter()  # the first keyframe (decoder start-up) is not timed
            try:
                for frame in cc.decode(packet):
                    shrink(frame)
            except av.error.FFmpegError:
                pass
            sent += 1
            if sent > keyframes:
                break
        try:
            for frame in cc.decode(None):
                shrink(frame)
        except av.error.FFmpegError:
            pass
        timed = sent - 1
        return 1000.0 * (time.perf_counter() - t0) / timed if timed > 0 else 0.0
    finally:
        container.close()
