"""What the instance recorded: which Celery worker ran which step of which run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StepPlacement:
    run_id: str
    step_key: str
    worker: str


def step_workers(instance, run_id: str) -> list[StepPlacement]:
    """From dagster-celery's engine event "Executing steps ... in celery worker" (metadata: the worker's name)."""
    import dagster as dg

    out = []
    for rec in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT).records:
        ev = rec.event_log_entry.dagster_event
        if ev is None or "in celery worker" not in (ev.message or ""):
            continue
        meta = ev.engine_event_data.metadata if ev.engine_event_data else {}
        worker = meta.get("Celery worker")
        worker = str(getattr(worker, "value", worker))
        for key in (meta.get("step_keys") and [str(getattr(meta["step_keys"], "value", ""))]) or [ev.step_key or ""]:
            out.append(StepPlacement(run_id, key or _steps_in(ev.message), worker))
    return out


def _steps_in(message: str) -> str:
    return message.removeprefix("Executing steps ").removesuffix(" in celery worker")
