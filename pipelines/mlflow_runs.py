"""Runs in the ``noscope`` experiment: the experiment itself (opened on MLflow's classic view), a parent run per
training of a camera, its child runs (found again by their tags), and params in MLflow's batch sizes.

Children carry the tag ``mlflow.parentRunId`` (the UI nests them) and ``kind`` / ``component``, by which
:func:`find_children` finds the child that an earlier step created, so each variant has exactly one child run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from noscope_core.common.paths import safe_name
from pipelines.mlflow_client import log_batch, param_value, quote, tag_values
from pipelines.mlflow_text import classic_view_tags

#: tags copied from a parent run to its children, so child runs can be filtered alone in the UI
INHERITED_TAGS = ("camera", "query", "query_key", "partition", "dagster_run_id", "reference")


def ensure_experiment(client, name: str, artifact_location: str | None) -> str:
    """The experiment's id, creating it (with its artifact location) on first use; its view settings are
    (re)applied every time, so an experiment made before they existed opens on the classic view too."""
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(name)
    if exp is not None and exp.lifecycle_stage == "deleted":
        client.restore_experiment(exp.experiment_id)
    if exp is not None:
        for key, value in classic_view_tags().items():
            if exp.tags.get(key) != value:
                client.set_experiment_tag(exp.experiment_id, key, value)
        return exp.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_location, tags=classic_view_tags())
    except MlflowException:  # another step created it in the meantime
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def start_training_run(client, experiment_id: str, camera_id: str, query: dict, tags: Mapping[str, Any]) -> str:
    """Create the parent run of one training of ``camera_id``; return its run id (the run is left open).

    ``query`` is a ``Query.to_dict()`` or a ``CameraSpec.to_dict()`` (which adds targets, split and the
    reference spec). Every entry of ``tags`` (``partition``, ``dagster_run_id``, ``reference``...) becomes a run tag.
    """
    from noscope_core.spec.query import Query

    safe_name(camera_id, "camera id")
    camera = query if isinstance(query.get("query"), dict) else {}
    q = Query.from_dict(camera["query"] if camera else query)
    run_tags = {
        "mlflow.runName": f"train {camera_id} {time.strftime('%Y-%m-%d %H:%M:%S')}",
        "kind": "training",
        "camera": camera_id,
        "query": q.describe(),
        "query_key": q.key(),
        "partition": str(tags.get("partition") or camera_id),
        "reference": str(tags.get("reference") or camera.get("reference") or ""),
        **{str(k): str(v) for k, v in tags.items() if v is not None},
    }
    run = client.create_run(experiment_id, tags=tag_values(run_tags))
    params = {f"query.{k}": v for k, v in q.to_dict().items()}
    params.update({f"camera.{k}": v for k, v in camera.items() if k not in ("query", "camera_id")})
    log_params(client, run.info.run_id, params)
    return run.info.run_id


def create_child(client, parent_run_id: str, kind: str, name: str) -> str:
    """A child run ``<kind> <name>`` under the parent, with the parent's filterable tags."""
    parent = client.get_run(parent_run_id)
    tags = {k: parent.data.tags[k] for k in INHERITED_TAGS if k in parent.data.tags}
    tags.update(
        {"mlflow.parentRunId": parent_run_id, "mlflow.runName": f"{kind} {name}", "kind": kind, "component": name}
    )
    return client.create_run(parent.info.experiment_id, tags=tag_values(tags)).info.run_id


def find_children(client, parent_run_id: str, kind: str, name: str | None = None) -> list:
    """Live (not deleted) child runs of ``parent_run_id`` of one kind (and component name), oldest first."""
    parent = client.get_run(parent_run_id)
    flt = f"tags.mlflow.parentRunId = '{parent_run_id}' and tags.kind = '{kind}'"
    if name is not None:
        flt += f" and tags.component = '{quote(name)}'"
    return list(
        client.search_runs([parent.info.experiment_id], flt, max_results=1000, order_by=["attributes.start_time ASC"])
    )


def fresh_child(client, parent_run_id: str, kind: str, name: str) -> str:
    """The one child run of ``kind``/``name``: an older one (a retried step's) is deleted first."""
    for stale in find_children(client, parent_run_id, kind, name):
        client.delete_run(stale.info.run_id)
    return create_child(client, parent_run_id, kind, name)


def log_params(client, run_id: str, params: Mapping[str, Any], skip_existing: bool = False) -> None:
    """Params in batches of 100 (MLflow's limit); ``skip_existing`` leaves params the run has (MLflow never lets
    a param change)."""
    from mlflow.entities import Param

    if skip_existing:
        have = client.get_run(run_id).data.params
        params = {k: v for k, v in params.items() if k not in have}
    items = [Param(str(k), param_value(v)) for k, v in params.items()]
    for i in range(0, len(items), 100):
        log_batch(client, run_id, params=items[i : i + 100])
