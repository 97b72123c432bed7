"""A video's keyframe index, demuxed once and kept under ``$NOSCOPE_HOME/cache/keyframes`` by the file's fingerprint.

Demuxing a long file costs a second or more, and every keyframe-first query, every late-starting dense read and
every ``FrameFetcher`` needs the index. The optimizer indexes the camera's video when it measures decode costs, so
queries on that camera read a small file instead. The cache is content-addressed: a changed video has another
fingerprint and gets its own index; an index whose recorded fingerprint or format differs, or that cannot be read,
is never trusted but demuxed again and replaced. Writes are atomic (``noscope_core.common.atomic``), so a writer killed
half way leaves no half index.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from noscope_core.common.atomic import write_npz
from noscope_core.common.paths import cache_dir
from noscope_core.video.probe import check_file, file_fingerprint
from noscope_core.video.readers.keyframes import KeyframeIndex

#: bump when :class:`KeyframeIndex` or its demux changes meaning: older files are then rebuilt
FORMAT = 1

_memo: dict[tuple[str, int, int, str], KeyframeIndex] = {}
_memo_lock = threading.Lock()
_MEMO_MAX = 16


def default_root() -> Path:
    return cache_dir() / "keyframes"


def index_path(fingerprint: str, root: str | Path | None = None) -> Path:
    """Where the index of the video with ``fingerprint`` is kept."""
    return Path(root if root is not None else default_root()) / f"v{FORMAT}-{fingerprint}.npz"


def keyframe_index(path: str | Path, root: str | Path | None = None) -> KeyframeIndex:
    """The keyframe index of ``path``: from this process's memory, else the cache, else one demux pass (then kept).

    ``root`` defaults to ``$NOSCOPE_HOME/cache/keyframes``. A cache that cannot be written (read-only home, full
    disk) costs the next process a demux, nothing more.
    """
    path = Path(path).expanduser()
    check_file(path)
    st = path.stat()
    root_path = Path(root) if root is not None else default_root()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, str(root_path))
    with _memo_lock:
        hit = _memo.get(key)
    if hit is not None:
        return hit
    fingerprint = file_fingerprint(path)
    target = index_path(fingerprint, root_path)
    index = _load(target, fingerprint)
    if index is None:
        index = _demux(path)
        try:
            write_npz(
                target,
                format=np.asarray(FORMAT, dtype=np.int64),
                fingerprint=np.asarray(fingerprint),
                n_packets=np.asarray(index.n_packets, dtype=np.int64),
                keyframes=index.keyframes.astype(np.int64),
                keyframe_pts=index.keyframe_pts.astype(np.int64),
            )
        except OSError:
            pass
    with _memo_lock:
        if len(_memo) >= _MEMO_MAX:
            _memo.pop(next(iter(_memo)))
        _memo[key] = index
    return index


def _demux(path: Path) -> KeyframeIndex:
    """One pass over the whole file (the cost the cache saves; a seam the tests count)."""
    return KeyframeIndex.of(path)


def forget() -> None:
    """Drop this process's memory of indexes (the files stay): the next call reads the cache or demuxes."""
    with _memo_lock:
        _memo.clear()


def _load(target: Path, fingerprint: str) -> KeyframeIndex | None:
    """The index stored at ``target`` if it is whole, of this format and of the video with ``fingerprint``."""
    if not target.is_file():
        return None
    try:
        with np.load(target, allow_pickle=False) as z:
            if int(z["format"]) != FORMAT or str(z["fingerprint"]) != fingerprint:
                return None
            n_packets = int(z["n_packets"])
            keys = np.asarray(z["keyframes"], dtype=np.int64)
            pts = np.asarray(z["keyframe_pts"], dtype=np.int64)
    except Exception:  # noqa: BLE001 - a torn or foreign file (zip, npy or key errors alike): rebuild it, never trust it
        return None
    if keys.ndim != 1 or pts.shape != keys.shape or len(keys) > n_packets or (np.diff(keys) <= 0).any():
        return None
    if len(keys) and (keys[0] < 0 or keys[-1] >= n_packets):
        return None
    return KeyframeIndex(n_packets=n_packets, keyframes=keys, keyframe_pts=pts)
