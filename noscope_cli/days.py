"""``noscope days``: a camera's footage by the day: each day's status, and a backfill over a range of days.

``noscope days status CAMERA`` prints one line per answered day (frames, speed-up, bounds, what was skipped and
why); ``noscope days backfill CAMERA FROM TO`` answers every day of the range through the ``answer_day`` job of
the Dagster code location, on the instance in ``$DAGSTER_HOME`` (the UI shows the runs), one run per day.
"""

from __future__ import annotations

import sys
from datetime import date, timedelta

from noscope_core.present.units import pct, times


def register(subparsers) -> None:
    p = subparsers.add_parser("days", help="a camera's footage by the day: status, backfill")
    sub = p.add_subparsers(dest="days_command", required=True)
    s = sub.add_parser("status", help="one line per answered day of CAMERA")
    s.add_argument("camera")
    s.set_defaults(func=status)
    b = sub.add_parser("backfill", help="answer every day of a range (the answer_day job, one run per day)")
    b.add_argument("camera")
    b.add_argument("first", help="first day, YYYY-MM-DD")
    b.add_argument("last", help="last day, YYYY-MM-DD (included)")
    b.set_defaults(func=backfill)


def _day(text: str) -> date:
    from noscope_core.common.errors import QueryError

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise QueryError(f"{text!r} is not a day", "write days as YYYY-MM-DD, e.g. 2026-01-04") from None


def day_line(rec: dict) -> str:
    """One day's status for a person: frames, certified speed-up and bounds, and what was skipped."""
    speed = "" if rec.get("speedup") is None else f", {times(rec['speedup'])}"
    cert = "certified" if rec.get("certified") else "NOT certified"
    bounds = ""
    if rec.get("fnr_bound") is not None:
        bounds = f" (FNR <= {pct(rec['fnr_bound'])}, FPR <= {pct(rec['fpr_bound'])})"
    skipped = f", {rec['frames_skipped']} frames skipped" if rec.get("frames_skipped") else ""
    head = f"{rec['day']}: {rec['status']}"
    if not rec.get("frames"):
        return head
    return f"{head}; {rec['frames']} frames{speed}, {cert}{bounds}{skipped}, {rec.get('labels_in_store', 0)} labels"


def status(args) -> int:
    import json

    from noscope_core.common.errors import QueryError
    from pipelines.resources import ArtifactStore, CameraRegistry

    cam = CameraRegistry().get(args.camera)
    root = ArtifactStore().path(cam.camera_id, "days")
    records = [json.loads(p.read_text()) for p in sorted(root.glob("*/day.json"))]
    if not records:
        raise QueryError(f"no day of camera {cam.camera_id} has been answered yet ({root} is empty)",
                         f"noscope days backfill {cam.camera_id} FIRST LAST, or let the footage_days_sensor run")  # fmt: skip
    for rec in records:
        print(day_line(rec))
        for f in rec.get("files_detail", ()):
            print(f"    {f['name']}: {f['status']} - {f.get('detail', '')}")
    return 0


def backfill(args) -> int:
    from noscope_core.common.errors import QueryError

    first, last = _day(args.first), _day(args.last)
    if last < first:
        raise QueryError(f"the range ends ({last}) before it starts ({first})", "give FIRST <= LAST")
    import dagster as dg

    from pipelines.definitions import defs
    from pipelines.partitions import camera_day_key, sync_instance
    from pipelines.resources import CameraRegistry

    registry = CameraRegistry()
    cam = registry.get(args.camera)
    job = defs.resolve_job_def("answer_day")
    failed = 0
    with dg.DagsterInstance.get() as instance:
        sync_instance(instance, registry.cameras())
        if cam.camera_id not in instance.get_materialized_partitions(dg.AssetKey("optimized_cascade")):
            raise QueryError(f"camera {cam.camera_id} has no trained cascade yet", "run noscope demo or train_camera")
        day = first
        while day <= last:
            key = str(camera_day_key(cam.camera_id, day.isoformat()))
            res = job.execute_in_process(instance=instance, partition_key=key, tags={"noscope/trigger": "backfill"},
                                         raise_on_error=False)  # fmt: skip
            print(f"{key}: {'answered' if res.success else 'FAILED'} (run {res.run_id})")
            failed += not res.success
            day += timedelta(days=1)
    if failed:
        print(f"noscope days backfill: {failed} day(s) failed; see the runs in the Dagster UI", file=sys.stderr)
    return 1 if failed else 0
