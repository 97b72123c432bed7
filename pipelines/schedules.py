"""Nightly re-training: one ``train_camera`` run per camera, so each camera's cascade follows its footage."""

import os

import dagster as dg

from pipelines.assets import train_camera
from pipelines.partitions import CAMERAS
from pipelines.resources import CameraRegistry

DEFAULT_RETRAIN_CRON = "0 2 * * *"


def retrain_cron() -> str:
    """NOSCOPE_RETRAIN_CRON, else nightly at 02:00."""
    return os.environ.get("NOSCOPE_RETRAIN_CRON", "").strip() or DEFAULT_RETRAIN_CRON


@dg.schedule(
    cron_schedule=retrain_cron(),
    job=train_camera,
    name="retrain_cameras",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Re-train every camera: decode, label, train, optimize and query again.",
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
    date = context.scheduled_execution_time.strftime("%Y-%m-%dT%H:%M")
    return [
        dg.RunRequest(
            run_key=f"retrain-{cam}-{date}",
            partition_key=cam,
            tags={"noscope/camera": cam, "noscope/trigger": "schedule"},
        )
        for cam in ready
    ]
