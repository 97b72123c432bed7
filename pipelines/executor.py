"""The jobs' executor, chosen by configuration: ``NOSCOPE_EXECUTOR`` unset (Dagster's default, as ``make demo`` and
the tests run today) or ``celery`` (steps sent to Celery workers through the broker in
``NOSCOPE_CELERY_BROKER``; see docs/scale.md). Nothing else in the pipeline changes with it."""

from __future__ import annotations

import os

from noscope_core.common.errors import QueryError

#: op tag that routes a step to a Celery queue (dagster-celery reads it); the rest go to the "dagster" queue
QUEUE_TAG = "dagster-celery/queue"
QUEUES = {"reference_labels": "labelling", "specialized_models": "training"}


def queue_tags(asset: str) -> dict[str, str]:
    """``op_tags`` for ``asset``: its Celery queue, when it has one of its own (ignored by other executors)."""
    return {QUEUE_TAG: QUEUES[asset]} if asset in QUEUES else {}


def job_executor(kind: str | None = None):
    """The executor for every job of the code location, or None for Dagster's default."""
    kind = (kind if kind is not None else os.environ.get("NOSCOPE_EXECUTOR", "")).strip().lower()
    if kind in ("", "default", "in_process"):
        return None
    if kind == "celery":
        try:
            from dagster_celery import celery_executor
        except ImportError as err:
            raise QueryError(
                "NOSCOPE_EXECUTOR=celery needs dagster-celery, which is not installed", "pip install -e '.[cluster]'"
            ) from err
        from pipelines.cluster.config import celery_config

        return celery_executor.configured(celery_config(), name="celery_executor")
    raise QueryError(f"unknown NOSCOPE_EXECUTOR {kind!r}", "use in_process (default) or celery")
