"""A URL names the artifact root: ``file:///abs/folder`` or ``s3://bucket/prefix``, opened as an fsspec filesystem.

S3 settings come from the environment the way every S3 client reads them (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``) plus the endpoint of an S3-compatible server, which botocore
would not find alone: ``NOSCOPE_S3_ENDPOINT_URL``, else ``AWS_ENDPOINT_URL``, else ``MLFLOW_S3_ENDPOINT_URL``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from noscope_core.common.errors import ArtifactError

ENDPOINT_ENVS = ("NOSCOPE_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL")


@dataclass(frozen=True)
class RootURL:
    """A parsed artifact root: the fsspec protocol and the path under it (no trailing slash)."""

    url: str
    protocol: str
    path: str

    @classmethod
    def parse(cls, url: str) -> RootURL:
        if "://" not in url:
            raise ArtifactError(
                f"artifact root {url!r} is not a URL", "say file:///absolute/folder or s3://bucket/prefix"
            )
        protocol, rest = url.split("://", 1)
        if protocol not in ("file", "s3"):
            raise ArtifactError(f"artifact root {url!r} uses {protocol}://", "use file:// or s3://")
        rest = rest.rstrip("/")
        if protocol == "file" and not rest.startswith("/"):
            raise ArtifactError(f"artifact root {url!r} is not absolute", "say file:///absolute/folder")
        if protocol == "s3" and not rest:
            raise ArtifactError(f"artifact root {url!r} names no bucket", "say s3://bucket/prefix")
        return cls(url=url, protocol=protocol, path=rest)


def s3_options(env: dict[str, str] | None = None) -> dict[str, Any]:
    """s3fs options for an S3-compatible server: its endpoint, path-style addressing, no retry storm."""
    env = dict(os.environ if env is None else env)
    opts: dict[str, Any] = {"config_kwargs": {"s3": {"addressing_style": "path"}, "retries": {"max_attempts": 3}}}
    endpoint = next((env[k] for k in ENDPOINT_ENVS if env.get(k)), None)
    if endpoint:
        opts["client_kwargs"] = {"endpoint_url": endpoint, "region_name": env.get("AWS_DEFAULT_REGION", "us-east-1")}
    return opts


def filesystem(root: RootURL):
    """The fsspec filesystem of ``root`` (s3fs needs the ``[cluster]`` extra)."""
    import fsspec

    if root.protocol == "file":
        return fsspec.filesystem("file", auto_mkdir=True)
    try:
        return fsspec.filesystem("s3", **s3_options())
    except ImportError as err:
        raise ArtifactError(
            f"artifact root {root.url} needs s3fs, which is not installed", "pip install -e '.[cluster]'"
        ) from err
