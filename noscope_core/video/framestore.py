"""The frame store: a video decoded once into memory-mapped small frames, one ``.npy`` per view.

Every later stage (labelling, difference detectors, training, threshold search) reads rows of these arrays
instead of decoding again. A store is built in a private temporary folder and renamed into place whole, with
``meta.json`` written last, so a reader sees either a complete store or none.

One module on purpose, though past 450 lines: it is the store's on-disk format, read top to bottom as opening
a store, then building one; keeping the one writer and the one reader of that format together is what keeps
them from drifting apart.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import io
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from noscope_core import __version__
from noscope_core.common.atomic import atomic_dir, recover_dir, write_json
from noscope_core.common.errors import ArtifactError, VideoError
from noscope_core.common.locks import file_lock
from noscope_core.video.frames import DecodeStats
from noscope_core.video.prefetch import decode_batch_size, prefetch
from noscope_core.video.probe import VideoInfo, probe_video
from noscope_core.video.readers import ReaderChoice, VideoReader, choose_reader
from noscope_core.video.views import ViewSpec

try:  # POSIX advisory locks serialise concurrent builders; elsewhere the atomic rename alone keeps stores whole
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: 2: small frames come from the reader that queries use (PyAV's AREA shrink where PyAV reads the file, see
#: noscope_core.video.readers); version 1 stores hold OpenCV-shrunk pixels the models would no longer see at query time
FORMAT_VERSION = 2
META_NAME = "meta.json"
#: initial row capacity when the container does not report a plausible frame count
_FALLBACK_CAPACITY = 4096
_MAX_TRUSTED_COUNT = 50_000_000
#: how often :meth:`FrameStore.open` reads again when a rebuild swapped the store during the read
_OPEN_ATTEMPTS = 5


def _identity(path: Path) -> tuple[int, int, int] | None:
    """What tells two versions of a file apart across an atomic swap (None when it is absent)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_mtime_ns


def _view_file(view_name: str) -> str:
    return f"frames_{view_name}.npy"


