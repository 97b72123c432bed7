"""Which cascade answers a camera's days: the camera's ``optimized_cascade``, until a nightly challenger wins.

A won duel (``night_challenger``) writes ``<artifacts>/<camera>/champion/current.json`` atomically: the
challenger's cascade, its registered version, the day it won on and why. ``day_answers`` and the next night's
duel read it through :func:`current`. The record names the ``optimized_cascade`` it took over from (the sha256 of
its ``cascade.json``): when the camera is trained again from scratch, that cascade is new and the record no longer
applies (the registry's own policy decides that champion).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pipelines.resources import ArtifactStore

FOLDER = "champion"


def _sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def record_path(artifacts: ArtifactStore, camera_id: str) -> Path:
    return artifacts.path(camera_id, FOLDER, "current.json")


def current(artifacts: ArtifactStore, camera_id: str, optimized_cascade: dict) -> dict:
    """The champion as an ``optimized_cascade``-shaped manifest (``cascade_json``, ``models_dir``, ``dd_dir``,
    ``registered``), plus ``source``: ``"optimized_cascade"`` or ``"challenger of <day>"``."""
    path = record_path(artifacts, camera_id)
    base = {**optimized_cascade, "source": "optimized_cascade"}
    if not path.is_file():
        return base
    rec = json.loads(path.read_text())
    if (
        rec.get("base_cascade_sha") != _sha(optimized_cascade["cascade_json"])
        or not Path(rec["cascade_json"]).is_file()
    ):
        return base  # the camera was trained again since (or the winner's folder is gone): its cascade answers
    return {
        **optimized_cascade,
        "cascade_json": rec["cascade_json"],
        "models_dir": rec.get("models_dir"),
        "dd_dir": rec.get("dd_dir"),
        "registered": rec.get("registered") or {"version": None},
        "source": f"challenger of {rec['day']}",
    }


def promote(artifacts: ArtifactStore, camera_id: str, optimized_cascade: dict, winner: dict) -> Path:
    """Make ``winner`` (``cascade_json``, ``models_dir``, ``dd_dir``, ``registered``, ``day``, ``reason``) the
    camera's champion; one atomic write."""
    from noscope_core.common.atomic import write_json

    path = record_path(artifacts, camera_id)
    write_json(path, {**winner, "base_cascade_sha": _sha(optimized_cascade["cascade_json"])})
    return path
