"""Garbage collection of the artifact root: delete the blobs no manifest names any more.

Publishing a new version of an asset writes new blobs and replaces its manifest; the old version's blobs stay
(and, on ``file://``, so do ``.part`` files of writers killed mid-copy). Mark and sweep: read every manifest, keep
what they name, delete the rest, but only blobs older than ``min_age_s``, because a publish in progress uploads
its blobs before its manifest. A publish also reuses a blob already there without rewriting it, so a collection
must not run beside one: the cluster's ``gc`` command refuses while a Dagster run is in progress.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from noscope_core.common.errors import ArtifactError
from pipelines.storage.manifest import RemoteManifest
from pipelines.storage.remote import RemoteArtifacts

#: blobs younger than this are kept whatever the manifests say (a publish may be between blobs and manifest)
DEFAULT_MIN_AGE_S = 3600.0


@dataclass(frozen=True)
class StoredObject:
    key: str
    size_bytes: int
    age_s: float

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class GcReport:
    manifests: int
    kept: int  # blobs named by a manifest
    young: tuple[StoredObject, ...]  # unnamed but too recent to delete
    garbage: tuple[StoredObject, ...]  # unnamed blobs and stale .part files: deleted unless a dry run
    deleted: bool

    @property
    def garbage_bytes(self) -> int:
        return sum(o.size_bytes for o in self.garbage)

    def describe(self) -> str:
        verb = "deleted" if self.deleted else "would delete (dry run; --delete to delete)"
        return (
            f"{self.manifests} manifests name {self.kept} blobs; {verb} {len(self.garbage)} objects "
            f"({self.garbage_bytes / 1e6:.1f} MB); kept {len(self.young)} unnamed objects younger than the minimum age"
        )


def split_garbage(
    objects: Iterable[StoredObject], named: set[str], min_age_s: float
) -> tuple[list[StoredObject], list[StoredObject]]:
    """(garbage, young): objects under ``blobs/`` whose name no manifest lists, old enough to go, or not yet.

    A ``.part`` file (a ``file://`` writer's temporary) is never named by a manifest and follows the same age rule.
    """
    garbage, young = [], []
    for o in objects:
        if o.name in named:
            continue
        (garbage if o.age_s >= min_age_s else young).append(o)
    return garbage, young


def named_blobs(remote: RemoteArtifacts) -> tuple[int, set[str]]:
    """(number of manifests, every sha256 they name). A manifest that cannot be read stops the collection."""
    keys = remote.fs.glob(remote._key("*", "*", "manifest.json"))
    named: set[str] = set()
    for key in keys:
        try:
            man = RemoteManifest.from_json(remote.fs.cat_file(key).decode())
        except (ValueError, KeyError, ArtifactError) as err:
            raise ArtifactError(
                f"manifest {key} cannot be read ({err}); nothing was collected",
                "a collection must know every blob in use: repair or remove that manifest first",
            ) from err
        named.update(f.sha256 for f in man.files)
    return len(keys), named


def stored_blobs(remote: RemoteArtifacts, now_s: float | None = None) -> list[StoredObject]:
    now_s = time.time() if now_s is None else now_s
    root = remote._key("blobs")
    remote.fs.invalidate_cache(root)
    if not remote.fs.exists(root):
        return []
    out = []
    for key, info in remote.fs.find(root, detail=True).items():
        out.append(StoredObject(key, int(info.get("size") or 0), now_s - _mtime(info)))
    return out


def _mtime(info: dict) -> float:
    if "LastModified" in info:  # s3fs: a datetime
        return info["LastModified"].timestamp()
    return float(info.get("mtime") or info.get("created") or 0.0)


def collect(remote: RemoteArtifacts, dry_run: bool = True, min_age_s: float = DEFAULT_MIN_AGE_S) -> GcReport:
    """Find (and unless ``dry_run``, delete) the blobs of ``remote`` no manifest names, older than ``min_age_s``.

    The blobs are listed before the manifests are read, so a blob written after the listing is not looked at."""
    blobs = stored_blobs(remote)
    n_manifests, named = named_blobs(remote)
    garbage, young = split_garbage(blobs, named, min_age_s)
    if garbage and not dry_run:
        remote.fs.rm([o.key for o in garbage])
    return GcReport(n_manifests, len(named), tuple(young), tuple(garbage), deleted=not dry_run)
