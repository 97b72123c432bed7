"""What a published artifact is: its files by content hash, and the asset's JSON output with portable paths.

Paths in an asset's output that point into the producer's local artifact folder are stored as
``artifact://<asset>/<path inside it>``, so another machine can resolve them into its own cache.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = 1
SCHEME = "artifact://"
LOCAL_MANIFEST = "manifest.json"  # the IO manager's local copy beside the files: not part of the artifact


@dataclass(frozen=True)
class ArtifactFile:
    path: str  # relative, POSIX separators
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class RemoteManifest:
    camera_id: str
    asset: str
    files: tuple[ArtifactFile, ...]
    payload: dict[str, Any]  # the asset's output, paths encoded as artifact://
    published_utc: str

    @property
    def digest(self) -> str:
        """The artifact's identity: a hash over its files' paths and contents (names the cache folder)."""
        return artifact_digest(self.files)

    @property
    def size_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "camera_id": self.camera_id,
                "asset": self.asset,
                "digest": self.digest,
                "files": [f.__dict__ for f in self.files],
                "payload": self.payload,
                "published_utc": self.published_utc,
            },
            indent=1,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> RemoteManifest:
        raw = json.loads(text)
        files = tuple(ArtifactFile(**f) for f in raw["files"])
        man = cls(raw["camera_id"], raw["asset"], files, raw["payload"], raw["published_utc"])
        if raw.get("digest") != man.digest:
            from noscope_core.common.errors import ArtifactError

            raise ArtifactError(f"manifest of {raw['camera_id']}/{raw['asset']} does not match its own file list")
        return man


def artifact_digest(files: tuple[ArtifactFile, ...]) -> str:
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.path):
        h.update(f"{f.path}\0{f.sha256}\0{f.size_bytes}\n".encode())
    return h.hexdigest()


def list_files(folder: Path) -> list[Path]:
    """The artifact's files: everything under ``folder`` except hidden entries (atomic writers' temporaries)
    and the IO manager's own local manifest."""
    out = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or not p.is_file():
            continue
        if rel.as_posix() == LOCAL_MANIFEST:
            continue
        out.append(p)
    return out


def encode_paths(obj: Any, camera_dir: Path) -> Any:
    """Replace absolute paths under ``camera_dir`` (``<local root>/<camera>``) by ``artifact://<asset>/<rest>``."""
    if isinstance(obj, dict):
        return {k: encode_paths(v, camera_dir) for k, v in obj.items()}
    if isinstance(obj, list):
        return [encode_paths(v, camera_dir) for v in obj]
    if isinstance(obj, str) and obj.startswith("/"):
        p = Path(obj)
        if camera_dir in p.parents:
            return SCHEME + p.relative_to(camera_dir).as_posix()
    return obj


def decode_paths(obj: Any, resolve: Callable[[str], Path]) -> Any:
    """Turn ``artifact://<asset>/<rest>`` back into local paths; ``resolve(asset)`` gives that asset's folder."""
    if isinstance(obj, dict):
        return {k: decode_paths(v, resolve) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode_paths(v, resolve) for v in obj]
    if isinstance(obj, str) and obj.startswith(SCHEME):
        asset, _, rest = obj[len(SCHEME) :].partition("/")
        folder = resolve(asset)
        return str(folder / rest) if rest else str(folder)
    return obj
