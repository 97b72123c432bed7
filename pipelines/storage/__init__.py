"""Artifacts beyond one disk: a URL-addressed artifact root (``file://`` or ``s3://``) through fsspec.

The engine keeps writing to local folders; this layer publishes a finished folder to the root (content-addressed
blobs first, the manifest last) and materializes a published artifact into a worker's local cache;
``collect`` deletes the blobs no manifest names any more.
"""

from pipelines.storage.cache import LocalCache
from pipelines.storage.manifest import ArtifactFile, RemoteManifest
from pipelines.storage.remote import RemoteArtifacts, open_root

__all__ = ["ArtifactFile", "LocalCache", "RemoteArtifacts", "RemoteManifest", "open_root"]