class FrameStore:
    """A complete, read-only frame store on disk. Obtain one with :meth:`open` or :func:`build_frame_store`.

    ``frames(view)[i]`` is source frame ``i`` as ``size×size`` RGB; rows whose frame failed to decode are zeros
    and ``decoded_ok[i]`` is False there.
    """

    def __init__(self, root: Path, meta: dict[str, Any], timestamps_s: np.ndarray, decoded_ok: np.ndarray) -> None:
        self.root = root
        self.meta = meta
        self.info = VideoInfo.from_dict(meta["source"])
        self.n_frames = int(meta["n_frames"])
        self.fps = float(meta["fps"])
        self.views = tuple(ViewSpec.from_dict(v) for v in meta["views"])
        self.timestamps_s = timestamps_s
        self.decoded_ok = decoded_ok
        self.n_corrupt = int(meta["n_corrupt"])
        self._arrays: dict[str, np.ndarray] = {}

    @classmethod
    def open(cls, root: str | Path) -> FrameStore:
        """Open a complete store; :class:`ArtifactError` if it is missing, incomplete or unreadable.

        A rebuild swaps the whole folder while readers may be opening it, so the files are read by path and
        the read is repeated when ``meta.json`` changed identity meanwhile: the caller gets the old store or
        the new one whole, never the old metadata over the new arrays.
        """
        root = Path(root).expanduser()
        for _ in range(_OPEN_ATTEMPTS - 1):
            before = _identity(root / META_NAME)
            try:
                store = cls._open_once(root)
            except ArtifactError:
                if before is not None and _identity(root / META_NAME) == before:
                    raise  # nothing moved underneath: the store itself is at fault
                continue
            if _identity(root / META_NAME) == before:
                return store
        return cls._open_once(root)

    @classmethod
    def _open_once(cls, root: Path) -> FrameStore:
        meta_path = root / META_NAME
        if not meta_path.is_file():
            raise ArtifactError(
                f"no complete frame store at {root}", "build it with build_frame_store (or `noscope` run)"
            )
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("format_version") != FORMAT_VERSION:
                raise ArtifactError(
                    f"frame store at {root} has format {meta.get('format_version')}, expected {FORMAT_VERSION}: "
                    "its small frames were shrunk another way than queries now read them",
                    "rebuild it (build_frame_store or `noscope` does so automatically), then retrain its models",
                )
            n = int(meta["n_frames"])
            timestamps = np.load(root / "timestamps_s.npy")
            decoded_ok = np.load(root / "decoded_ok.npy")
            store = cls(root, meta, timestamps, decoded_ok)
        except ArtifactError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ArtifactError(f"frame store at {root} is unreadable: {err}", "delete it and build it again") from None
        if timestamps.shape != (n,) or decoded_ok.shape != (n,) or decoded_ok.dtype != bool:
            raise ArtifactError(f"frame store at {root} is incomplete (per-frame arrays do not match {n} frames)")
        for view in store.views:  # maps every view now, so a later swap cannot hand this store the new arrays
            arr = store.frames(view)
            if arr.shape != (n, view.size, view.size, 3) or arr.dtype != np.uint8:
                raise ArtifactError(f"frame store at {root} is incomplete: view {view.name} has shape {arr.shape}")
        return store

    def frames(self, view: ViewSpec | str) -> np.ndarray:
        """Read-only memory map ``(n_frames, s, s, 3)`` uint8 RGB of one view (by spec or name)."""
        name = view.name if isinstance(view, ViewSpec) else str(view)
        if name not in self._arrays:
            if name not in {v.name for v in self.views}:
                have = ", ".join(v.name for v in self.views)
                raise ArtifactError(f"frame store has no view {name!r}", f"it holds: {have}; rebuild it with that view")
            try:
                self._arrays[name] = np.load(self.root / _view_file(name), mmap_mode="r")
            except (OSError, ValueError) as err:
                raise ArtifactError(
                    f"frame store view {name} unreadable: {err}", "delete the store and build it again"
                ) from None
        return self._arrays[name]

    def has_view(self, view: ViewSpec | str) -> bool:
        name = view.name if isinstance(view, ViewSpec) else str(view)
        return name in {v.name for v in self.views}

    @property
    def decode_fps(self) -> float:
        return float(self.meta.get("decode_fps", 0.0))

    @property
    def reader(self) -> str:
        """The reader ("pyav" or "opencv") that decoded and shrank this store: queries should read the same way."""
        return str(self.meta.get("reader", {}).get("name", "opencv"))

    def __repr__(self) -> str:
        views = ",".join(v.name for v in self.views)
        return f"FrameStore({self.root}, n_frames={self.n_frames}, fps={self.fps:g}, views=[{views}], corrupt={self.n_corrupt})"


def _reusable(
    root: Path, info: VideoInfo, views: Sequence[ViewSpec], max_frames: int | None, choice: ReaderChoice
) -> FrameStore | None:
    """The existing store at ``root`` if it is complete, of this very video, shrunk by the same path and holds
    every wanted view."""
    try:
        store = FrameStore.open(root)
    except ArtifactError:
        return None
    if not _same_source(store, info, max_frames, choice):
        return None
    if not all(store.has_view(v) for v in views):
        return None
    return store


def _same_source(store: FrameStore, info: VideoInfo, max_frames: int | None, choice: ReaderChoice) -> bool:
    return (
        store.info.fingerprint == info.fingerprint
        and store.meta.get("max_frames") == max_frames
        and store.meta.get("reader", {}).get("shrink") == choice.shrink
    )


@contextlib.contextmanager
def _build_lock(root: Path) -> Iterator[None]:
    """Exclusive lock beside ``root``: a second builder waits, then finds the first one's store and reuses it."""
    with file_lock(root.parent / f".{root.name}.lock"):
        yield


def _remove_stale_builds(root: Path) -> None:
    """Delete the temporary folders of builders killed mid-way (a partial store can be as large as a whole one).

    Only called while holding the build lock, so no live builder of ``root`` owns such a folder.
    """
    if fcntl is None:  # without the lock a folder here may belong to a builder still running
        return
    recover_dir(root)  # a store a killed builder left aside is put back before anything is deleted
    for stale in root.parent.glob(f".{glob.escape(root.name)}.*"):
        if stale.is_dir() and (stale.name.endswith(".tmp") or (".old." in stale.name and root.exists())):
            shutil.rmtree(stale, ignore_errors=True)


