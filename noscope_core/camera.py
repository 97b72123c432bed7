"""A camera: where its footage is, what to look for, which reference to trust and the error budget.

Cameras are listed in a YAML registry (``cameras.yaml``); each becomes a Dagster partition.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from noscope_core.errors import QueryError
from noscope_core.paths import noscope_home, safe_name
from noscope_core.query import ROI, Query, parse_split, parse_target

VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".mpeg")


@dataclass(frozen=True)
class CameraSpec:
    camera_id: str
    video: Path  # the footage the cascade is trained on (split into train / threshold / test)
    query: Query
    reference: str = "ssd-mobilenet-v3"
    reference_fps: float | None = None
    max_fnr: float = 0.01
    max_fpr: float = 0.01
    split: tuple[float, float, float] = (0.5, 0.25, 0.25)
    confidence: float | None = None  # targets must hold at this confidence (Clopper-Pearson); None: point estimates
    split_blocks: int | None = None  # None: automatic (see noscope_core.split); 1 = NoScope's consecutive split
    footage_dir: Path | None = None  # new footage arrives here; the sensor queries every new file
    max_frames: int | None = None  # decode at most this many frames (for quick runs)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        safe_name(self.camera_id, "camera id")
        parse_target("max_fnr", self.max_fnr)
        parse_target("max_fpr", self.max_fpr)

    def to_dict(self) -> dict:
        return {
            "camera_id": self.camera_id,
            "video": str(self.video),
            "query": self.query.to_dict(),
            "reference": self.reference,
            "reference_fps": self.reference_fps,
            "max_fnr": self.max_fnr,
            "max_fpr": self.max_fpr,
            "split": list(self.split),
            "split_blocks": self.split_blocks,
            "confidence": self.confidence,
            "footage_dir": str(self.footage_dir) if self.footage_dir else None,
            "max_frames": self.max_frames,
        }

    def new_footage(self) -> list[Path]:
        """Video files in ``footage_dir`` (sorted), excluding the training video itself."""
        if self.footage_dir is None or not self.footage_dir.is_dir():
            return []
        return sorted(
            p
            for p in self.footage_dir.iterdir()
            if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES and p.resolve() != self.video.resolve()
        )


def _expand(value: str, base: Path) -> Path:
    env = dict(os.environ)
    env.setdefault("NOSCOPE_HOME", str(noscope_home()))
    text = value
    for k, v in env.items():
        text = text.replace("${" + k + "}", v)
    path = Path(os.path.expanduser(text))
    return path if path.is_absolute() else (base / path)


def camera_from_dict(d: dict, base: Path = Path(".")) -> CameraSpec:
    try:
        cam_id = str(d["id"])
        video = _expand(str(d["video"]), base)
        obj = str(d["object"])
    except KeyError as exc:
        raise QueryError(
            f"camera entry {d!r} lacks {exc.args[0]!r}", "each camera needs id, video and object"
        ) from None
    query = Query(
        object_class=obj,
        roi=ROI.parse(d.get("roi")),
        min_score=float(d.get("min_score", 0.5)),
        smooth_frames=int(d.get("smooth_frames", 1)),
    )
    footage = d.get("footage_dir")
    return CameraSpec(
        camera_id=cam_id,
        video=video,
        query=query,
        reference=str(d.get("reference", "ssd-mobilenet-v3")),
        reference_fps=float(d["reference_fps"]) if d.get("reference_fps") else None,
        max_fnr=float(d.get("max_fnr", 0.01)),
        max_fpr=float(d.get("max_fpr", 0.01)),
        split=parse_split(d.get("split", (0.5, 0.25, 0.25))),
        split_blocks=int(d["split_blocks"]) if d.get("split_blocks") else None,
        confidence=float(d["confidence"]) if d.get("confidence") else None,
        footage_dir=_expand(str(footage), base) if footage else None,
        max_frames=int(d["max_frames"]) if d.get("max_frames") else None,
        extra={k: v for k, v in d.items() if k not in _KNOWN},
    )


_KNOWN = {
    "id", "video", "object", "roi", "min_score", "smooth_frames", "reference", "reference_fps",
    "max_fnr", "max_fpr", "split", "split_blocks", "confidence", "footage_dir", "max_frames",
}  # fmt: skip


def load_cameras(path: str | os.PathLike[str]) -> dict[str, CameraSpec]:
    """Parse a camera registry; relative paths are relative to the file. Duplicate ids are an error."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise QueryError(f"camera registry {path} not found", "create it or set NOSCOPE_CAMERAS")
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise QueryError(f"camera registry {path} is not valid YAML: {exc}") from None
    entries = doc.get("cameras", []) if isinstance(doc, dict) else []
    cams: dict[str, CameraSpec] = {}
    for entry in entries:
        cam = camera_from_dict(entry, base=path.parent)
        if cam.camera_id in cams:
            raise QueryError(f"camera id {cam.camera_id!r} appears twice in {path}")
        cams[cam.camera_id] = cam
    return cams
