"""Reading back the JSON index of a stage's artifact folder, and the hashes that tie a cascade to its files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from noscope_core.common.errors import ArtifactError

#: hex characters of a video fingerprint or a run key used in folder names
FINGERPRINT_CHARS = 16


def read_index(path: str | Path, what: str) -> dict:
    """The JSON at ``path``; a missing or corrupt file is an ArtifactError naming ``what`` it should hold."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{what} index {path} not found", "materialize that stage first")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{what} index {path} is corrupt: {exc}", "re-run that stage") from None


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_hashes(folder: str | Path, pattern: str) -> dict[str, str]:
    """sha256 of every file in ``folder`` matching ``pattern``, by file name."""
    return {p.name: sha256_file(p) for p in sorted(Path(folder).glob(pattern))}


def is_complete(folder: str | Path) -> bool:
    """True when a stage folder was written to the end (its index is the last file of the atomic write)."""
    return (Path(folder) / "index.json").is_file()
