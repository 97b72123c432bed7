"""A label pack: one video's reference detections in a small file that can ship with the project, trusted only
after a check.

A deterministic camera (the composited one, ``noscope make-camera``) gives the same frames on every machine with the
same OpenCV build, so its reference labels need not be paid for again on each cold start. They are never taken on
faith: a pack is imported into the detection cache only when

1. the video's fingerprint is the one the pack was made from, and the detector's identity is the pack's, and
2. the detector, run live now on a fresh random sample of the video's frames (a new seed per check, recorded),
   finds what the pack says on every sampled frame.

Otherwise nothing is imported and the frames are labelled live as any video's are. The live sample also times the
detector, and that cost is the one the cache records: a speed-up is always charged at the reference's measured cost,
never at a cost shipped in the file.

To stay small (well under 1 MB for thousands of frames) a pack keeps the detections scoring at least its
``min_score`` (default 0.5, the queries' default; SSD reports from 0.3, about six times as many boxes) and stores box
corners as 16-bit fractions of the frame (1/65,535: a hundredth of a pixel); scores are kept exact. Labels of any
query counting boxes from ``min_score`` up are therefore the live detector's; a query with a lower ``min_score``
must not use it, and ``import_verified(..., query_min_score=)`` refuses the pack for one.
"""

from __future__ import annotations

import json
import secrets
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from noscope_core.common.atomic import atomic_path
from noscope_core.common.errors import ArtifactError
from noscope_core.reference.detection import Detection
from noscope_core.reference.detection_cache import DetectionCache, DetectionTable
from noscope_core.reference.detectors.base import ReferenceDetector

FORMAT = "noscope-label-pack/1"
#: frames the live check labels by default: enough to catch a pack of another detector or tampered labels (one
#: wrong frame in ten is caught with probability 1 - 0.9^24 = 92 %), few enough to cost seconds
DEFAULT_SAMPLE_FRAMES = 24
#: the score from which a pack keeps detections (the queries' default ``min_score``)
DEFAULT_MIN_SCORE = 0.5
#: what counts as the same detection between the pack and the live detector (numerical noise of one build)
SCORE_TOLERANCE = 0.02
MIN_IOU = 0.9
#: boxes are stored as uint16 fractions of the frame
BOX_SCALE = 65535.0


@dataclass(frozen=True)
class LabelPack:
    """One video's detections by one detector: frame ``frames[i]`` owns the rows where ``owner == frames[i]``."""

    video_fingerprint: str
    video_name: str
    n_frames: int  # frames in the video
    detector_identity: str
    detector_name: str
    cost_ms_per_frame: float | None  # as measured when the labels were made (shown, never charged)
    min_score: float  # the pack holds every detection scoring at least this, and none below
    frames: np.ndarray  # int64, sorted: the frames the pack labels (with or without detections)
    owner: np.ndarray  # int64, one per detection
    cls: np.ndarray  # int32 into ``classes``
    score: np.ndarray  # float32
    box: np.ndarray  # float32 (n, 4): x, y, w, h as fractions of the frame
    classes: tuple[str, ...]

    def detections(self) -> dict[int, list[Detection]]:
        """Every labelled frame's detections (an empty list for a frame without any)."""
        out: dict[int, list[Detection]] = {int(f): [] for f in self.frames.tolist()}
        for o, c, s, b in zip(
            self.owner.tolist(), self.cls.tolist(), self.score.tolist(), self.box.tolist(), strict=True
        ):
            out[int(o)].append(Detection(self.classes[c], float(s), *map(float, b)))
        return out


@dataclass(frozen=True)
class PackCheck:
    """The verdict on a pack for one video: ``ok`` or the one-line ``reason`` it was refused."""

    ok: bool
    reason: str
    sample_frames: tuple[int, ...] = ()
    seed: int | None = None  # the live sample's seed (fresh unless asked)
    disagreeing: tuple[int, ...] = ()  # sampled frames whose live detections differ from the pack's
    cost_ms_per_frame: float | None = None  # the detector's cost timed on the sample (None if it declares one)


@dataclass(frozen=True)
class PackImport:
    """What ``import_verified`` did: the check, and how many frames it added to the cache."""

    check: PackCheck
    frames_imported: int
    cache_root: Path

    @property
    def imported(self) -> bool:
        return self.check.ok


