"""A worker's local, content-addressed copy of published artifacts: ``<cache>/<digest>/<files>``.

A folder appears by one rename once every file is downloaded and verified, so a reader (a memory-mapped frame
store, say) sees a complete artifact or none; two workers fetching the same digest both finish with the same folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from noscope_core.common.artifacts import sha256_file
from noscope_core.common.errors import ArtifactError
from pipelines.storage.manifest import RemoteManifest


@dataclass(frozen=True)
class LocalCache:
    root: Path

    def folder(self, manifest: RemoteManifest) -> Path:
        return self.root / manifest.digest

    def materialize(self, manifest: RemoteManifest, download: Callable[[str, Path], None]) -> Path:
        """The artifact's local folder, downloading ``manifest``'s blobs (``download(sha256, dest)``) if absent."""
        final = self.folder(manifest)
        if final.is_dir():
            return final
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{manifest.digest[:16]}.", suffix=".tmp", dir=self.root))
        try:
            for f in manifest.files:
                dest = tmp / f.path
                dest.parent.mkdir(parents=True, exist_ok=True)
                download(f.sha256, dest)
                if dest.stat().st_size != f.size_bytes or sha256_file(dest) != f.sha256:
                    raise ArtifactError(
                        f"{manifest.camera_id}/{manifest.asset}: {f.path} arrived corrupt",
                        "the object store holds a damaged blob; re-materialize the asset",
                    )
            os.chmod(tmp, 0o755)
            try:
                os.rename(tmp, final)
            except OSError:
                if not final.is_dir():  # not the benign "another worker was first" case
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return final
