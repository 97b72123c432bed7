"""Sensors: keep the camera partitions equal to the registry, query each new footage file exactly once, and answer
each settled footage file on its camera x day partition.

Every run request names what it runs, as the schedules' do: a run key and the tags ``noscope/camera`` (and
``noscope/day``, ``noscope/footage``) and ``noscope/purpose``, one line a person reads in the tick preview's
"{}" dialog and on the run (Dagster 1.13's preview table itself draws only the job, docs/ui.md)."""

import json
import os
import time

import dagster as dg

from pipelines.assets import query_camera
from pipelines.assets.common import footage_files
from pipelines.assets.days import answer_day
from pipelines.footage_days import FootageFile, scan
from pipelines.partitions import CAMERAS, DAYS_START, camera_day_key, plan_sync
from pipelines.resources import CameraRegistry

#: a file modified more recently than this is probably still being copied; it is picked up on a later tick
FOOTAGE_SETTLE_SECONDS = float(os.environ.get("NOSCOPE_FOOTAGE_SETTLE_S", "5"))


@dg.sensor(
    name="camera_registry_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds a camera partition for every id in cameras.yaml and removes those no longer listed.",
)
def camera_registry_sensor(context: dg.SensorEvaluationContext, cameras: CameraRegistry):
    """A camera added to the registry file gets its partition here, without a code change."""
    ids = list(cameras.cameras())  # an unsafe id or malformed entry fails the tick with the registry's message
    plan = plan_sync(ids, context.instance.get_dynamic_partitions(CAMERAS))
    if not plan.changed:
        return dg.SkipReason(plan.describe())
    context.log.info(plan.describe())
    return dg.SensorResult(dynamic_partitions_requests=plan.requests())


def _scan(cameras: CameraRegistry, partitions: set[str], trained: set[str]) -> dict[str, dict[str, int]]:
    """Footage files (name -> mtime_ns) of every camera that has a partition and a trained cascade."""
    now = time.time()
    found: dict[str, dict[str, int]] = {}
    for cam_id, cam in cameras.cameras().items():
        if cam_id not in partitions or cam_id not in trained:
            continue
        files = {}
        for path in footage_files(cam):
            st = path.stat()
            if now - st.st_mtime >= FOOTAGE_SETTLE_SECONDS:
                files[path.name] = st.st_mtime_ns
        found[cam_id] = files
    return found


@dg.sensor(
    name="new_footage_sensor",
    job=query_camera,
    minimum_interval_seconds=60,
    # Off by default: footage_days_sensor answers each new file in its camera x day partition; running both
    # would pay the reference twice for the same frames. Turn this on for one growing query_results answer.
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Requests a query_results run for a camera once per new (or replaced) file in its footage_dir "
    "(off by default: footage_days_sensor answers each file in its camera x day partition).",
)
def new_footage_sensor(context: dg.SensorEvaluationContext, cameras: CameraRegistry):
    """The cursor remembers every file seen (name + mtime), so each file triggers exactly one run.

    Cameras without a trained cascade are left for later: their training run queries the footage anyway.
    """
    seen: dict[str, dict[str, int]] = json.loads(context.cursor) if context.cursor else {}
    partitions = set(context.instance.get_dynamic_partitions(CAMERAS))
    trained = context.instance.get_materialized_partitions(dg.AssetKey("optimized_cascade"))
    requests = []
    for cam_id, files in _scan(cameras, partitions, trained).items():
        before = seen.get(cam_id, {})
        new = sorted(name for name, mtime in files.items() if before.get(name) != mtime)
        for name in new:
            requests.append(
                dg.RunRequest(
                    run_key=f"footage-{cam_id}-{name}-{files[name]}",
                    partition_key=cam_id,
                    tags={
                        "noscope/camera": cam_id,
                        "noscope/purpose": f"answer camera {cam_id}'s footage {name}",
                        "noscope/trigger": "footage",
                        "noscope/footage": name,
                    },
                )
            )
        seen[cam_id] = {**before, **files}
    cursor = json.dumps(seen, sort_keys=True)
    if not requests:
        return dg.SensorResult(skip_reason="no new footage", cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)


def day_requests(
    seen: dict[str, dict[str, list[int]]], found: dict[str, list[FootageFile]], first_day: str
) -> tuple[list[dg.RunRequest], list[str], dict[str, dict[str, list[int]]]]:
    """(run requests, notes, new cursor): one ``answer_day`` request per settled file not seen with this size and
    time, on its camera x day partition; files still being written are left for a later tick (not remembered)."""
    requests, notes = [], []
    cursor = {cam: dict(files) for cam, files in seen.items()}
    for cam_id, files in found.items():
        before = cursor.setdefault(cam_id, {})
        for f in files:
            stamp = [f.size_bytes, f.mtime_ns]
            if before.get(f.path.name) == stamp:
                continue
            if not f.settled:
                notes.append(f"{cam_id}/{f.path.name}: {f.status}")
                continue
            before[f.path.name] = stamp
            if f.day < first_day:
                notes.append(f"{cam_id}/{f.path.name}: dated {f.day}, before the first day partition {first_day}")
                continue
            requests.append(
                dg.RunRequest(
                    run_key=f"day-{cam_id}-{f.day}-{f.path.name}-{f.size_bytes}-{f.mtime_ns}",
                    partition_key=str(camera_day_key(cam_id, f.day)),
                    tags={
                        "noscope/camera": cam_id,
                        "noscope/day": f.day,
                        "noscope/purpose": f"answer camera {cam_id}, {f.day}: {f.path.name}",
                        "noscope/trigger": "footage",
                        "noscope/footage": f.path.name,
                    },
                )  # fmt: skip
            )
    return requests, notes, cursor


@dg.sensor(
    name="footage_days_sensor",
    job=answer_day,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests one answer_day run (camera x day partition) per new footage file once it stops changing.",
)
def footage_days_sensor(context: dg.SensorEvaluationContext, cameras: CameraRegistry):
    """The cursor remembers each file's size and time, so a file triggers one run, and again only if replaced.

    A file still being written (changed within NOSCOPE_FOOTAGE_SETTLE_S) is not remembered: a later tick sees it
    settled and requests its day then. Cameras without a trained cascade are left for later."""
    seen = json.loads(context.cursor) if context.cursor else {}
    partitions = set(context.instance.get_dynamic_partitions(CAMERAS))
    trained = context.instance.get_materialized_partitions(dg.AssetKey("optimized_cascade"))
    found = {
        cam_id: scan(footage_files(cam))
        for cam_id, cam in cameras.cameras().items()
        if cam_id in partitions and cam_id in trained
    }
    requests, notes, cursor = day_requests(seen, found, DAYS_START)
    for note in notes:
        context.log.info(note)
    text = json.dumps(cursor, sort_keys=True)
    if not requests:
        return dg.SensorResult(skip_reason="; ".join(notes) or "no new footage", cursor=text)
    return dg.SensorResult(run_requests=requests, cursor=text)