def _resize_npy(path: Path, n_rows: int) -> None:
    """Change the first dimension of a C-order ``.npy`` on disk in place (grow sparse / truncate).

    numpy pads headers so the first axis can grow to any length without moving the data; if that ever fails
    the file is rewritten instead.
    """
    with open(path, "r+b") as fh:
        version = np.lib.format.read_magic(fh)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(fh)
        offset = fh.tell()
        new_shape = (n_rows, *shape[1:])
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": fortran, "shape": new_shape}
        buf = io.BytesIO()
        if version == (1, 0):
            np.lib.format.write_array_header_1_0(buf, header)
        else:
            np.lib.format.write_array_header_2_0(buf, header)
        row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        if len(buf.getvalue()) == offset:
            fh.seek(0)
            fh.write(buf.getvalue())
            fh.truncate(offset + n_rows * row_bytes)
            return
    old = np.load(path, mmap_mode="r")
    tmp = path.with_suffix(".resize.npy")
    new = np.lib.format.open_memmap(tmp, mode="w+", dtype=old.dtype, shape=new_shape)
    keep = min(n_rows, old.shape[0])
    for s in range(0, keep, 1024):
        new[s : min(keep, s + 1024)] = old[s : min(keep, s + 1024)]
    new.flush()
    del new, old
    os.replace(tmp, path)


class _GrowableRows:
    """A ``.npy`` file written row by row, whose row count follows what the decoder actually finds.

    Rows go in with positioned writes rather than through a memory map, so a long build does not pile up
    dirty mapped pages in the builder's resident memory.
    """

    def __init__(self, path: Path, row_shape: tuple[int, ...], dtype: np.dtype, capacity: int) -> None:
        self.path = path
        self.capacity = max(1, capacity)
        self.row_shape = row_shape
        self.dtype = dtype
        header = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(self.capacity, *row_shape))
        self.offset = int(header.offset)  # writes the header and sizes the (sparse) file
        del header
        self.row_bytes = int(np.prod(row_shape, dtype=np.int64)) * dtype.itemsize
        self.fh = open(path, "r+b")  # noqa: SIM115 - closed in finish() / close()

    def ensure(self, n_rows: int) -> None:
        if n_rows <= self.capacity:
            return
        new_cap = max(n_rows, int(self.capacity * 1.5) + 1)
        self.fh.flush()
        _resize_npy(self.path, new_cap)
        self.capacity = new_cap

    def write(self, idx: np.ndarray, rows: np.ndarray) -> None:
        """Store ``rows[k]`` as row ``idx[k]``; ``idx`` ascending, every index below ``capacity``."""
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        fd = self.fh.fileno()
        if len(idx) and idx[-1] - idx[0] + 1 == len(idx):  # contiguous run: one write
            os.pwrite(fd, rows.data.cast("B"), self.offset + int(idx[0]) * self.row_bytes)
            return
        for k, i in enumerate(idx.tolist()):
            os.pwrite(fd, memoryview(rows[k]).cast("B"), self.offset + i * self.row_bytes)

    def finish(self, n_rows: int) -> None:
        os.fsync(self.fh.fileno())
        self.fh.close()
        if n_rows != self.capacity:
            _resize_npy(self.path, n_rows)

    def close(self) -> None:
        self.fh.close()


def _initial_capacity(info: VideoInfo, max_frames: int | None) -> int:
    cap = info.frame_count if 0 < info.frame_count <= _MAX_TRUSTED_COUNT else _FALLBACK_CAPACITY
    return max(1, min(cap, max_frames) if max_frames is not None else cap)


def _check_disk(parent: Path, info: VideoInfo, views: Sequence[ViewSpec], n_rows: int) -> None:
    need = n_rows * sum(v.size * v.size * 3 for v in views)
    parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(parent).free
    if need > free:
        raise VideoError(
            f"frame store for {info.path} needs {need / 2**30:.1f} GiB but {parent} has {free / 2**30:.1f} GiB free",
            "free disk space, point NOSCOPE_HOME elsewhere, use smaller views or --max-frames",
        )


def _save_synced(path: Path, arr: np.ndarray) -> None:
    np.save(path, arr)
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _sane_timestamps(ts_ms: np.ndarray, ok: np.ndarray) -> bool:
    t = ts_ms[ok]
    if len(t) < 2:
        return False
    return bool(np.all(np.isfinite(t)) and t[0] >= 0 and np.all(np.diff(t) > 0))