def pack_from_cache(
    cache: DetectionCache,
    frames: Sequence[int],
    video_name: str,
    n_frames: int,
    detector_name: str,
    min_score: float = DEFAULT_MIN_SCORE,
) -> LabelPack:
    """The cached detections of ``frames`` scoring at least ``min_score`` as a pack; every frame must be in the
    cache."""
    wanted = np.asarray(sorted({int(f) for f in frames}), dtype=np.int64)
    missing = cache.missing(wanted)
    if missing:
        raise ArtifactError(
            f"{len(missing)} of the {len(wanted)} frames are not in the detection cache (first: frame {missing[0]})",
            "label them first (e.g. noscope query or the camera's reference_labels), then export",
        )
    table = DetectionTable.of(zip(wanted.tolist(), cache.get(wanted.tolist()), strict=True), min_score)
    return LabelPack(
        video_fingerprint=cache.video_fingerprint,
        video_name=video_name,
        n_frames=int(n_frames),
        detector_identity=cache.detector_identity,
        detector_name=detector_name,
        cost_ms_per_frame=cache.cost_ms(),
        min_score=float(min_score),
        frames=wanted,
        owner=table.owner,
        cls=table.cls,
        score=table.score,
        box=table.box,
        classes=table.classes,
    )


def write_pack(pack: LabelPack, path: str | Path) -> Path:
    """Write ``pack`` compressed and atomically; frames are stored as runs and owners as per-frame counts."""
    path = Path(path)
    meta = {
        "format": FORMAT,
        "video_fingerprint": pack.video_fingerprint,
        "video_name": pack.video_name,
        "n_frames": pack.n_frames,
        "detector_identity": pack.detector_identity,
        "detector_name": pack.detector_name,
        "cost_ms_per_frame": pack.cost_ms_per_frame,
        "min_score": pack.min_score,
        "classes": list(pack.classes),
    }
    # detections sorted by frame, so the owner column is a per-frame count (small, compresses to almost nothing)
    order = np.argsort(pack.owner, kind="stable")
    counts = np.searchsorted(pack.owner[order], pack.frames, side="right") - np.searchsorted(
        pack.owner[order], pack.frames, side="left"
    )
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(
            tmp,
            meta=np.array(json.dumps(meta, sort_keys=True)),
            frames=pack.frames.astype(np.int64),
            counts=counts.astype(np.uint16),
            cls=pack.cls[order].astype(np.uint8 if len(pack.classes) <= 255 else np.int32),
            score=pack.score[order].astype(np.float32),
            box=np.round(np.clip(pack.box[order], 0.0, 1.0) * BOX_SCALE).astype(np.uint16),
        )
    return path


def read_pack(path: str | Path) -> LabelPack:
    """Read a pack written by :func:`write_pack`; a truncated, foreign or inconsistent file is refused in one line."""
    path = Path(path)
    hint = "make it again with `noscope labels export`, or delete it to label the video live"
    if not path.is_file():
        raise ArtifactError(f"label pack not found: {path}", "check the path (packs ship under data/labels/)")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            frames, counts = z["frames"].astype(np.int64), z["counts"].astype(np.int64)
            cls, score = z["cls"].astype(np.int32), z["score"].astype(np.float32)
            box = (z["box"].astype(np.float64) / BOX_SCALE).astype(np.float32)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ArtifactError(f"label pack {path} is unreadable: {exc}", hint) from None
    if meta.get("format") != FORMAT:
        raise ArtifactError(f"label pack {path} has format {meta.get('format')!r}, expected {FORMAT!r}", hint)
    classes = tuple(str(c) for c in meta["classes"])
    n = int(counts.sum())
    consistent = (
        len(frames) == len(counts)
        and len(cls) == n
        and len(score) == n
        and box.shape == (n, 4)
        and (
            len(frames) == 0 or (np.all(np.diff(frames) > 0) and frames[0] >= 0 and frames[-1] < int(meta["n_frames"]))
        )
        and (n == 0 or (cls.min() >= 0 and cls.max() < len(classes)))
        and bool(np.all(np.isfinite(score)) and (n == 0 or score.min() >= float(meta["min_score"])))
    )
    if not consistent:
        raise ArtifactError(f"label pack {path} is inconsistent (its columns or frame numbers do not fit)", hint)
    cost = meta.get("cost_ms_per_frame")
    return LabelPack(
        video_fingerprint=str(meta["video_fingerprint"]),
        video_name=str(meta["video_name"]),
        n_frames=int(meta["n_frames"]),
        detector_identity=str(meta["detector_identity"]),
        detector_name=str(meta["detector_name"]),
        cost_ms_per_frame=None if cost is None else float(cost),
        min_score=float(meta["min_score"]),
        frames=frames,
        owner=np.repeat(frames, counts),
        cls=cls,
        score=score,
        box=box,
        classes=classes,
    )


