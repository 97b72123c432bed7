"""Where NoScope keeps fetched assets and caches: ``$NOSCOPE_HOME`` (default ``~/.cache/noscope``)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from noscope_core.common.errors import QueryError

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def noscope_home() -> Path:
    return Path(os.environ.get("NOSCOPE_HOME", Path.home() / ".cache" / "noscope")).expanduser().resolve()


def videos_dir() -> Path:
    return noscope_home() / "videos"


def models_dir() -> Path:
    return noscope_home() / "models"


def cache_dir() -> Path:
    return noscope_home() / "cache"


def default_video() -> Path:
    return videos_dir() / "vtest.avi"


def safe_name(name: str, what: str = "name") -> str:
    """Return ``name`` if it is safe as a single path component, else raise a clear error."""
    if not _SAFE_NAME.match(name) or name in {".", ".."}:
        raise QueryError(
            f"invalid {what} {name!r}",
            "use 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit",
        )
    return name


def inside(root: Path, *parts: str) -> Path:
    """Join ``parts`` under ``root`` and refuse any result that escapes it."""
    root = root.resolve()
    path = root.joinpath(*parts).resolve()
    if path != root and root not in path.parents:
        raise QueryError(f"path {path} escapes the artifact root {root}")
    return path
