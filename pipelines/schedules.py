"""Nightly re-training: one ``train_camera`` run per camera, so each camera's cascade follows its footage.

Each run request names its camera (run key, tags, partition), so the schedule's preview and the Runs list say
which camera a run re-trains. Dagster 1.13.27's tick preview lists each request by its job alone
(``ui-core/src/ticks/DryRunRequestTable.tsx``: a "Target" column and the "{}" action); the camera, its day and the
run key are behind that action, in the tags. Dagster 1.13 shows no partition set for a schedule over a dynamic partition
(``ScheduleSnap.partition_set_name`` is always None), so the schedule's description lists the cameras instead.
"""

import os
from collections.abc import Sequence
from datetime import datetime, timedelta

import dagster as dg

from noscope_core.common.errors import NoScopeError
from pipelines.assets import train_camera
from pipelines.assets.days import nightly_camera
from pipelines.partitions import CAMERAS, camera_day_key
from pipelines.resources import CameraRegistry

DEFAULT_RETRAIN_CRON = "0 2 * * *"
#: what every scheduled re-training run carries, besides its camera
TRIGGER_TAGS = {"noscope/trigger": "schedule"}


def retrain_cron() -> str:
    """NOSCOPE_RETRAIN_CRON, else nightly at 02:00."""
    return os.environ.get("NOSCOPE_RETRAIN_CRON", "").strip() or DEFAULT_RETRAIN_CRON


def retrain_request(camera_id: str, when: datetime) -> dg.RunRequest:
    """The run request that re-trains ``camera_id`` for the tick at ``when``: its key, partition and tags name it."""
    stamp = when.strftime("%Y-%m-%dT%H:%M")
    return dg.RunRequest(
        run_key=f"retrain-{camera_id}-{stamp}",
        partition_key=camera_id,
        tags={
            "dagster/partition": camera_id,  # set at launch anyway; here so the schedule's preview shows it
            "noscope/camera": camera_id,
            "noscope/purpose": f"re-train camera {camera_id} ({stamp} tick)",
            **TRIGGER_TAGS,
        },
    )


def schedule_description(camera_ids: Sequence[str] | None, cron: str) -> str:
    """What the schedule does and which cameras it covers (the registry as the code location loaded it)."""
    head = f"Re-train each camera ({cron}, one train_camera run per camera): decode, label, train, optimize, query."
    if camera_ids is None:
        return head + " Covers every camera in the registry that has a partition."
    covered = ", ".join(camera_ids) if camera_ids else "none yet"
    return (
        f"{head} Covers the registry's cameras: {covered}. The registry is read again at each tick; "
        "a camera runs once the camera_registry_sensor has made it a partition."
    )


def _registry_ids() -> list[str] | None:
    """The registry's camera ids when the code location loads, or None when it cannot be read yet."""
    try:
        return list(CameraRegistry().cameras())
    except (NoScopeError, OSError):
        return None


@dg.schedule(
    cron_schedule=retrain_cron(),
    job=train_camera,
    name="retrain_cameras",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=schedule_description(_registry_ids(), retrain_cron()),
)
def retrain_cameras(context: dg.ScheduleEvaluationContext, cameras: CameraRegistry):
    """One run request per camera that is both in the registry and a partition (the registry sensor adds them)."""
    registered = cameras.cameras()
    partitions = set(context.instance.get_dynamic_partitions(CAMERAS))
    ready = [c for c in registered if c in partitions]
    if not ready:
        return dg.SkipReason(
            f"no camera partitions yet (registry: {', '.join(registered) or 'empty'}); "
            "the camera_registry_sensor adds them"
        )
    return [retrain_request(cam, context.scheduled_execution_time) for cam in ready]


DEFAULT_NIGHTLY_CRON = "30 2 * * *"


def nightly_cron() -> str:
    """NOSCOPE_NIGHTLY_CRON, else nightly at 02:30 (after the 02:00 re-training)."""
    return os.environ.get("NOSCOPE_NIGHTLY_CRON", "").strip() or DEFAULT_NIGHTLY_CRON


def night_request(camera_id: str, when: datetime) -> dg.RunRequest:
    """The ``nightly_camera`` run of ``camera_id`` for the day before the tick at ``when``."""
    day = (when - timedelta(days=1)).strftime("%Y-%m-%d")
    return dg.RunRequest(
        run_key=f"night-{camera_id}-{day}",
        partition_key=str(camera_day_key(camera_id, day)),
        tags={"noscope/camera": camera_id, "noscope/day": day,
              "noscope/purpose": f"night after {day} for camera {camera_id}", **TRIGGER_TAGS},
    )  # fmt: skip


@dg.schedule(
    cron_schedule=nightly_cron(),
    job=nightly_camera,
    name="nightly_days",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        f"Each night ({nightly_cron()}), per camera: the reference labels a uniform draw of yesterday's footage "
        "into the camera's label store, the store is compacted, and the camera's history chart is drawn."
    ),
)
def nightly_days(context: dg.ScheduleEvaluationContext, cameras: CameraRegistry):
    """One request per camera that has a partition and answered yesterday (the day's answers come first)."""
    when = context.scheduled_execution_time
    day = (when - timedelta(days=1)).strftime("%Y-%m-%d")
    partitions = set(context.instance.get_dynamic_partitions(CAMERAS))
    answered = {str(k) for k in context.instance.get_materialized_partitions(dg.AssetKey("day_answers"))}
    ready = [c for c in cameras.cameras() if c in partitions and str(camera_day_key(c, day)) in answered]
    if not ready:
        return dg.SkipReason(f"no camera answered footage of {day} yet")
    return [night_request(c, when) for c in ready]
