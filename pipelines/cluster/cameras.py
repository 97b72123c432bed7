"""The cluster's own camera registry in the state folder (the repository's cameras.yaml stays as is): synthetic
cameras rendered there, plus, with ``real``, the repository registry's real-pixel cameras (vtest, vtest-long)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from pipelines.cluster.config import REPO_ROOT
from pipelines.cluster.processes import ClusterError

REPO_REGISTRY = REPO_ROOT / "cameras.yaml"


@dataclass(frozen=True)
class DemoCamera:
    camera_id: str
    seed: int
    n_frames: int
    max_epochs: int = 2
    models: tuple[str, ...] = ("c1-f16-d32",)


def demo_cameras(n: int, n_frames: int = 600, max_epochs: int = 2, prefix: str = "synth") -> list[DemoCamera]:
    return [DemoCamera(f"{prefix}-{i + 1}", seed=100 + i, n_frames=n_frames, max_epochs=max_epochs) for i in range(n)]


def real_cameras(source: Path = REPO_REGISTRY) -> list[dict]:
    """The real-pixel cameras of the repository's registry, as entries for the cluster's own.

    Their ``footage_dir`` is dropped: the cluster's daemon runs the new-footage sensor, which must not start
    queries on the developer's footage folders. Each video must exist (``make demo`` makes vtest-long's)."""
    from noscope_core.spec.registry import load_cameras

    specs = load_cameras(source)  # expands ${NOSCOPE_HOME}, checks every field
    out = []
    for entry in _entries(source):
        if entry.get("reference") == "synthetic":
            continue
        video = specs[entry["id"]].video
        if not Path(video).is_file():
            raise ClusterError(
                f"camera {entry['id']}'s video {video} does not exist",
                "make demo-cameras makes the composited camera (and make demo does)",
            )
        out.append({**{k: v for k, v in entry.items() if k != "footage_dir"}, "video": str(video)})
    return out


def write_registry(cameras: list[DemoCamera], video_dir: Path, registry: Path, extra: list[dict] | None = None) -> Path:
    """Render each synthetic camera's video once (160x120, 10 fps, a person coming and going) and list them in
    ``registry``, after the ``extra`` entries (real cameras, see :func:`real_cameras`)."""
    from noscope_core.common.atomic import write_text
    from noscope_core.footage.synthetic.scene import SyntheticScene
    from noscope_core.footage.synthetic.write import write_synthetic_video
    from noscope_core.reference.synthetic_truth import truth_path

    entries = []
    for cam in cameras:
        video = video_dir / f"{cam.camera_id}.avi"
        if not (video.is_file() and truth_path(video).is_file()):
            scene = SyntheticScene(width=160, height=120, fps=10.0, seed=cam.seed, mean_gap_s=4.0, mean_stay_s=3.0)
            write_synthetic_video(video, cam.n_frames, scene)
        entries.append(
            {
                "id": cam.camera_id,
                "video": str(video),
                "object": "person",
                "reference": "synthetic",
                "max_fnr": 0.05,
                "max_fpr": 0.05,
                "split": [0.5, 0.25, 0.25],
                "max_epochs": cam.max_epochs,
                "models": list(cam.models),
            }
        )
    entries = [*(extra or []), *entries]
    # cameras registered before stay registered: the registry sensor would otherwise drop their partitions
    ids = {e["id"] for e in entries}
    kept = [e for e in _entries(registry) if e.get("id") not in ids]
    write_text(registry, yaml.safe_dump({"cameras": kept + entries}, sort_keys=False))
    return registry


def _entries(registry: Path) -> list[dict]:
    if not registry.is_file():
        return []
    return list((yaml.safe_load(registry.read_text()) or {}).get("cameras") or [])


def registered_ids(registry: Path) -> list[str]:
    return [e["id"] for e in _entries(registry)]


def video_of(registry: Path, camera_id: str) -> Path:
    from noscope_core.spec.registry import load_cameras

    return Path(load_cameras(registry)[camera_id].video)
