"""A resumable, per-video, per-detector cache of raw reference detections.

Detections (every class, every box) are cached rather than labels, so a new query on the same video and
detector costs nothing. The cache is a folder of chunk files, each written atomically: a run killed
half-way keeps every finished chunk, and the re-run only detects the frames still missing.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from noscope_core.common.atomic import write_json, write_npz
from noscope_core.common.paths import cache_dir
from noscope_core.reference.detection import Detection

if TYPE_CHECKING:
    from noscope_core.reference.detectors.base import ReferenceDetector


@dataclass(frozen=True)
class DetectionTable:
    """Per-frame detections flattened into columns, the layout of a cache chunk and of a label pack: detection k
    belongs to frame ``owner[k]``, has class ``classes[cls[k]]``, ``score[k]`` and ``box[k]`` (x, y, w, h)."""

    owner: np.ndarray  # int64
    cls: np.ndarray  # int32
    score: np.ndarray  # float32 (float64 for detections held as they were made)
    box: np.ndarray  # like score, (n, 4)
    classes: tuple[str, ...]

    @classmethod
    def of(
        cls,
        per_frame: Iterable[tuple[int, Sequence[Detection]]],
        min_score: float = float("-inf"),
        dtype: type = np.float32,
    ) -> DetectionTable:
        """The table of ``(frame, detections)`` pairs, keeping the detections scoring at least ``min_score``;
        scores and boxes as ``dtype`` (float64 keeps a Detection's floats exactly)."""
        classes: list[str] = []
        index: dict[str, int] = {}
        owner, klass, score, box = [], [], [], []
        for f, dets in per_frame:
            for d in dets:
                if d.score < min_score:
                    continue
                if d.class_name not in index:
                    index[d.class_name] = len(classes)
                    classes.append(d.class_name)
                owner.append(int(f))
                klass.append(index[d.class_name])
                score.append(d.score)
                box.append((d.x, d.y, d.w, d.h))
        return cls(
            owner=np.asarray(owner, dtype=np.int64),
            cls=np.asarray(klass, dtype=np.int32),
            score=np.asarray(score, dtype=dtype),
            box=np.asarray(box, dtype=dtype).reshape(-1, 4),
            classes=tuple(classes),
        )


@dataclass(frozen=True)
class _Chunk:
    """One chunk's detections kept as its columns: ``owner`` is sorted (chunks are written frame by frame), so a
    frame's detections are the slice ``searchsorted(owner, f)``; Detection objects are made only when asked for."""

    table: DetectionTable

    def detections(self, frame: int) -> list[Detection]:
        t = self.table
        lo, hi = np.searchsorted(t.owner, frame, "left"), np.searchsorted(t.owner, frame, "right")
        return [
            Detection(t.classes[c], float(s), *map(float, b))
            for c, s, b in zip(t.cls[lo:hi].tolist(), t.score[lo:hi].tolist(), t.box[lo:hi].tolist(), strict=True)
        ]


class DetectionCache:
    """Held in memory as each chunk's columns plus which chunk holds each frame: the six-hour video's cache
    (152,105 labelled frames, 3.9 million boxes) took 940 MB and 23 s to read as Python Detection objects, 126 MB
    and 4 s as columns; a frame's Detection objects are made when it is asked for. Frames detected by this process
    are held as float64 columns, so they come back exactly as detected (a chunk file keeps float32): 52 bytes a box,
    31 MB for 30,000 frames of 20 boxes, where keeping them as Detection objects took 83 MiB."""

    def __init__(self, root: str | os.PathLike[str], video_fingerprint: str, detector_identity: str) -> None:
        import hashlib

        key = hashlib.sha256(f"{video_fingerprint}|{detector_identity}".encode()).hexdigest()[:20]
        self.root = Path(root) / key
        self.video_fingerprint = video_fingerprint
        self.detector_identity = detector_identity
        self._chunks: list[_Chunk] = []
        self._where: dict[int, int] = {}  # frame -> the chunk holding it (the last chunk read or written wins)
        self._pending: dict[int, list[Detection]] = {}
        self._loaded = False

    def _keep(self, frames: np.ndarray, table: DetectionTable) -> None:
        """Hold one chunk: per chunk, then merged, so two processes that labelled the same frames (two chunks
        holding them) give each frame the detections of one chunk, never both appended."""
        if np.any(np.diff(table.owner) < 0):  # flush writes frames in order; any other writer's chunk is sorted here
            order = np.argsort(table.owner, kind="stable")
            table = DetectionTable(
                table.owner[order], table.cls[order], table.score[order], table.box[order], table.classes
            )
        self._chunks.append(_Chunk(table))
        k = len(self._chunks) - 1
        self._where.update(dict.fromkeys(frames.tolist(), k))

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if not self.root.is_dir():
            return
        for chunk in sorted(self.root.glob("chunk-*.npz")):
            try:
                with np.load(chunk, allow_pickle=False) as z:
                    classes = tuple(json.loads(str(z["classes"])))
                    frames = np.asarray(z["frames"], dtype=np.int64)
                    table = DetectionTable(
                        owner=np.asarray(z["owner"], dtype=np.int64),
                        cls=np.asarray(z["cls"], dtype=np.int32),
                        score=np.asarray(z["score"], dtype=np.float32),
                        box=np.asarray(z["box"], dtype=np.float32).reshape(-1, 4),
                        classes=classes,
                    )
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                # An unreadable chunk is treated as missing: its frames are simply detected again.
                continue
            self._keep(frames, table)

    def cost_ms(self) -> float | None:
        """The detector's per-frame cost as last measured: when these detections were made, or when a run that
        found them all cached timed the detector again (None if unknown)."""
        path = self.root / "cost.json"
        try:
            return float(json.loads(path.read_text())["cost_ms_per_frame"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def record_cost(self, cost_ms_per_frame: float | None) -> None:
        if cost_ms_per_frame is None:
            return
        write_json(self.root / "cost.json", {"cost_ms_per_frame": float(cost_ms_per_frame)})

    def missing(self, indices: Sequence[int] | np.ndarray) -> list[int]:
        self._load()
        return [int(i) for i in indices if int(i) not in self._where and int(i) not in self._pending]

    def get(self, indices: Sequence[int]) -> list[list[Detection]]:
        self._load()
        out = []
        for i in indices:
            i = int(i)
            if i in self._pending:
                out.append(self._pending[i])
            elif i in self._where:
                out.append(self._chunks[self._where[i]].detections(i))
            else:
                raise KeyError(f"frame {i} not in the detection cache")
        return out

    def add(self, indices: Sequence[int], detections: Sequence[list[Detection]]) -> None:
        for i, d in zip(indices, detections, strict=True):
            self._pending[int(i)] = list(d)

    def flush(self) -> None:
        """Write pending detections as one new chunk file (atomically)."""
        if not self._pending:
            return
        self._load()  # the chunks already on disk first, so they never override the one written now
        frames = np.array(sorted(self._pending), dtype=np.int64)
        # Held in float64: what a process computes from fresh detections (e.g. the composited camera's people
        # boxes) must not change when they are written; the file keeps float32, so a reading back rounds them.
        table = DetectionTable.of(((f, self._pending[f]) for f in frames.tolist()), dtype=np.float64)
        self.root.mkdir(parents=True, exist_ok=True)
        # Atomic like the chunks: concurrent writers of one cache would otherwise interleave this file.
        write_json(self.root / "identity.json", {"video": self.video_fingerprint, "detector": self.detector_identity})
        name = f"chunk-{int(frames[0]):09d}-{int(frames[-1]):09d}-{os.getpid()}-{len(frames)}.npz"
        write_npz(
            self.root / name,
            frames=frames,
            owner=table.owner,
            cls=table.cls,
            score=table.score.astype(np.float32),
            box=table.box.astype(np.float32),
            classes=np.array(json.dumps(list(table.classes))),
        )
        self._keep(frames, table)
        self._pending = {}


def home_detection_cache(video_fingerprint: str, detector: ReferenceDetector) -> DetectionCache:
    """One video's detections by ``detector`` under ``$NOSCOPE_HOME``: the cache that labelling, label packs,
    certificates and the pipeline's answers share, so a frame the reference labelled once is read everywhere."""
    return DetectionCache(cache_dir() / "detections", video_fingerprint, detector.identity())


class CachedDetector:
    """``detector`` answering from one video's detection cache first: the frames already labelled are read back,
    the others detected and added (flushed after each call, so a killed run keeps them).

    Only for a detector whose cost is declared (``--reference-fps``, a camera's ``reference_fps``): a frame read
    back is then charged that cost like a detected one, so a re-run costs what a fresh one would. A measured
    detector's cost is its wall time, which a cache hit does not have."""

    def __init__(self, detector: ReferenceDetector, cache: DetectionCache) -> None:
        if detector.declared_cost_ms is None:
            raise ValueError("CachedDetector needs a detector whose cost is declared (a cache hit has no wall time)")
        self.detector, self.cache = detector, cache
        self.name, self.needs_pixels = detector.name, detector.needs_pixels

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.detector.class_names

    @property
    def declared_cost_ms(self) -> float | None:
        return self.detector.declared_cost_ms

    @property
    def cost_ms_per_frame(self) -> float | None:
        return self.detector.cost_ms_per_frame

    def identity(self) -> str:
        return self.detector.identity()

    def detect(self, frames: Sequence[np.ndarray], frame_indices: Sequence[int]) -> list[list[Detection]]:
        indices = [int(i) for i in frame_indices]
        todo = set(self.cache.missing(indices))
        if todo:
            sel = [k for k, i in enumerate(indices) if i in todo]
            pixels = [frames[k] for k in sel] if self.needs_pixels else []
            self.cache.add([indices[k] for k in sel], self.detector.detect(pixels, [indices[k] for k in sel]))
            self.cache.flush()
        return self.cache.get(indices)
