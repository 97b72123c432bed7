"""Publish a local artifact folder to the root and fetch it back, atomically from a reader's point of view.

Layout under the root URL::

    blobs/<sha[:2]>/<sha256>                  every file, by content (unchanged files are not sent again)
    <camera>/<asset>/manifest.json            written last: an artifact without it does not exist

On S3 an object appears whole or not at all (one PUT, or a multipart upload once completed); on ``file://`` a blob
is written under a temporary name and renamed into place. The manifest only names blobs that are complete, so a writer killed at any point leaves the previous version readable.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from noscope_core.common.artifacts import sha256_file
from noscope_core.common.errors import ArtifactError
from noscope_core.common.paths import safe_name
from pipelines.storage import root as root_mod
from pipelines.storage.cache import LocalCache
from pipelines.storage.manifest import (
    ArtifactFile,
    RemoteManifest,
    decode_paths,
    encode_paths,
    list_files,
)


@dataclass
class RemoteArtifacts:
    """The artifact root at ``url`` seen from this machine, with ``cache`` as its local copy."""

    url: str
    cache: LocalCache
    _fs: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.root = root_mod.RootURL.parse(self.url)

    @property
    def fs(self):
        if self._fs is None:
            self._fs = root_mod.filesystem(self.root)
        return self._fs

    def _key(self, *parts: str) -> str:
        return "/".join([self.root.path, *parts])

    def blob_key(self, sha256: str) -> str:
        return self._key("blobs", sha256[:2], sha256)

    def manifest_key(self, camera_id: str, asset: str) -> str:
        return self._key(safe_name(camera_id, "camera id"), safe_name(asset, "asset"), "manifest.json")

    def url_of(self, camera_id: str, asset: str) -> str:
        return f"{self.root.protocol}://{self.manifest_key(camera_id, asset)}"

    def publish(self, camera_id: str, asset: str, folder: Path, payload: dict[str, Any]) -> RemoteManifest:
        """Upload ``folder`` (the asset's local artifact folder) and then its manifest; returns the manifest.

        Paths in ``payload`` under ``folder.parent`` (the camera's local folder) become ``artifact://`` paths.
        """
        files = []
        for p in list_files(folder) if folder.is_dir() else []:
            sha = sha256_file(p)
            files.append(ArtifactFile(p.relative_to(folder).as_posix(), sha, p.stat().st_size))
            self._put_blob(p, sha)
        man = RemoteManifest(
            camera_id=camera_id,
            asset=asset,
            files=tuple(files),
            payload=encode_paths(payload, folder.parent.resolve()),
            published_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        self._put_bytes(self.manifest_key(camera_id, asset), man.to_json().encode())
        return man

    def _put_blob(self, path: Path, sha256: str) -> None:
        key = self.blob_key(sha256)
        if self._exists(key):
            return
        if self.root.protocol == "s3":
            self.fs.put_file(str(path), key)  # one PUT, or a multipart upload that appears only when completed
            return
        tmp = f"{key}.{os.getpid()}.{uuid.uuid4().hex}.part"
        self.fs.put_file(str(path), tmp)
        os.replace(tmp, key)

    def _put_bytes(self, key: str, data: bytes) -> None:
        if self.root.protocol == "s3":
            self.fs.pipe_file(key, data)  # one PUT: atomic on S3
            return
        tmp = f"{key}.{os.getpid()}.{uuid.uuid4().hex}.part"
        self.fs.pipe_file(tmp, data)
        os.replace(tmp, key)

    def _exists(self, key: str) -> bool:
        self.fs.invalidate_cache(key)
        return self.fs.exists(key)

    def manifest(self, camera_id: str, asset: str) -> RemoteManifest | None:
        """The published manifest, or None when the asset was never (completely) published."""
        try:
            text = self.fs.cat_file(self.manifest_key(camera_id, asset))
        except FileNotFoundError:
            return None
        return RemoteManifest.from_json(text.decode())

    def materialize(self, manifest: RemoteManifest) -> Path:
        """The artifact's files in the local cache (downloaded once per digest)."""
        return self.cache.materialize(manifest, self._download)

    def _download(self, sha256: str, dest: Path) -> None:
        try:
            self.fs.get_file(self.blob_key(sha256), str(dest))
        except FileNotFoundError as err:
            raise ArtifactError(
                f"blob {sha256[:12]} named by a manifest is missing from {self.url}",
                "the object store lost data or was cleaned by hand; re-materialize the asset",
            ) from err

    def fetch(self, camera_id: str, asset: str) -> dict[str, Any] | None:
        """The asset's output with every ``artifact://`` path resolved into the local cache; None if absent.

        A path into another asset of the same camera (the cascade names the models folder) resolves to that
        asset's currently published version.
        """
        man = self.manifest(camera_id, asset)
        if man is None:
            return None
        folders = {asset: self.materialize(man)}

        def resolve(other: str) -> Path:
            if other not in folders:
                dep = self.manifest(camera_id, other)
                if dep is None:
                    raise ArtifactError(
                        f"{asset} of camera {camera_id!r} names {other}, which is not published",
                        f"materialize {other} for this camera first",
                    )
                folders[other] = self.materialize(dep)
            return folders[other]

        return decode_paths(man.payload, resolve)


def open_root(url: str, cache_dir: str | Path) -> RemoteArtifacts:
    return RemoteArtifacts(url=url, cache=LocalCache(Path(cache_dir).expanduser().resolve()))
