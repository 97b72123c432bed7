"""Close the MLflow training runs of step attempts that died without closing them (SIGKILL, a lost worker).

A training run is opened by ``specialized_models`` and closed by ``optimized_cascade`` (or marked FAILED when a
step raises); a process killed in between cannot close it, and MLflow would show it RUNNING forever. When a new
attempt of the step starts, it closes the camera's runs that provably belong to a dead attempt, as KILLED, with a
tag naming the Dagster run that found them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

#: Dagster run statuses after which none of the run's steps can still be writing to MLflow
ENDED = frozenset({"SUCCESS", "FAILURE", "CANCELED"})
ABANDONED_TAG = "abandoned_by"


def abandoned_runs(
    open_runs: Iterable[tuple[str, str | None]], dagster_run_id: str, dagster_status: Callable[[str], str | None]
) -> list[str]:
    """The MLflow run ids among ``open_runs`` ((MLflow run id, its ``dagster_run_id`` tag), all RUNNING training runs
    of one camera) that a dead attempt left open, seen from a new ``specialized_models`` attempt in
    ``dagster_run_id``. Rules, first match wins:

    1. no Dagster run tag → left alone (not opened by the pipeline).
    2. tagged with this very Dagster run → abandoned: a step runs once at a time within a run, so an open training
       run of it is an earlier attempt's (a step re-queued after its worker died).
    3. tagged with a Dagster run that has ended (``dagster_status`` gives SUCCESS, FAILURE or CANCELED) →
       abandoned (a run retry finds its failed parent's run).
    4. a run unknown to this Dagster instance, or still in progress → left alone: it cannot be shown dead.
    """
    out = []
    for run_id, tagged in open_runs:
        if not tagged:
            continue
        if tagged == dagster_run_id or dagster_status(tagged) in ENDED:
            out.append(run_id)
    return out


def close_abandoned(tracker, camera_id: str, dagster_run_id: str, instance) -> list[str]:
    """Mark the camera's abandoned training runs (and their open child runs) KILLED; returns their ids."""
    client = tracker.client()
    exp = tracker.experiment_id()
    open_filter = "attributes.status = 'RUNNING'"
    runs = client.search_runs(
        [exp], f"tags.camera = '{camera_id}' and tags.kind = 'training' and {open_filter}", max_results=200
    )

    def status(run_id: str) -> str | None:
        run = instance.get_run_by_id(run_id)
        return run.status.value if run is not None else None

    closed = abandoned_runs(((r.info.run_id, r.data.tags.get("dagster_run_id")) for r in runs), dagster_run_id, status)
    for run_id in closed:
        for child in client.search_runs([exp], f"tags.mlflow.parentRunId = '{run_id}' and {open_filter}"):
            client.set_terminated(child.info.run_id, "KILLED")
        client.set_tag(run_id, ABANDONED_TAG, f"dagster run {dagster_run_id}")
        client.set_terminated(run_id, "KILLED")
    return closed
