"""Load a camera's champion cascade in a fresh process that knows only the tracking server's URI: the model's
files come from the S3 bucket through the server (artifact proxying), not from any local folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pipelines.cluster.config import REPO_ROOT, ClusterConfig
from pipelines.cluster.processes import ClusterError

_SCRIPT = """
import json, sys, time, mlflow
name, video = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
load_s = time.perf_counter() - t0
out = model.predict(video)
mv = mlflow.MlflowClient().get_model_version_by_alias(name, "champion")
print(json.dumps({"version": int(mv.version), "source": mv.source, "frames": len(out),
                  "positives": int(out["label"].sum()), "load_s": load_s}))
"""


@dataclass(frozen=True)
class ChampionCheck:
    model_name: str
    version: int
    source: str
    frames: int
    positives: int
    load_s: float
    s3_objects: int  # objects under the bucket's mlflow/ prefix


def load_champion_fresh(cfg: ClusterConfig, camera_id: str, video: Path) -> ChampionCheck:
    name = f"noscope-cascade-{camera_id}"
    # no S3 keys, no Dagster, no artifact root: only where the tracking server is
    keep = ("PATH", "HOME", "LANG", "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "NOSCOPE_HOME")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(MLFLOW_TRACKING_URI=cfg.client_env()["MLFLOW_TRACKING_URI"], PYTHONPATH=str(REPO_ROOT))
    r = subprocess.run(
        [sys.executable, "-c", _SCRIPT, name, str(video)], env=env, capture_output=True, text=True, cwd="/"
    )
    if r.returncode != 0:
        raise ClusterError(f"loading {name}@champion in a fresh process failed: {r.stderr.strip()[-400:]}")
    got = json.loads(r.stdout.strip().splitlines()[-1])
    return ChampionCheck(name, got["version"], got["source"], got["frames"], got["positives"], got["load_s"],
                         count_objects(cfg, "mlflow/"))  # fmt: skip


def count_objects(cfg: ClusterConfig, prefix: str) -> int:
    import boto3
    from botocore.config import Config

    s3 = boto3.client(
        "s3", endpoint_url=cfg.s3_endpoint, aws_access_key_id=cfg.s3_key, aws_secret_access_key=cfg.s3_secret,
        region_name="us-east-1", config=Config(s3={"addressing_style": "path"}),
    )  # fmt: skip
    n = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=cfg.bucket, Prefix=prefix):
        n += page.get("KeyCount", 0)
    return n
