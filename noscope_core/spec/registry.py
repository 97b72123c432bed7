"""The camera registry: ``cameras.yaml`` entries become ``CameraSpec``s (``noscope_core.spec.camera``).

Each camera becomes a Dagster partition. Keys left out take the spec's defaults.
"""

from __future__ import annotations

import os
from pathlib import Path

from noscope_core.common.errors import QueryError
from noscope_core.common.paths import noscope_home
from noscope_core.spec.camera import DEFAULT_REFERENCE, CameraSpec, SplitSpec, Targets, TrainingOptions
from noscope_core.spec.query import ROI, Query

VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".mpeg")


def new_footage(camera: CameraSpec) -> list[Path]:
    """Video files in the camera's ``footage_dir`` (sorted), excluding the training video itself."""
    if camera.footage_dir is None or not camera.footage_dir.is_dir():
        return []
    return sorted(
        p
        for p in camera.footage_dir.iterdir()
        if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES and p.resolve() != camera.video.resolve()
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
        min_score=float(d.get("min_score", Query.min_score)),
        smooth_frames=int(d.get("smooth_frames", Query.smooth_frames)),
    )
    footage = d.get("footage_dir")
    targets = Targets(
        max_fnr=float(d.get("max_fnr", Targets.max_fnr)),
        max_fpr=float(d.get("max_fpr", Targets.max_fpr)),
        # a missing key means the default confidence; an explicit null asks for NoScope's point rule
        confidence=d["confidence"] if "confidence" in d else Targets.confidence,
    )
    split = SplitSpec(
        fractions=d.get("split", SplitSpec.fractions),
        blocks=int(d["split_blocks"]) if d.get("split_blocks") else None,
    )
    training = TrainingOptions(
        max_epochs=int(d.get("max_epochs") or TrainingOptions.max_epochs),
        seed=int(d.get("seed", TrainingOptions.seed)),
        models=tuple(d["models"]) if d.get("models") else None,
        decodings=d.get("decodings") or (),
    )
    block = d.get("training")
    if block is not None:  # ``training: {decodings: [lr2, nlf], max_epochs: 6}``; the flat keys are older spellings
        if not isinstance(block, dict):
            raise QueryError(
                f"camera {cam_id}: training must be a mapping, got {block!r}", "e.g. training: {decodings: [lr2]}"
            )
        both = sorted(k for k in block if k in d)
        if both:
            raise QueryError(f"camera {cam_id}: {', '.join(both)} given both at the top and under training", "keep one")
        training = TrainingOptions.from_dict({**training.to_dict(), **block})
    return CameraSpec(
        camera_id=cam_id,
        video=video,
        query=query,
        reference=str(d.get("reference", DEFAULT_REFERENCE)),
        reference_fps=float(d["reference_fps"]) if d.get("reference_fps") else None,
        targets=targets,
        split=split,
        training=training,
        footage_dir=_expand(str(footage), base) if footage else None,
        max_frames=int(d["max_frames"]) if d.get("max_frames") else None,
        footage_frames=_number(d, "footage_frames", cam_id),
        footage_hours=_number(d, "footage_hours", cam_id),
        planner_estimate=str(d["planner_estimate"]) if d.get("planner_estimate") is not None else None,
        extra={k: v for k, v in d.items() if k not in _KNOWN},
    )


_KNOWN = {
    "id", "video", "object", "roi", "min_score", "smooth_frames", "reference", "reference_fps",
    "max_fnr", "max_fpr", "split", "split_blocks", "confidence", "footage_dir", "max_frames",
    "max_epochs", "seed", "models", "decodings", "training", "footage_frames", "footage_hours",
    "planner_estimate",
}  # fmt: skip


def _number(d: dict, key: str, cam_id: str):
    """A declared number (checked by CameraSpec), or None when the key is absent."""
    value = d.get(key)
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    raise QueryError(f"camera {cam_id}: {key} must be a number, got {value!r}", f"e.g. {key}: 6")


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
