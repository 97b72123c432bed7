"""Each camera's label store (``noscope_core.reference.label_store``) where the assets find it: a local folder under
the artifact root, mirrored to the cluster's artifact root (``NOSCOPE_ARTIFACT_URL``, ``file://`` or ``s3://``) when
one is configured.

The store's files are immutable once written (chunks and compacts with unique names), so two copies merge by
taking the union of their files: :func:`open_store` pulls the published files a worker lacks before it appends,
:func:`publish_store` sends the folder back (content-addressed blobs first, the manifest last, through
``pipelines.storage``). Two workers publishing the same camera's store at the same instant can still drop one
of the two newest chunks from the manifest (the last manifest wins); the chunks stay in the worker's local copy
and the next publish from it sends them again.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.resources import ArtifactStore

if TYPE_CHECKING:  # the code location loads this module; the store's numpy code loads inside steps
    from noscope_core.reference.label_store import LabelStore

ASSET = "label_store"


def open_store(artifacts: ArtifactStore, camera_id: str) -> LabelStore:
    """The camera's label store, with the files published by other workers pulled into the local folder."""
    from noscope_core.reference.label_store import LabelStore

    folder = artifacts.path(camera_id, ASSET)
    remote = artifacts.remote()
    if remote is not None:
        man = remote.manifest(camera_id, ASSET)
        if man is not None:
            _merge_files(remote.materialize(man), folder)
    return LabelStore(folder)


def publish_store(artifacts: ArtifactStore, store: LabelStore, camera_id: str) -> str | None:
    """Publish the local folder to the artifact root (after pulling what others published); its URL, or None
    when the artifacts stay local."""
    remote = artifacts.remote()
    if remote is None:
        return None
    man = remote.manifest(camera_id, ASSET)
    if man is not None:
        _merge_files(remote.materialize(man), store.root)
    summary = store.summary()
    remote.publish(camera_id, ASSET, store.root, {"label_store": str(store.root), **summary.to_dict()})
    return remote.url_of(camera_id, ASSET)


def _merge_files(source: Path, folder: Path) -> None:
    """Copy the store files ``folder`` lacks from ``source``: every name is unique and never rewritten."""
    folder.mkdir(parents=True, exist_ok=True)
    for p in sorted(source.glob("*.json")):
        target = folder / p.name
        if not target.exists():
            tmp = folder / f".{p.name}.pull"
            shutil.copyfile(p, tmp)
            tmp.replace(target)


def record_segments(artifacts: ArtifactStore, camera_id: str, frame_store, labels, detector) -> int:
    """Keep the labelled segments of the camera's training video (train, threshold, test: each labelled whole, so
    ``segment``) in its label store; the detections come from the detection cache labelling filled. Returns the
    frames new to the store."""
    import numpy as np

    from noscope_core.reference.detection_cache import home_detection_cache
    from noscope_core.reference.label_store import from_detection_cache

    cache = home_detection_cache(frame_store.info.fingerprint, detector)
    frames = labels.labels.frame_index[np.asarray(labels.labelled, dtype=bool)]
    store = open_store(artifacts, camera_id)
    added = store.append(from_detection_cache(cache, frame_store.info.path, frames.tolist(), "segment")).added
    publish_store(artifacts, store, camera_id)
    return added
