"""A camera's label store: every frame the reference ever labelled for it, kept with where it came from and why.

The reference is the expensive part of NoScope, and a camera pays it again and again: the training and threshold
segments, every certified answer's random draws, the frames tightening chose because the cascade was least sure of
them, the frames the cascade itself routed to the reference. Each such label is an example its next models can
learn from, so none is thrown away.

Why each frame was labelled matters as much as its label. Only frames that entered by chance — a uniform
certification draw (``random``), a whole labelled segment (``segment``), the nightly budget's uniform draw of new
footage (``random`` too) — are an unbiased sample of the footage: an error rate measured on them estimates the
true one. Frames chosen *because* the cascade was unsure (``risky``) or routed to the reference (``route``) are
the hardest examples, good to train on and wrong to evaluate on. :meth:`LabelStore.unbiased` is the only view
meant for evaluation; a frame labelled for several reasons keeps its first one and notes the later ones, and it
counts as unbiased when any of them is a chance draw (a uniform draw is uniform whatever happened to the frame
before).

Storage (a folder, one per camera): every :meth:`LabelStore.append` writes one immutable chunk file atomically,
named so that chunks sort in the order they were written; :meth:`LabelStore.compact` merges them into one
``compact-*.json`` file (atomically) that names the chunks it holds, and only then deletes them. A reader lists the
folder and reads what it lists: a chunk deleted under it by a compaction is found in the newer compact file, so a
reader never misses a record nor counts one twice. A process killed at any point loses at most the append it was
writing.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from noscope_core.common.atomic import write_json
from noscope_core.common.errors import ArtifactError
from noscope_core.reference.detection import Detection
from noscope_core.reference.detection_cache import DetectionCache
from noscope_core.reference.labels import frame_label
from noscope_core.spec.query import Query

#: why a frame was labelled. ``segment``: a training/threshold/test segment labelled whole; ``random``: a uniform
#: draw (certification's stratified draws, the nightly budget); ``risky``: chosen by tightening as least sure;
#: ``route``: the cascade sent it to the reference; ``certify``: spent by certification, draw or choice unknown
REASONS = ("segment", "random", "risky", "route", "certify")
#: reasons under which a frame entered by chance: the only ones usable as unbiased evaluation data
UNBIASED_REASONS = frozenset({"segment", "random"})
FORMAT = "noscope-label-store/1"
_CHUNK, _COMPACT = "chunk-", "compact-"


@dataclass(frozen=True)
class LabelledFrame:
    """One frame the reference labelled: its source, its detections, the detector, and why it was labelled."""

    source_fingerprint: str  # the video file's fingerprint (``probe_video(...).fingerprint``)
    source_path: str
    frame_index: int
    detections: tuple[Detection, ...]
    detector: str  # the reference's identity (``ReferenceDetector.identity()``)
    reason: str  # the first reason it was labelled for (one of REASONS)
    day: str = ""  # the footage's day (``YYYY-MM-DD``) or "" for the training video
    also: tuple[str, ...] = ()  # later reasons the same frame was asked for again
    labelled_utc: str = ""

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ArtifactError(f"unknown labelling reason {self.reason!r}", f"use one of: {', '.join(REASONS)}")
        if int(self.frame_index) < 0:
            raise ArtifactError(f"frame index {self.frame_index} is negative", "frame indices count from 0")

    @property
    def key(self) -> tuple[str, int, str]:
        """What makes two records the same label: the file, the frame and the detector."""
        return (self.source_fingerprint, int(self.frame_index), self.detector)

    @property
    def reasons(self) -> tuple[str, ...]:
        return (self.reason, *self.also)

    @property
    def unbiased(self) -> bool:
        """True when the frame entered the store by chance at least once (see the module docstring)."""
        return any(r in UNBIASED_REASONS for r in self.reasons)

    def label(self, query: Query) -> bool:
        """The frame's unsmoothed label for ``query``, as the cascade asks the reference."""
        return frame_label(self.detections, query)

    def to_dict(self) -> dict:
        return {
            "source_fingerprint": self.source_fingerprint,
            "source_path": self.source_path,
            "frame_index": int(self.frame_index),
            "detections": [[d.class_name, d.score, d.x, d.y, d.w, d.h] for d in self.detections],
            "detector": self.detector,
            "reason": self.reason,
            "day": self.day,
            "also": list(self.also),
            "labelled_utc": self.labelled_utc,
        }

    @classmethod
    def from_dict(cls, d: dict) -> LabelledFrame:
        return cls(
            source_fingerprint=str(d["source_fingerprint"]),
            source_path=str(d["source_path"]),
            frame_index=int(d["frame_index"]),
            detections=tuple(
                Detection(str(c), float(s), float(x), float(y), float(w), float(h))
                for c, s, x, y, w, h in d["detections"]
            ),  # fmt: skip
            detector=str(d["detector"]),
            reason=str(d["reason"]),
            day=str(d.get("day", "")),
            also=tuple(str(r) for r in d.get("also", ())),
            labelled_utc=str(d.get("labelled_utc", "")),
        )


