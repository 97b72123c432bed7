"""Two small synthetic cameras through the real stack: materializations in the PostgreSQL instance, steps on both
Celery workers, MLflow runs through the tracking server, artifacts and models as S3 objects, the champion loaded
in a fresh process."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipelines.assets import ASSETS

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

CAMERAS = ("it-1", "it-2")
ASSET_NAMES = [a.key.path[-1] for a in ASSETS]


@pytest.fixture(scope="module")
def demo(stack, run_env):
    """``python -m pipelines.cluster.demo`` for two tiny cameras (200 frames, one epoch)."""
    r = subprocess.run(
        [sys.executable, "-m", "pipelines.cluster.demo", "--cameras", "2", "--frames", "200", "--max-epochs", "1",
         "--prefix", "it", "--timeout", "900"],
        env=run_env(stack), capture_output=True, text=True, timeout=1000,
    )  # fmt: skip
    assert r.returncode == 0, f"cluster demo failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


def _s3(cfg):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", endpoint_url=cfg.s3_endpoint, aws_access_key_id=cfg.s3_key, aws_secret_access_key=cfg.s3_secret,
        region_name="us-east-1", config=Config(s3={"addressing_style": "path"}),
    )  # fmt: skip


def test_every_asset_is_materialized_in_the_postgres_instance_with_its_s3_url(demo, cluster_env):
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        for cam in CAMERAS:
            for asset in ASSET_NAMES:
                records = instance.fetch_materializations(
                    dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[cam]), limit=1
                ).records
                assert records, f"{asset} not materialized for {cam}"
                meta = records[0].asset_materialization.metadata
                assert meta["artifact_url"].value == f"s3://{cluster_env.bucket}/artifacts/{cam}/{asset}/manifest.json"


def test_steps_ran_on_both_workers_and_the_queues_routed_labelling_and_training(demo, cluster_env):
    import dagster as dg

    from pipelines.cluster.observe import step_workers

    with dg.DagsterInstance.get() as instance:
        runs = instance.get_run_records(dg.RunsFilter(tags={"noscope/trigger": "cluster-demo"}))
        placed = [p for r in runs for p in step_workers(instance, r.dagster_run.run_id)]
    workers = {p.worker.split("@")[0] for p in placed}
    assert workers == {"w1", "w2"}
    assert {p.worker.split("@")[0] for p in placed if p.step_key == "reference_labels"} == {"w1"}
    assert {p.worker.split("@")[0] for p in placed if p.step_key == "specialized_models"} == {"w2"}
    assert "at most 2 runs at once" in demo


def test_mlflow_runs_and_models_are_on_the_tracking_server_with_artifacts_in_s3(demo, cluster_env):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=cluster_env.client_env()["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("noscope")
    for cam in CAMERAS:
        runs = client.search_runs([exp.experiment_id], f"tags.camera = '{cam}' and attributes.status = 'FINISHED'")
        assert runs, f"no finished MLflow run for {cam}"
        mv = client.get_model_version_by_alias(f"noscope-cascade-{cam}", "champion")
        assert mv.source.startswith("mlflow-artifacts:/")
    s3 = _s3(cluster_env)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=cluster_env.bucket, Prefix="mlflow/")["Contents"]]
    assert any(k.endswith("MLmodel") for k in keys)
    for cam in CAMERAS:
        for asset in ASSET_NAMES:
            s3.head_object(Bucket=cluster_env.bucket, Key=f"artifacts/{cam}/{asset}/manifest.json")
    assert s3.list_objects_v2(Bucket=cluster_env.bucket, Prefix="artifacts/blobs/")["KeyCount"] > 0


def test_the_champion_loads_in_a_fresh_process_through_the_server(demo, cluster_env):
    from pipelines.cluster.champion import load_champion_fresh

    check = load_champion_fresh(cluster_env, "it-1", cluster_env.state / "videos" / "it-1.avi")
    assert check.frames == 200 and check.source.startswith("mlflow-artifacts:/") and check.s3_objects > 0


def test_the_watchdog_runs_beside_the_workers_and_its_sweeps_do_not_fail(demo, cluster_env):
    from pipelines.cluster.processes import running_pid

    assert running_pid(cluster_env.pid_dir, "watchdog") is not None
    assert "sweep failed" not in (cluster_env.log_dir / "watchdog.log").read_text()
