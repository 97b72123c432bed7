"""Cameras as Dagster dynamic partitions (the registry file is the truth, the partition set follows it), and a
camera's footage by the day: camera x day.

Why a ``MultiPartitionsDefinition`` of the camera partitions and a ``DailyPartitionsDefinition``: the UI then
shows each camera's days as a grid (one row per camera, one column per day, each cell the day's materialization
with its certified speed-up), a backfill over a range of days is the UI's ordinary range selection, and the
day dimension is a time window, so a day's key is its date and ``partition_range_start/end`` work. A single
dynamic partition per "camera/day" would need a sensor to add every day and would show a flat list instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import dagster as dg

CAMERAS = "cameras"
#: the two dimensions of a camera's day (Dagster orders a multi-partition key's parts by dimension name)
CAMERA, DAY = "camera", "day"
#: the first day a footage partition exists for (the daily window runs from it to yesterday)
DAYS_START = os.environ.get("NOSCOPE_DAYS_START", "2026-01-01")

#: every asset is partitioned by camera; the set is kept in sync with the registry by ``camera_registry_sensor``
cameras_partitions = dg.DynamicPartitionsDefinition(name=CAMERAS)

#: one day of one camera's footage; the day window ends today (end_offset=1) so the day being recorded has its
#: partition and its files are answered as they settle, not only after midnight
days_partitions = dg.DailyPartitionsDefinition(start_date=DAYS_START, end_offset=1)
camera_days_partitions = dg.MultiPartitionsDefinition({CAMERA: cameras_partitions, DAY: days_partitions})


def camera_day_key(camera_id: str, day: str) -> dg.MultiPartitionKey:
    """The partition key of ``camera_id``'s footage of ``day`` (``YYYY-MM-DD``)."""
    return dg.MultiPartitionKey({CAMERA: camera_id, DAY: day})


def split_camera_day(key: str | dg.MultiPartitionKey) -> tuple[str, str]:
    """(camera id, day) of a camera x day partition key."""
    if not isinstance(key, dg.MultiPartitionKey):
        key = camera_days_partitions.get_partition_key_from_str(str(key))
    dims = key.keys_by_dimension
    return dims[CAMERA], dims[DAY]


@dataclass(frozen=True)
class PartitionSync:
    """What must change in the partition set so it equals the registry's camera ids."""

    add: tuple[str, ...]
    delete: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.add or self.delete)

    def requests(self) -> list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest]:
        out: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = []
        if self.add:
            out.append(cameras_partitions.build_add_request(list(self.add)))
        if self.delete:
            out.append(cameras_partitions.build_delete_request(list(self.delete)))
        return out

    def describe(self) -> str:
        parts = []
        if self.add:
            parts.append("added " + ", ".join(self.add))
        if self.delete:
            parts.append("removed " + ", ".join(self.delete))
        return "; ".join(parts) or "camera partitions already match the registry"


def plan_sync(registry_ids: Iterable[str], existing: Iterable[str]) -> PartitionSync:
    """Ids to add (in the registry, not yet partitions) and to delete (partitions no longer in the registry)."""
    wanted, have = list(dict.fromkeys(registry_ids)), set(existing)
    return PartitionSync(
        add=tuple(c for c in wanted if c not in have),
        delete=tuple(sorted(have - set(wanted))),
    )


def sync_instance(instance: dg.DagsterInstance, registry_ids: Iterable[str]) -> PartitionSync:
    """Apply the sync directly to an instance (the headless demo has no sensor daemon to do it)."""
    plan = plan_sync(registry_ids, instance.get_dynamic_partitions(CAMERAS))
    if plan.add:
        _add_partitions(instance, plan.add)
    for key in plan.delete:
        instance.delete_dynamic_partition(CAMERAS, key)
    return plan


def _add_partitions(instance: dg.DagsterInstance, keys: Iterable[str]) -> None:
    """Add ``keys``; another process syncing at the same moment (a second ``noscope demo``) may add some first.

    Dagster checks for existing keys and then inserts, so two syncs can both decide to insert a key; the
    storage's unique index then refuses the second insert, which only means the key is there already.
    """
    from sqlalchemy.exc import IntegrityError

    keys = list(keys)
    try:
        instance.add_dynamic_partitions(CAMERAS, keys)
    except IntegrityError:
        missing = [k for k in keys if not instance.has_dynamic_partition(CAMERAS, k)]
        if missing:
            instance.add_dynamic_partitions(CAMERAS, missing)