def _progress(total: int | None, enabled: bool, desc: str):
    from tqdm import tqdm

    disable = not enabled or not sys.stderr.isatty()
    return tqdm(total=total, disable=disable, unit="frame", desc=desc, dynamic_ncols=True, leave=False)


def build_frame_store(
    video_path: str | Path,
    root: str | Path,
    views: Sequence[ViewSpec] = (ViewSpec(50), ViewSpec(100)),
    progress: bool = True,
    batch_size: int = 128,
    max_frames: int | None = None,
    reader: str = "auto",
) -> FrameStore:
    """Decode ``video_path`` once into a store at ``root`` holding every view; reuse it if already built.

    ``reader`` ("auto", "pyav", "opencv", see :func:`noscope_core.video.readers.choose_reader`) decodes and shrinks;
    the one chosen is recorded in ``meta["reader"]``, and a query should read the same way (``auto`` picks the
    same reader for the same file). A complete store of the same video (by fingerprint), the same
    ``max_frames``, the same shrink path and a superset of ``views`` is returned without decoding. Otherwise the store is rebuilt with the union of the wanted views and those it had,
    so two callers asking for different views do not rebuild back and forth. Corrupt frames are counted (rows of
    zeros, ``decoded_ok`` False), frames missing at the end of a truncated file are dropped and reported in
    ``meta``; a file that is not a video raises :class:`VideoError`.

    Decoding runs one batch ahead in a thread while the previous batch is shrunk; ``batch_size`` is an upper
    bound, lowered for large frames so memory stays near 200 MB whatever the resolution.
    """
    root = Path(root).expanduser()
    views = _unique_views(views)
    if max_frames is not None and max_frames < 1:
        raise VideoError(f"max_frames must be >= 1, got {max_frames}")
    info = probe_video(video_path)
    chosen = choose_reader(info.path, reader)
    store = _reusable(root, info, views, max_frames, chosen.choice)
    if store is not None:
        return store
    with _build_lock(root):
        _remove_stale_builds(root)
        store = _reusable(root, info, views, max_frames, chosen.choice)  # another builder may have finished meanwhile
        if store is not None:
            return store
        if root.exists() and not (root / META_NAME).is_file() and (not root.is_dir() or any(root.iterdir())):
            raise ArtifactError(
                f"{root} exists and is not a frame store; refusing to replace it",
                "give an empty or new folder for the frame store",
            )
        with contextlib.suppress(ArtifactError):
            old = FrameStore.open(root)
            if _same_source(old, info, max_frames, chosen.choice):
                views = _unique_views([*views, *old.views])
        with atomic_dir(root) as tmp:
            _build_into(tmp, info, views, progress, batch_size, max_frames, chosen)
    return FrameStore.open(root)


def _unique_views(views: Sequence[ViewSpec]) -> tuple[ViewSpec, ...]:
    if not views:
        raise VideoError("a frame store needs at least one view", "e.g. views=(ViewSpec(50),)")
    seen: dict[str, ViewSpec] = {}
    for v in views:
        if not isinstance(v, ViewSpec):
            raise VideoError(f"not a ViewSpec: {v!r}")
        seen.setdefault(v.name, v)
    return tuple(seen.values())


