"""Backfill cameras through the run queue (the webserver's GraphQL API, as the UI's backfill button does) and
follow the runs in the PostgreSQL instance until every camera has finished."""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass

from pipelines.cluster.processes import ClusterError

LAUNCH = """
mutation($names: [String!]!) {
  launchPartitionBackfill(backfillParams: {
    selector: {partitionSetName: "train_camera_partition_set",
               repositorySelector: {repositoryLocationName: "noscope", repositoryName: "__repository__"}},
    partitionNames: $names, tags: [{key: "noscope/trigger", value: "cluster-demo"}]}) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on PartitionSetNotFoundError { message }
  }
}
"""


@dataclass(frozen=True)
class RunSpan:
    run_id: str
    camera_id: str
    status: str
    start_s: float | None
    end_s: float | None
    retry_of: str | None


def mutate(webserver_port: int, query: str, variables: dict, field: str, success: str, what: str) -> dict:
    """Post a GraphQL mutation to the local webserver; its ``field`` result, which must be of type ``success``
    (else a one-line error naming ``what`` was refused)."""
    body = json.dumps({"query": query, "variables": variables}).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{webserver_port}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310 - our own local webserver
        out = json.loads(r.read())
    res = (out.get("data") or {}).get(field) or {}
    if res.get("__typename") != success:
        raise ClusterError(f"{what} was refused: {res or out.get('errors')}", "see the webserver's log")
    return res


def launch_backfill(webserver_port: int, cameras: list[str]) -> str:
    res = mutate(webserver_port, LAUNCH, {"names": cameras}, "launchPartitionBackfill", "LaunchBackfillSuccess",
                 "the backfill")  # fmt: skip
    return res["backfillId"]


def runs_of(instance, tags: dict[str, str]) -> list[RunSpan]:
    import dagster as dg

    spans = []
    for rec in instance.get_run_records(dg.RunsFilter(tags=tags)):
        run = rec.dagster_run
        spans.append(
            RunSpan(
                run.run_id,
                run.tags.get("dagster/partition", "?"),
                run.status.value,
                rec.start_time,
                rec.end_time,
                run.tags.get("dagster/parent_run_id"),
            )
        )
    return sorted(spans, key=lambda s: s.start_s or float("inf"))


def wait_for_cameras(instance, backfill_id: str, cameras: list[str], timeout_s: float, log=print) -> list[RunSpan]:
    """Until each camera has a successful run, or a failed run with no retry coming; the backfill's runs."""
    from dagster import DagsterRunStatus

    done_states = {DagsterRunStatus.SUCCESS.value, DagsterRunStatus.FAILURE.value, DagsterRunStatus.CANCELED.value}
    deadline, last = time.monotonic() + timeout_s, ""
    while time.monotonic() < deadline:
        spans = runs_of(instance, {"dagster/backfill": backfill_id})
        by_cam = {c: [s for s in spans if s.camera_id == c] for c in cameras}
        status = "  ".join(f"{c}:{'/'.join(s.status[:4] for s in ss) or '-'}" for c, ss in by_cam.items())
        if status != last:
            log(f"  [{time.strftime('%H:%M:%S')}] {status}")
            last = status
        settled = all(
            any(s.status == "SUCCESS" for s in ss)
            or (ss and all(s.status in done_states for s in ss) and _no_retry(ss))
            for ss in by_cam.values()
        )
        if settled:
            return spans
        time.sleep(2)
    raise ClusterError(f"the backfill {backfill_id} did not finish in {timeout_s:.0f} s", "see make cluster-up's logs")


def _no_retry(spans: list[RunSpan]) -> bool:
    # a retry appears a few seconds after its parent failed: wait until the daemon had its chance
    last_end = max((s.end_s or 0.0) for s in spans)
    return time.time() - last_end > 30


def max_overlap(spans: list[RunSpan]) -> int:
    """The most runs that were executing at the same moment."""
    edges = sorted(
        [(s.start_s, 1) for s in spans if s.start_s and s.end_s]
        + [(s.end_s, -1) for s in spans if s.start_s and s.end_s]
    )
    now = best = 0
    for _, d in edges:
        now += d
        best = max(best, now)
    return best
