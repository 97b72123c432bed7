"""The Dagster code location ``noscope``: assets, checks, jobs, schedule, sensors and resources.

Loading it is cheap on purpose (no torch, cv2 or mlflow at import): the heavy libraries load inside the steps.
"""

from __future__ import annotations

import dagster as dg

from pipelines.assets import ASSETS, JOBS
from pipelines.assets.challenger import CHALLENGER_ASSETS
from pipelines.assets.days import DAY_ASSETS, DAY_JOBS
from pipelines.checks import CHECKS
from pipelines.executor import job_executor
from pipelines.resources import default_resources
from pipelines.schedules import nightly_days, retrain_cameras
from pipelines.sensors import camera_registry_sensor, footage_days_sensor, new_footage_sensor

defs = dg.Definitions(
    assets=[*ASSETS, *DAY_ASSETS, *CHALLENGER_ASSETS],
    asset_checks=CHECKS,
    jobs=[*JOBS, *DAY_JOBS],
    schedules=[retrain_cameras, nightly_days],
    sensors=[camera_registry_sensor, new_footage_sensor, footage_days_sensor],
    resources=default_resources(),
    executor=job_executor(),  # NOSCOPE_EXECUTOR=celery on the cluster; Dagster's default otherwise
)