def _build_into(
    tmp: Path,
    info: VideoInfo,
    views: tuple[ViewSpec, ...],
    progress: bool,
    batch_size: int,
    max_frames: int | None,
    reader: VideoReader,
) -> None:
    t_start = time.perf_counter()
    tmp.chmod(0o755)  # mkdtemp makes it private; the store is meant to be shared read-only
    capacity = _initial_capacity(info, max_frames)
    _check_disk(tmp.parent, info, views, capacity)
    arrays = {
        v.name: _GrowableRows(tmp / _view_file(v.name), (v.size, v.size, 3), np.dtype(np.uint8), capacity)
        for v in views
    }
    ts_ms = np.full(capacity, np.nan)  # per-frame vectors are small enough to keep in memory
    decoded_ok = np.zeros(capacity, dtype=bool)
    stats = DecodeStats()
    n_rows = 0
    # views decoded differently (reduced resolution, no loop filter) need one pass each; the first sets the rows
    levels = sorted({v.decode_key for v in views})
    passes = [tuple(v for v in views if v.decode_key == level) for level in levels]
    total = (
        min(info.frame_count, max_frames)
        if max_frames and info.frame_count
        else (max_frames or info.frame_count or None)
    )
    try:
        with _progress(total and total * len(passes), progress, f"decode {Path(info.path).name}") as bar:
            decode_batch = decode_batch_size(info, batch_size)
            for n_pass, pass_views in enumerate(passes):
                pass_stats = stats if n_pass == 0 else DecodeStats()
                batches = reader.iter_views(
                    Path(info.path),
                    pass_views,
                    stop=max_frames,
                    batch_size=decode_batch,
                    stats=pass_stats,
                    keep_full=False,
                )
                for batch in prefetch(batches):
                    idx = batch.indices
                    n_new = int(idx[-1]) + 1
                    if n_pass and n_new > n_rows:  # a later pass decoded more than the first: keep the first's rows
                        keep = idx < n_rows
                        idx = idx[keep]
                        batch = dataclasses.replace(batch, small={k: v[keep] for k, v in batch.small.items()})
                        if not len(idx):
                            continue
                        n_new = n_rows
                    if n_new > len(ts_ms):  # the container under-reported its length
                        for rows in arrays.values():
                            rows.ensure(n_new)
                        grow = max(n_new, int(len(ts_ms) * 1.5) + 1) - len(ts_ms)
                        ts_ms = np.concatenate([ts_ms, np.full(grow, np.nan)])
                        decoded_ok = np.concatenate([decoded_ok, np.zeros(grow, dtype=bool)])
                    for v in pass_views:
                        arrays[v.name].write(idx, batch.small[v.name])
                    if n_pass == 0:
                        ts_ms[idx] = batch.timestamps_ms
                        decoded_ok[idx] = True
                        n_rows = max(n_rows, n_new)
                    bar.update(len(idx))
                if n_pass:
                    stats.seconds += pass_stats.seconds
                    stats.shrink_seconds += pass_stats.shrink_seconds
        if n_rows == 0:
            raise VideoError(
                f"no frame of {info.path} could be decoded", "the file is corrupt; re-encode or fetch it again"
            )
    except BaseException:
        for rows in arrays.values():
            rows.close()
        raise
    for rows in arrays.values():
        rows.finish(n_rows)  # drops rows the container claimed but the file does not hold
    decoded_ok = decoded_ok[:n_rows]
    ts_ms = ts_ms[:n_rows]
    fps = info.fps
    from_container = _sane_timestamps(ts_ms, decoded_ok)
    if fps <= 0:  # container gave no rate: derive it from timestamps, else assume a common camera rate
        steps = np.diff(ts_ms[decoded_ok]) if from_container else np.zeros(0)
        fps = float(1000.0 / np.median(steps)) if len(steps) else 25.0
    nominal_s = np.arange(n_rows, dtype=np.float64) / fps
    # Undecodable rows get the nominal time, so the array stays usable for time-based splits.
    timestamps_s = np.where(decoded_ok, ts_ms / 1000.0, nominal_s) if from_container else nominal_s
    _save_synced(tmp / "timestamps_s.npy", timestamps_s.astype(np.float64))
    _save_synced(tmp / "decoded_ok.npy", decoded_ok)
    build_s = time.perf_counter() - t_start
    n_corrupt = int((~decoded_ok).sum())
    claimed = min(info.frame_count, max_frames) if max_frames else info.frame_count
    meta = {
        "format_version": FORMAT_VERSION,
        "noscope_version": __version__,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": info.to_dict(),
        "n_frames": n_rows,
        "fps": fps,
        "views": [v.to_dict() for v in views],
        "view_names": [v.name for v in views],
        "max_frames": max_frames,
        "n_corrupt": n_corrupt,
        "frames_claimed": info.frame_count,
        "frames_missing_at_end": max(0, claimed - n_rows),
        "timestamps_from": "container" if from_container else "index/fps",
        "reader": reader.choice.to_dict(),
        "decode_fps": stats.fps,
        "decode_seconds": stats.seconds,
        # decoding and shrinking run together in the reader: one shrink rate for all views of a pass
        "preprocess_fps": {
            v.name: stats.n_read / stats.shrink_seconds if stats.shrink_seconds > 0 else 0.0 for v in views
        },
        "build_seconds": build_s,
        "decode_gave_up_at": stats.gave_up_at,
    }
    write_json(tmp / META_NAME, meta)  # last: its presence marks the store complete