def frames_of(
    source_fingerprint: str,
    source_path: str | Path,
    frame_index: Sequence[int],
    detections: Sequence[Sequence[Detection]],
    detector: str,
    reason: str,
    day: str = "",
) -> list[LabelledFrame]:
    """Records for frames of one file labelled for one reason (one detection list per frame)."""
    if len(frame_index) != len(detections):
        raise ValueError(f"{len(detections)} detection lists for {len(frame_index)} frames")
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return [
        LabelledFrame(source_fingerprint, str(source_path), int(i), tuple(d), detector, reason, day, (), now)
        for i, d in zip(frame_index, detections, strict=True)
    ]


@dataclass(frozen=True)
class AppendResult:
    """What one append changed: frames new to the store, frames known before that gained a reason, the rest."""

    added: int
    new_reasons: int
    already: int
    chunk: Path | None  # the chunk written, None when nothing changed


@dataclass(frozen=True)
class StoreSummary:
    """Counts for a person: frames in the store, how many are unbiased, per reason and per day."""

    frames: int
    unbiased: int
    by_reason: dict[str, int] = field(default_factory=dict)
    by_day: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"frames": self.frames, "unbiased": self.unbiased, "by_reason": self.by_reason, "by_day": self.by_day}


class LabelStore:
    """The label store in ``root`` (created on the first append). Safe for one writer and any number of readers
    at a time per folder; concurrent writers are safe too (each chunk has a unique name), compaction excepted."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    # -- reading ---------------------------------------------------------------------------------------------
    def frames(self) -> list[LabelledFrame]:
        """Every labelled frame once (first reason kept, later ones in ``also``), in the order first labelled."""
        for _ in range(5):  # a compaction that deletes a listed chunk mid-read: list again
            try:
                return _merge(self._records())
            except FileNotFoundError:
                continue
        return _merge(self._records())

    def unbiased(self) -> list[LabelledFrame]:
        """Only frames that entered by chance: the evaluation data (see the module docstring)."""
        return [f for f in self.frames() if f.unbiased]

    def chosen(self) -> list[LabelledFrame]:
        """Frames that entered only by choice (risky, routed, or certification of unknown kind): train, never score."""
        return [f for f in self.frames() if not f.unbiased]

    def keys(self) -> set[tuple[str, int, str]]:
        return {f.key for f in self.frames()}

    def __len__(self) -> int:
        return len(self.frames())

    def summary(self) -> StoreSummary:
        frames = self.frames()
        by_reason: dict[str, int] = {}
        by_day: dict[str, int] = {}
        for f in frames:
            by_reason[f.reason] = by_reason.get(f.reason, 0) + 1
            by_day[f.day] = by_day.get(f.day, 0) + 1
        return StoreSummary(len(frames), sum(f.unbiased for f in frames), by_reason, dict(sorted(by_day.items())))

    def _files(self) -> tuple[Path | None, list[Path]]:
        """The newest compact file and the chunks it does not hold, in write order."""
        if not self.root.is_dir():
            return None, []
        compacts = sorted(self.root.glob(f"{_COMPACT}*.json"))
        chunks = sorted(self.root.glob(f"{_CHUNK}*.json"))
        return (compacts[-1] if compacts else None), chunks

    def _records(self) -> Iterator[LabelledFrame]:
        compact, chunks = self._files()
        merged: set[str] = set()
        if compact is not None:
            data = _read(compact)
            merged = set(data.get("merged", ()))
            yield from (LabelledFrame.from_dict(r) for r in data["frames"])
        for chunk in chunks:
            if chunk.name in merged:
                continue
            yield from (LabelledFrame.from_dict(r) for r in _read(chunk)["frames"])

    # -- writing ---------------------------------------------------------------------------------------------
    def append(self, frames: Iterable[LabelledFrame]) -> AppendResult:
        """Add ``frames``: new frames are kept, a known frame asked for a new reason gains it, the rest is dropped.
        One chunk file, written atomically: all of this append or none of it."""
        seen = {f.key: set(f.reasons) for f in self.frames()}
        out: dict[tuple[str, int, str], LabelledFrame] = {}
        added = new_reasons = already = 0
        for f in frames:
            reasons = seen.get(f.key)
            if reasons is None:
                out[f.key], seen[f.key] = f, {f.reason}
                added += 1
            elif f.reason not in reasons:
                # a chunk record of a known frame carries only the new reason; the merge adds it to ``also``
                prev = out.get(f.key)
                out[f.key] = replace(f, also=()) if prev is None else replace(prev, also=(*prev.also, f.reason))
                reasons.add(f.reason)
                new_reasons += 1
            else:
                already += 1
        if not out:
            return AppendResult(0, 0, already, None)
        name = f"{_CHUNK}{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
        path = self.root / name
        write_json(path, {"format": FORMAT, "frames": [f.to_dict() for f in out.values()]})
        return AppendResult(added, new_reasons, already, path)

    def compact(self) -> Path | None:
        """Merge every chunk into one new compact file (atomically), then delete the chunks and older compacts.
        Returns the compact file, None when there was nothing to compact."""
        compact, chunks = self._files()
        if not chunks:
            return compact
        frames = _merge(self._records())
        merged = sorted({c.name for c in chunks} | set(_read(compact).get("merged", ()) if compact else ()))
        # the newest chunk's stamp keeps the compact ordered after everything it holds
        stamp = chunks[-1].name[len(_CHUNK) :].split("-")[0]
        target = self.root / f"{_COMPACT}{stamp}-{uuid.uuid4().hex[:8]}.json"
        write_json(target, {"format": FORMAT, "merged": merged, "frames": [f.to_dict() for f in frames]})
        for c in chunks:
            c.unlink(missing_ok=True)
        for old in self.root.glob(f"{_COMPACT}*.json"):
            if old != target:
                old.unlink(missing_ok=True)
        return target


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:  # atomic writes make this a foreign or hand-edited file
        raise ArtifactError(f"label store file {path} is not valid JSON: {err}", "move it out of the store") from err
    if data.get("format") != FORMAT:
        raise ArtifactError(f"{path} is not a label store file (format {data.get('format')!r})", f"expected {FORMAT}")
    return data


def _merge(records: Iterable[LabelledFrame]) -> list[LabelledFrame]:
    """One record per key: the first seen, with every later distinct reason appended to ``also``."""
    out: dict[tuple[str, int, str], LabelledFrame] = {}
    for r in records:
        first = out.get(r.key)
        if first is None:
            out[r.key] = r
            continue
        extra = tuple(x for x in r.reasons if x not in first.reasons)
        if extra:
            out[r.key] = replace(first, also=(*first.also, *extra))
    return list(out.values())


def uniform_draw(n_frames: int, budget: int, exclude: Iterable[int], rng: np.random.Generator) -> np.ndarray:
    """Up to ``budget`` frame indices of a file of ``n_frames`` frames, drawn uniformly without replacement among
    those not in ``exclude`` (already labelled): the nightly reference budget's sample of the newest footage."""
    if budget < 0:
        raise ValueError(f"a reference budget must be 0 or more frames, got {budget}")
    taken = np.zeros(max(0, int(n_frames)), dtype=bool)
    ex = np.fromiter((i for i in exclude if 0 <= int(i) < n_frames), dtype=np.int64)
    taken[ex] = True
    free = np.flatnonzero(~taken)
    k = min(int(budget), len(free))
    return np.sort(rng.choice(free, size=k, replace=False)) if k else np.zeros(0, dtype=np.int64)


def from_detection_cache(
    cache: DetectionCache,
    source_path: str | Path,
    frame_index: Sequence[int],
    reason: str,
    day: str = "",
) -> list[LabelledFrame]:
    """Records for the frames of ``frame_index`` the detection cache holds (frames it lacks are left out): the
    cache is where every reference call of labelling and certification leaves its detections."""
    wanted = [int(i) for i in frame_index]
    missing = set(cache.missing(wanted))
    have = [i for i in wanted if i not in missing]
    return frames_of(cache.video_fingerprint, source_path, have, cache.get(have), cache.detector_identity, reason, day)


def watch(detector) -> dict[int, list[Detection]]:
    """Record every frame ``detector`` labels from now on (frame index -> detections), whoever asks it: the
    cascade's reference route, certification, the cost timing. The detector itself is unchanged otherwise."""
    seen: dict[int, list[Detection]] = {}
    inner = detector.detect

    def detect(frames, frame_indices):
        out = inner(frames, frame_indices)
        for i, d in zip(frame_indices, out, strict=True):
            seen.setdefault(int(i), list(d))
        return out

    detector.detect = detect
    return seen