def check_pack(
    pack: LabelPack,
    video: str | Path,
    video_fingerprint: str,
    detector: ReferenceDetector,
    sample_frames: int = DEFAULT_SAMPLE_FRAMES,
    seed: int | None = None,
) -> PackCheck:
    """Is ``pack`` this video's labels by this detector? Fingerprint and identity first (free), then the detector
    run live on ``sample_frames`` frames drawn uniformly from the pack's (seed fresh unless given)."""
    if pack.video_fingerprint != video_fingerprint:
        return PackCheck(False, f"the pack was made from another video than {Path(video).name} (fingerprints differ)")
    if pack.detector_identity != detector.identity():
        return PackCheck(
            False, f"the pack's detector ({pack.detector_identity}) is not this one ({detector.identity()})"
        )
    if len(pack.frames) == 0:
        return PackCheck(False, "the pack labels no frame")
    if sample_frames < 1:
        raise ValueError("the live check needs at least one frame")
    seed = secrets.randbits(63) if seed is None else int(seed)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(pack.frames, size=min(sample_frames, len(pack.frames)), replace=False))
    live, cost_ms = _detect_live(video, detector, sample)
    packed = pack.detections()
    live = [[d for d in dets if d.score >= pack.min_score] for dets in live]
    disagree = tuple(int(f) for f, d in zip(sample.tolist(), live, strict=True) if not same_detections(packed[f], d))
    frames = tuple(int(f) for f in sample.tolist())
    if disagree:
        shown = ", ".join(map(str, disagree[:5])) + (", ..." if len(disagree) > 5 else "")
        return PackCheck(
            False,
            f"the live {detector.name} check disagrees with the pack on {len(disagree)} of {len(frames)} sampled "
            f"frames ({shown})",
            frames,
            seed,
            disagree,
            cost_ms,
        )
    return PackCheck(True, f"the live check agrees on {len(frames)} sampled frames", frames, seed, (), cost_ms)


def import_pack(pack: LabelPack, cache: DetectionCache, cost_ms_per_frame: float | None) -> int:
    """Add the pack's frames that ``cache`` lacks (one chunk, atomically) and record the measured cost; returns
    the frames added. Call only with a pack :func:`check_pack` accepted."""
    if (cache.video_fingerprint, cache.detector_identity) != (pack.video_fingerprint, pack.detector_identity):
        raise ArtifactError("the label pack belongs to another video or detector than this cache")
    dets = pack.detections()
    todo = cache.missing(pack.frames)
    cache.add(todo, [dets[f] for f in todo])
    cache.flush()
    cache.record_cost(cost_ms_per_frame)
    return len(todo)


def import_verified(
    pack_path: str | Path,
    video: str | Path,
    detector: ReferenceDetector,
    cache_root: str | Path,
    sample_frames: int = DEFAULT_SAMPLE_FRAMES,
    seed: int | None = None,
    query_min_score: float | None = None,
) -> PackImport:
    """Read, check and (if it passes) import a pack into the detection cache under ``cache_root``. A refused pack
    imports nothing: the video's frames are then labelled live when they are needed. ``query_min_score``: the
    score from which the camera's query counts a box (a pack that lacks boxes it would count is refused)."""
    from noscope_core.video.probe import probe_video

    pack = read_pack(pack_path)
    fingerprint = probe_video(video).fingerprint
    cache = DetectionCache(Path(cache_root), fingerprint, detector.identity())
    if query_min_score is not None and query_min_score < pack.min_score:
        reason = (
            f"the query counts boxes from score {query_min_score:g}, the pack holds only those from {pack.min_score:g}"
        )
        return PackImport(PackCheck(False, reason), 0, cache.root)
    check = check_pack(pack, video, fingerprint, detector, sample_frames, seed)
    added = import_pack(pack, cache, check.cost_ms_per_frame) if check.ok else 0
    return PackImport(check, added, cache.root)


def same_detections(a: Sequence[Detection], b: Sequence[Detection]) -> bool:
    """Equal up to one build's numerical noise: one-to-one, each pair of one class, scores within
    ``SCORE_TOLERANCE`` and boxes overlapping by IoU >= ``MIN_IOU``."""
    if len(a) != len(b):
        return False
    left = list(b)
    for d in sorted(a, key=lambda d: -d.score):
        match = next(
            (
                k
                for k, e in enumerate(left)
                if e.class_name == d.class_name and abs(e.score - d.score) <= SCORE_TOLERANCE and _iou(d, e) >= MIN_IOU
            ),
            None,
        )
        if match is None:
            return False
        left.pop(match)
    return True


def _iou(a: Detection, b: Detection) -> float:
    ix = max(0.0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0.0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    union = a.w * a.h + b.w * b.h - inter
    return inter / union if union > 0 else float(a == b)


def _detect_live(
    video: str | Path, detector: ReferenceDetector, sample: np.ndarray
) -> tuple[list[list[Detection]], float | None]:
    """The detector's detections of the sampled frames, and its per-frame cost timed on them (after one warm-up
    frame; the declared cost for a detector that declares one)."""
    from noscope_core.video.frames import read_frames

    indices = sample.tolist()
    frames = read_frames(video, indices) if detector.needs_pixels else []
    if detector.declared_cost_ms is not None:
        return detector.detect(frames, indices), detector.declared_cost_ms
    detector.detect(frames[:1], indices[:1])  # first-call allocations are not the steady cost
    start = time.perf_counter()
    live = detector.detect(frames, indices)
    return live, 1000.0 * (time.perf_counter() - start) / len(indices)
