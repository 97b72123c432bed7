"""The source camera's material, extracted once and cached under ``$NOSCOPE_HOME/cache/composite``.

One pass of the reference detector over the source (itself cached in the shared detection cache), a median
background, the perspective fit, the people's sprite tracks and one still vehicle cut from the background.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from noscope_core.common.atomic import atomic_path
from noscope_core.common.errors import VideoError
from noscope_core.footage.composite.background import boxes_mask, median_background
from noscope_core.footage.composite.perspective import Perspective, fit_perspective
from noscope_core.footage.composite.sprites import (
    SpriteTrack,
    clean_runs,
    cut_object,
    cut_track,
    link_tracks,
)

#: bump when extraction changes, so old caches are not reused
BANK_VERSION = 5
VEHICLE_CLASSES = ("car", "truck", "bus")


@dataclass(frozen=True)
class SourceBank:
    """Everything the generator takes from the source camera."""

    background: np.ndarray  # (H, W, 3) uint8
    perspective: Perspective
    people: tuple[SpriteTrack, ...]
    vehicle: SpriteTrack | None
    fps: float
    source_fingerprint: str

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.background.shape[1], self.background.shape[0]


def person_boxes(detections, width: int, height: int, min_score: float, classes=("person",)) -> list[np.ndarray]:
    """Per frame, the (N, 4) pixel boxes of ``classes`` scoring at least ``min_score``."""
    out = []
    for dets in detections:
        rows = [
            (d.x * width, d.y * height, d.w * width, d.h * height)
            for d in dets
            if d.class_name in classes and d.score >= min_score
        ]
        out.append(np.array(rows, dtype=np.float64).reshape(-1, 4))
    return out


def build_bank(video_path: Path, detections, fingerprint: str, min_score: float = 0.5, progress=None) -> SourceBank:
    """Extract a :class:`SourceBank` from a video and its per-frame detections (two decoding passes)."""
    from noscope_core.video.frames import iter_frames
    from noscope_core.video.probe import probe_video

    info = probe_video(video_path)
    width, height, n = info.width, info.height, len(detections)
    people = person_boxes(detections, width, height, min_score)
    if sum(len(b) for b in people) < 10:
        raise VideoError(
            f"the reference found almost no people in {video_path.name}",
            hint="the long camera needs a source where people walk through a fixed view",
        )
    # Every 4th frame is plenty for a median and keeps the sample under 300 MB at 768x576.
    sample, hidden = [], []
    for batch in iter_frames(video_path, step=4, batch_size=32):
        for i, frame in zip(batch.indices.tolist(), batch.frames, strict=True):
            sample.append(frame)
            hidden.append(boxes_mask((height, width), people[i]))
    background = median_background(np.stack(sample), np.stack(hidden))
    del sample, hidden

    runs = clean_runs(link_tracks(people), people, width, height)
    run_boxes = np.concatenate([boxes for _, boxes in runs]) if runs else np.zeros((0, 4))
    perspective = fit_perspective(run_boxes[:, 1] + run_boxes[:, 3], run_boxes[:, 3])

    # One sequential pass; a frame is kept only until every run that uses it is cut.
    by_end: dict[int, list[int]] = {}
    for r, (ids, _) in enumerate(runs):
        by_end.setdefault(int(ids[-1]), []).append(r)
    starts = sorted((int(ids[0]), r) for r, (ids, _) in enumerate(runs))
    frames: dict[int, np.ndarray] = {}
    tracks: list[SpriteTrack] = []
    done: set[int] = set()
    for batch in iter_frames(video_path, batch_size=32):
        for f, frame in zip(batch.indices.tolist(), batch.frames, strict=True):
            frames[f] = frame
            for r in by_end.get(f, []):
                ids, boxes = runs[r]
                tr = cut_track(len(tracks), "person", frames, background, ids, boxes, people)
                if tr is not None:
                    tracks.append(tr)
                done.add(r)
            oldest = min((s for s, r in starts if r not in done), default=f + 1)
            for old in [k for k in frames if k < oldest]:
                del frames[old]
        if progress is not None:
            progress(int(batch.indices[-1]) + 1, n)
    if len(tracks) < 2:
        raise VideoError(
            f"only {len(tracks)} clean walking people could be cut from {video_path.name}",
            hint="the source needs people walking alone, unoccluded, for over a second",
        )
    vehicle = _still_vehicle(detections, background, width, height, min_score, len(tracks))
    return SourceBank(background, perspective, tuple(tracks), vehicle, info.fps, fingerprint)


def _still_vehicle(detections, background, width, height, min_score, track_id) -> SpriteTrack | None:
    """The largest vehicle the detector sees in the same place in at least half the frames (a parked van)."""
    from noscope_core.footage.composite.sprites import iou

    boxes = [
        (d.class_name, np.array([d.x * width, d.y * height, d.w * width, d.h * height]))
        for dets in detections
        for d in dets
        if d.class_name in VEHICLE_CLASSES and d.score >= min_score
    ]
    best = None
    for _, box in boxes[:50]:
        x, y, w, h = box
        if x < 2 or y < 2 or x + w > width - 2 or y + h > height - 2:
            continue
        names = Counter(name for name, other in boxes if iou(box, other) > 0.7)
        if sum(names.values()) >= 0.5 * len(detections) and (best is None or w * h > best[1][2] * best[1][3]):
            best = (names.most_common(1)[0][0], box)
    return cut_object(background, best[1], best[0], track_id) if best is not None else None


def bank_key(fingerprint: str, detector_identity: str, min_score: float) -> str:
    return hashlib.sha256(f"{fingerprint}|{detector_identity}|{min_score:g}|v{BANK_VERSION}".encode()).hexdigest()[:20]


def save_bank(bank: SourceBank, path: Path) -> None:
    """One compressed ``.npz`` (written atomically): the cut-outs are flattened into one byte array."""
    tracks = list(bank.people) + ([bank.vehicle] if bank.vehicle is not None else [])
    shapes = np.array([c.shape for t in tracks for c in t.rgba], dtype=np.int32).reshape(-1, 3)
    pixels = np.concatenate([c.reshape(-1) for t in tracks for c in t.rgba])
    meta = [
        {
            "track_id": t.track_id,
            "class_name": t.class_name,
            "speed": t.speed_heights_per_frame,
            "facing": t.facing,
            "loop_len": t.loop_len,
            "still_index": t.still_index,
            "n": len(t),
        }
        for t in tracks
    ]
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(
            tmp,
            background=bank.background,
            perspective=np.array([bank.perspective.slope, bank.perspective.intercept]),
            fps=np.array(bank.fps),
            fingerprint=np.array(bank.source_fingerprint),
            has_vehicle=np.array(bank.vehicle is not None),
            meta=np.array(json.dumps(meta)),
            shapes=shapes,
            pixels=pixels,
            anchors=np.concatenate([t.anchors_px for t in tracks]),
            source_frames=np.concatenate([t.source_frames for t in tracks]),
            source_feet=np.concatenate([t.source_feet_px for t in tracks]),
        )


def load_bank(path: Path) -> SourceBank:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        shapes, pixels = z["shapes"], z["pixels"]
        anchors, frames, feet = z["anchors"], z["source_frames"], z["source_feet"]
        crops, off = [], 0
        for s in shapes:
            size = int(np.prod(s))
            crops.append(pixels[off : off + size].reshape(s))
            off += size
        tracks, v = [], 0
        for m in meta:
            sl = slice(v, v + m["n"])
            tracks.append(
                SpriteTrack(
                    m["track_id"],
                    m["class_name"],
                    tuple(crops[sl]),
                    anchors[sl],
                    frames[sl],
                    feet[sl],
                    float(m["speed"]),
                    int(m["facing"]),
                    int(m["loop_len"]),
                    int(m["still_index"]),
                )
            )
            v += m["n"]
        vehicle = tracks.pop() if bool(z["has_vehicle"]) else None
        slope, intercept = z["perspective"].tolist()
        return SourceBank(
            z["background"],
            Perspective(slope, intercept),
            tuple(tracks),
            vehicle,
            float(z["fps"]),
            str(z["fingerprint"]),
        )


def source_bank(
    video_path: str | Path,
    detector_spec: str = "ssd-mobilenet-v3",
    min_score: float = 0.5,
    cache_root: Path | None = None,
    progress=None,
) -> SourceBank:
    """The bank for ``video_path``, from the cache when it was extracted before (else detect, cut and cache)."""
    from noscope_core.common.paths import cache_dir
    from noscope_core.reference.detect import run_reference
    from noscope_core.reference.detection_cache import DetectionCache
    from noscope_core.reference.detectors import make_detector
    from noscope_core.video.probe import probe_video

    video_path = Path(video_path).expanduser()
    info = probe_video(video_path)
    detector = make_detector(detector_spec)
    root = cache_root if cache_root is not None else cache_dir()
    path = root / "composite" / f"{bank_key(info.fingerprint, detector.identity(), min_score)}.npz"
    if path.is_file():
        try:
            return load_bank(path)
        except (OSError, ValueError, KeyError):
            pass  # unreadable: extract again and overwrite
    cache = DetectionCache(root / "detections", info.fingerprint, detector.identity())
    run = run_reference(video_path, detector, range(info.frame_count), cache, progress=progress is not None)
    bank = build_bank(video_path, run.detections, info.fingerprint, min_score, progress)
    save_bank(bank, path)
    return bank
