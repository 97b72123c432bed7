"""Dagster resources with local defaults: the camera registry, the artifact store, the reference detector, MLflow.

Every default resolves at run time (not import time) so environment variables set by a test or the Makefile
apply: ``NOSCOPE_CAMERAS`` (registry file), ``NOSCOPE_ARTIFACTS`` (local artifact root), ``NOSCOPE_ARTIFACT_URL``
(a ``file://`` or ``s3://`` root the artifacts are published to, off by default); the MLflow tracker resolves
its own (``NOSCOPE_MLFLOW``, ``MLFLOW_TRACKING_URI``; default ``<repo>/.noscope/mlflow``).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import dagster as dg

from noscope_core.common.atomic import write_json
from noscope_core.common.errors import ArtifactError, QueryError
from noscope_core.common.paths import inside, safe_name
from noscope_core.spec.camera import CameraSpec
from noscope_core.spec.registry import load_cameras
from pipelines.tracking import MlflowTracker

REPO_ROOT = Path(__file__).resolve().parents[1]


def _default(value: str, env: str, fallback: Path) -> Path:
    return Path(value or os.environ.get(env) or fallback).expanduser().resolve()


class CameraRegistry(dg.ConfigurableResource):
    """The YAML camera registry (``cameras.yaml`` at the repo root unless ``path`` or NOSCOPE_CAMERAS say otherwise)."""

    path: str = ""

    def resolved_path(self) -> Path:
        return _default(self.path, "NOSCOPE_CAMERAS", REPO_ROOT / "cameras.yaml")

    def cameras(self) -> dict[str, CameraSpec]:
        """Every camera; an unsafe id or a malformed entry raises QueryError naming it."""
        return load_cameras(self.resolved_path())

    def get(self, camera_id: str) -> CameraSpec:
        cams = self.cameras()
        if camera_id not in cams:
            raise QueryError(
                f"camera {camera_id!r} is not in the registry {self.resolved_path()}",
                f"add it there or pick one of: {', '.join(sorted(cams)) or '(none)'}",
            )
        return cams[camera_id]


class ArtifactStore(dg.ConfigurableResource):
    """Where the stages' artifacts live: ``<root>/<camera_id>/<asset>/...`` (default ``<repo>/.noscope/artifacts``)."""

    root: str = ""
    #: where finished artifacts are published (``file://...`` or ``s3://bucket/prefix``); "" keeps them local only
    root_url: str = ""

    def resolved_root(self) -> Path:
        return _default(self.root, "NOSCOPE_ARTIFACTS", REPO_ROOT / ".noscope" / "artifacts")

    def resolved_url(self) -> str:
        return self.root_url or os.environ.get("NOSCOPE_ARTIFACT_URL", "")

    def remote(self):
        """The published root (``pipelines.storage.RemoteArtifacts``) with its cache beside the local root, or None."""
        url = self.resolved_url()
        if not url:
            return None
        from pipelines.storage import open_root

        return open_root(url, os.environ.get("NOSCOPE_ARTIFACT_CACHE") or self.resolved_root() / ".cache")

    def path(self, camera_id: str, asset: str, *parts: str) -> Path:
        """A path under the camera's folder for ``asset``; ids and parts cannot climb out of the root."""
        return inside(self.resolved_root(), safe_name(camera_id, "camera id"), asset, *parts)


class ManifestIOManager(dg.ConfigurableIOManager):
    """Stores each asset's small JSON-able output dict (paths + key figures) as ``manifest.json`` beside its artifact.

    Only these manifests cross step boundaries: frames, arrays and models stay in the artifact files they name.
    """

    store: ArtifactStore

    def _manifest(self, context: dg.OutputContext | dg.InputContext) -> Path:
        if not context.has_asset_partitions:
            raise ArtifactError(f"asset {context.asset_key.to_user_string()} has no camera partition")
        return self.store.path(context.asset_partition_key, context.asset_key.path[-1], "manifest.json")

    def handle_output(self, context: dg.OutputContext, obj: dict[str, Any]) -> None:
        if not isinstance(obj, dict):
            raise TypeError(f"assets hand on small dicts, got {type(obj).__name__}")
        path = self._manifest(context)
        write_json(path, obj)
        remote = self.store.remote()
        if remote is not None:  # files first, manifest last: a reader never sees half an artifact
            man = remote.publish(context.asset_partition_key, context.asset_key.path[-1], path.parent, obj)
            context.add_output_metadata(
                {
                    "artifact_url": dg.MetadataValue.url(remote.url_of(man.camera_id, man.asset)),
                    "artifact_digest": man.digest,
                    "artifact_bytes": man.size_bytes,
                }
            )

    def load_input(self, context: dg.InputContext) -> dict[str, Any]:
        import json

        path = self._manifest(context)
        remote = self.store.remote()
        if remote is not None:  # another machine may have produced it: read it from the root into the local cache
            fetched = remote.fetch(context.asset_partition_key, context.asset_key.path[-1])
            if fetched is not None:
                return fetched
        if not path.is_file() or remote is not None:
            asset = context.asset_key.path[-1]
            where = remote.url_of(context.asset_partition_key, asset) if remote is not None else path
            raise ArtifactError(
                f"{asset} has not been materialized for camera {context.asset_partition_key!r} ({where} missing)",
                f"materialize {asset} for this camera first (job train_camera)",
            )
        return json.loads(path.read_text())


class ReferenceDetectorResource(dg.ConfigurableResource):
    """Builds the camera's reference detector from its ``reference`` spec; ``reference_fps`` overrides its cost."""

    reference_fps: float | None = None

    def build(self, camera: CameraSpec, video: str | Path | None = None, frame_size: tuple[int, int] | None = None):
        """The reference for ``video`` (default: the camera's training video).

        ``synthetic`` is ground truth bound to one video, so it is resolved to ``synthetic:<video>``.
        """
        from noscope_core.flows.stages import open_reference

        camera = dataclasses.replace(camera, reference_fps=self.fps_for(camera))
        return open_reference(camera, frame_size=frame_size, video=video)

    def spec_for(self, camera: CameraSpec, video: str | Path | None = None) -> str:
        return camera.reference_spec(video)

    def fps_for(self, camera: CameraSpec) -> float | None:
        """The declared reference speed (this resource's override, else the camera's), None to measure it."""
        return self.reference_fps or camera.reference_fps


def default_resources() -> dict[str, Any]:
    """The resource set of the code location; tests and the demo start from it and override what they need."""
    store = ArtifactStore()
    return {
        "cameras": CameraRegistry(),
        "artifacts": store,
        "reference": ReferenceDetectorResource(),
        "mlflow": MlflowTracker(),
        "io_manager": ManifestIOManager(store=store),
    }
