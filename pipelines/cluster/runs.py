"""Single runs through the cluster's run queue: launched as the UI's "Materialize" does (the webserver's GraphQL
``launchRun``, so the daemon dequeues them onto the Celery workers), found when a sensor launched them, and
followed in the PostgreSQL instance to their end (a run retried after a lost worker is followed to its retry)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from pipelines.cluster.backfill import mutate
from pipelines.cluster.processes import ClusterError

LOCATION, REPOSITORY = "noscope", "__repository__"
DONE = ("SUCCESS", "FAILURE", "CANCELED")
#: a retry appears a few seconds after its parent failed (run_retries in dagster.yaml): wait this long for one
RETRY_GRACE_S = 30.0

LAUNCH_RUN = """
mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } ... on InvalidSubsetError { message } } }
"""


@dataclass(frozen=True)
class RunEnd:
    """How a run (or the last of its retries) ended."""

    job: str
    partition: str
    run_id: str
    status: str
    seconds: float
    launched_by: str  # "sensor footage_days_sensor", "graphql"
    worker_steps: tuple[tuple[str, str], ...] = ()  # (step key, Celery worker)


def partition_tags(camera_id: str, day: str | None = None) -> dict[str, str]:
    """The tags that put a run on a camera partition, or on a camera x day one (the key's string is the
    dimensions in name order, camera before day, plus one tag per dimension, as the UI sets them)."""
    if day is None:
        return {"dagster/partition": camera_id}
    return {
        "dagster/partition": f"{camera_id}|{day}",
        "dagster/partition/camera": camera_id,
        "dagster/partition/day": day,
    }


def launch_run(webserver_port: int, job: str, tags: dict[str, str]) -> str:
    """Queue one run of ``job`` with ``tags`` through the webserver; its run id."""
    params = {
        "selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": job},
        "runConfigData": {},
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
    }
    res = mutate(webserver_port, LAUNCH_RUN, {"p": params}, "launchRun", "LaunchRunSuccess", f"the {job} run")
    return res["run"]["runId"]


def sensor_run(instance, job: str, partition: str, sensor: str, timeout_s: float) -> str:
    """The id of the newest run of ``job`` on ``partition`` that ``sensor`` launched (waits for it)."""
    import dagster as dg

    deadline = time.monotonic() + timeout_s
    tags = {"dagster/partition": partition, "dagster/sensor_name": sensor}
    while time.monotonic() < deadline:
        recs = instance.get_run_records(dg.RunsFilter(job_name=job, tags=tags), limit=1)
        if recs:
            return recs[0].dagster_run.run_id
        time.sleep(3)
    raise ClusterError(
        f"{sensor} launched no {job} run for {partition} in {timeout_s:.0f} s",
        "is the daemon up and the sensor running? see .cluster/logs/dagster-daemon.log",
    )


def wait_run(instance, run_id: str, timeout_s: float, log=print) -> tuple[str, str, float]:
    """(the run id that ended, its status, seconds from its start to its end), following retries."""
    import dagster as dg

    deadline, last = time.monotonic() + timeout_s, ""
    while time.monotonic() < deadline:
        rec = instance.get_run_record_by_id(run_id)
        if rec is None:
            raise ClusterError(f"run {run_id} is not in the instance", "was it launched on another stack?")
        status = rec.dagster_run.status.value
        if status != last:
            log(f"    run {run_id[:8]} {rec.dagster_run.job_name}: {status}")
            last = status
        if status in DONE:
            retry = instance.get_run_records(dg.RunsFilter(tags={"dagster/parent_run_id": run_id}), limit=1)
            if retry:
                run_id, last = retry[0].dagster_run.run_id, ""
                continue
            ended = rec.end_time or time.time()
            if status == "SUCCESS" or time.time() - ended > RETRY_GRACE_S:
                return run_id, status, ended - (rec.start_time or ended)
        time.sleep(3)
    raise ClusterError(f"run {run_id} did not finish in {timeout_s:.0f} s", "see the workers' logs in .cluster/logs")
