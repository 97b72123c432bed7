"""``python -m pipelines.cluster.days``: a camera's simulated days on the running stack (``make cluster-up``).

The camera is ``make days-demo``'s composited one (``pipelines.days_demo``: its videos, label packs and registry
settings), added to the cluster's own registry beside the cameras already there. It is trained through the run
queue (``train_camera``, on the Celery workers); then, for each day, the day's file is dropped into its
``footage_dir`` (atomically, dated name, mtime that day's evening) and the cluster daemon's ``footage_days_sensor``
launches its ``answer_day`` run by itself (nothing here launches it: that would pay the reference twice); the
``nightly_days`` schedule is evaluated for 02:30 the next morning and its requests queued through GraphQL
(``nightly_camera``). The per-day table is read back from the instance and the artifact root (not from a local
path a worker happened to use) and written as ``days.json`` / ``days.md`` / ``history.png`` under
``.cluster/days/``, with the worker that ran each step.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pipelines.cluster import observe
from pipelines.cluster import runs as q
from pipelines.cluster.cameras import registered_ids, write_registry
from pipelines.cluster.config import ClusterConfig
from pipelines.cluster.demo import require_up, use_cluster
from pipelines.cluster.processes import ClusterError

TRIGGER = {"noscope/trigger": "cluster-days"}
SENSOR = "footage_days_sensor"


@dataclass(frozen=True)
class DayFile:
    day: str  # YYYY-MM-DD
    source: Path  # the day's recording, dropped into the camera's footage_dir
    drift: str = ""


@dataclass(frozen=True)
class DaysCamera:
    entry: dict  # the camera's registry entry (id, video, footage_dir, ...)
    days: tuple[DayFile, ...]

    @property
    def camera_id(self) -> str:
        return str(self.entry["id"])

    @property
    def footage_dir(self) -> Path:
        return Path(self.entry["footage_dir"])


@dataclass
class DaysResult:
    camera_id: str
    rows: list[dict] = field(default_factory=list)
    runs: list[q.RunEnd] = field(default_factory=list)
    sensor_lag_s: list[float] = field(default_factory=list)  # file dropped -> the sensor's run queued
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(r.status == "SUCCESS" for r in self.runs)


def add_camera(cfg: ClusterConfig, entry: dict) -> Path:
    """The camera in the cluster's registry (the file its processes read), the other cameras kept."""
    registry = cfg.state / "cameras.yaml"
    return write_registry([], cfg.state / "videos", registry, extra=[entry])


def drop(d: DayFile, footage_dir: Path, camera_id: str) -> Path:
    """The day's file as a recorder leaves it: written hidden, dated that day's evening, then renamed into place
    (its synthetic truth, when it has one, first). A file already there is left as it is (no second run)."""
    from noscope_core.reference.synthetic_truth import truth_path

    footage_dir.mkdir(parents=True, exist_ok=True)
    target = footage_dir / f"{camera_id}_{d.day}{d.source.suffix}"
    if target.exists():
        return target
    y, m, dd = (int(x) for x in d.day.split("-"))
    evening = datetime(y, m, dd, 22, tzinfo=UTC).timestamp()
    if truth_path(d.source).is_file():
        shutil.copyfile(truth_path(d.source), truth_path(target))
    tmp = target.with_name(f".{target.name}.part")
    shutil.copyfile(d.source, tmp)
    os.utime(tmp, (evening, evening))
    tmp.replace(target)
    return target


def _end(instance, job: str, partition: str, run_id: str, launched_by: str, timeout_s: float, log) -> q.RunEnd:
    run_id, status, seconds = q.wait_run(instance, run_id, timeout_s, log)
    steps = tuple((p.step_key, p.worker) for p in observe.step_workers(instance, run_id))
    log(f"  {job} {partition}: {status} in {seconds:.0f} s ({launched_by}; run {run_id[:8]})")
    return q.RunEnd(job, partition, run_id, status, seconds, launched_by, steps)


def _materialized(instance, asset: str, partition: str) -> bool:
    import dagster as dg

    return partition in {str(k) for k in instance.get_materialized_partitions(dg.AssetKey(asset))}


def train(cfg: ClusterConfig, instance, camera_id: str, timeout_s: float, log) -> q.RunEnd | None:
    """``train_camera`` for the camera through the queue; None when it has a cascade already."""
    if _materialized(instance, "optimized_cascade", camera_id):
        log(f"day 0: {camera_id} has a cascade already (not trained again)")
        return None
    log(f"day 0: training {camera_id} through the run queue (train_camera) ...")
    run_id = q.launch_run(cfg.webserver_port, "train_camera", {**q.partition_tags(camera_id), **TRIGGER})
    return _end(instance, "train_camera", camera_id, run_id, "graphql", timeout_s, log)


def answer(instance, camera_id: str, day: str, timeout_s: float, log) -> tuple[q.RunEnd, float]:
    """The daemon's sensor run of the day (waited for, never launched here) and how long it took to appear."""
    t0 = time.monotonic()
    partition = q.partition_tags(camera_id, day)["dagster/partition"]
    run_id = q.sensor_run(instance, "answer_day", partition, SENSOR, timeout_s=300)
    lag = time.monotonic() - t0
    log(f"  {SENSOR} queued answer_day {partition} after {lag:.0f} s")
    return _end(instance, "answer_day", partition, run_id, f"sensor {SENSOR}", timeout_s, log), lag


def night(cfg: ClusterConfig, instance, day: str, timeout_s: float, log) -> list[q.RunEnd]:
    """The ``nightly_days`` tick at 02:30 after ``day``, evaluated here; its requests queued and waited for."""
    import dagster as dg

    from pipelines.definitions import defs
    from pipelines.partitions import split_camera_day
    from pipelines.schedules import nightly_days

    y, m, dd = (int(x) for x in day.split("-"))
    when = datetime(y, m, dd, 2, 30, tzinfo=UTC) + timedelta(days=1)
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=when, resources=defs.resources) as ctx:
        reqs = nightly_days(ctx)
    reqs = [] if isinstance(reqs, dg.SkipReason) else list(reqs or [])
    log(f"  night tick {when:%Y-%m-%d %H:%M}: {len(reqs)} request(s)")
    ends = []
    for req in reqs:
        cam, d = split_camera_day(req.partition_key)
        partition = q.partition_tags(cam, d)["dagster/partition"]
        if _materialized(instance, "night_labels", partition):
            log(f"  nightly_camera {partition}: ran before (not run again)")
            continue
        tags = {**req.tags, **q.partition_tags(cam, d), **TRIGGER}
        run_id = q.launch_run(cfg.webserver_port, "nightly_camera", tags)
        ends.append(_end(instance, "nightly_camera", partition, run_id, "schedule nightly_days", timeout_s, log))
    return ends


def day_record(instance, camera_id: str, day: str) -> tuple[dict, str]:
    """(the day's record, where it was read): the ``day.json`` its ``day_answers`` materialization names when
    that path is readable here (the workers' disk), else the same figures from the materialization's metadata
    in the instance (PostgreSQL), which every process of the cluster reads."""
    import json

    import dagster as dg

    partition = q.partition_tags(camera_id, day)["dagster/partition"]
    recs = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("day_answers"), asset_partitions=[partition]), limit=1
    ).records
    if not recs:
        raise ClusterError(f"day_answers {partition} is not materialized", "see its run in the Dagster UI")
    meta = {k: getattr(v, "value", v) for k, v in recs[0].asset_materialization.metadata.items()}
    path = Path(str(meta.get("day_json", "")))
    if path.is_file():
        return json.loads(path.read_text()), str(path)

    def rate(key: str) -> float | None:
        return None if meta.get(key) is None else float(meta[key]) / 100

    rec = {
        "status": meta.get("status"),
        "frames": meta.get("frames"),
        "speedup": meta.get("certified_speedup", meta.get("speedup_uncertified")),
        "certified": bool(meta.get("certified")),
        "fnr_bound": rate("fnr_bound_pct"),
        "fpr_bound": rate("fpr_bound_pct"),
        "champion_version": meta.get("champion_version"),
    }
    return rec, "instance metadata"


def label_store_summary(out: Path, camera_id: str):
    """The camera's label store as published to the artifact root (pulled into a copy of this runner's own);
    the cluster's local root when nothing is published."""
    from pipelines.label_stores import open_store
    from pipelines.resources import ArtifactStore

    remote = bool(os.environ.get("NOSCOPE_ARTIFACT_URL"))
    artifacts = ArtifactStore(root=str(out / "artifacts")) if remote else ArtifactStore()
    return open_store(artifacts, camera_id).summary()


def run_days(
    cfg: ClusterConfig, cam: DaysCamera, targets: argparse.Namespace, out: Path, timeout_s: float = 3600, log=print
) -> DaysResult:
    """Train ``cam`` on the cluster, then live its days (see the module's docstring); the rows and the runs."""
    require_up(cfg)
    use_cluster(cfg)
    import dagster as dg

    from pipelines.days_demo import row_of
    from pipelines.partitions import sync_instance

    t0 = time.monotonic()
    result = DaysResult(cam.camera_id)
    registry = add_camera(cfg, cam.entry)
    log(f"registry {registry}: {cam.camera_id} added ({', '.join(registered_ids(registry))})")
    with dg.DagsterInstance.get() as instance:
        sync_instance(instance, registered_ids(registry))
        trained = train(cfg, instance, cam.camera_id, timeout_s, log)
        if trained is not None:
            result.runs.append(trained)
            if trained.status != "SUCCESS":
                raise ClusterError(f"training {cam.camera_id} failed (run {trained.run_id})", "see the run in the UI")
        for d in cam.days:
            target = drop(d, cam.footage_dir, cam.camera_id)
            log(f"{d.day}: footage {target.name}{f' (drift: {d.drift})' if d.drift else ''} dropped")
            ended, lag = answer(instance, cam.camera_id, d.day, timeout_s, log)
            result.runs.append(ended)
            result.sensor_lag_s.append(lag)
            if ended.status == "SUCCESS":
                result.runs += night(cfg, instance, d.day, timeout_s, log)
                rec, source = day_record(instance, cam.camera_id, d.day)
                row = row_of(rec, label_store_summary(out, cam.camera_id), d.day, d.drift, targets)
                result.rows.append({**row, "record": source})
    result.wall_s = time.monotonic() - t0
    return result


def report(result: DaysResult, out: Path, log=print) -> None:
    from pipelines.days_demo import write_table

    if result.rows:
        write_table(result.rows, out, log, title=result.camera_id)
    log(f"\n{result.camera_id}: {len(result.rows)} day(s) in {result.wall_s:.0f} s wall on the cluster")
    for r in result.runs:
        log(f"  {r.job:<15} {r.partition:<24} {r.status:<8} {r.seconds:6.0f} s  {r.launched_by}")
        for step, worker in r.worker_steps:
            log(f"      {step:<22} on worker {worker}")
    if result.sensor_lag_s:
        lags = ", ".join(f"{s:.0f}" for s in result.sensor_lag_s)
        log(f"  footage dropped -> {SENSOR}'s run queued: {lags} s")


def composited_camera(args: argparse.Namespace, out: Path, log) -> DaysCamera:
    """``make days-demo``'s camera: its videos made (once) and label packs imported, its registry entry."""
    import yaml

    from pipelines.days_demo import FIRST_DAY, import_pack, make_video, registry_text

    videos, footage = out / "videos", out / "footage"
    videos.mkdir(parents=True, exist_ok=True)
    footage.mkdir(parents=True, exist_ok=True)
    log(f"making the initial footage ({args.train_seconds:g} s) and {args.days} days of {args.day_seconds:g} s ...")
    try:
        train_video = make_video(videos, args.train_seconds)
        import_pack(train_video, args.reference, log)
        days = []
        for k in range(1, args.days + 1):
            drift = args.drift if k == args.drift_day else ""
            video = make_video(videos, args.day_seconds, hour=k + 1, drift=drift)
            import_pack(video, args.reference, log)
            days.append(DayFile((FIRST_DAY + timedelta(days=k - 1)).isoformat(), video, drift))
    except subprocess.CalledProcessError as err:
        raise ClusterError(
            f"making the camera's footage failed: {err}", "run the noscope command above by hand"
        ) from err
    entry = yaml.safe_load(registry_text(train_video, footage, args))["cameras"][0]
    return DaysCamera(entry, tuple(days))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from pipelines.days_demo import build_parser, check_args

    p = build_parser(
        "python -m pipelines.cluster.days", (__doc__ or "").split("\n")[0], days=2, day_seconds=120.0, out=None
    )
    p.add_argument("--timeout", type=float, default=3600, help="seconds each run may take (default 3600)")
    return check_args(p, p.parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = ClusterConfig.from_env()
    t_start = time.monotonic()

    def log(msg: str) -> None:
        print(f"[{time.monotonic() - t_start:6.0f} s] {msg}", flush=True)

    try:
        require_up(cfg)
        out = (args.out or cfg.state / "days").resolve()
        cam = composited_camera(args, out, log)
        result = run_days(cfg, cam, args, out, args.timeout, log)
        report(result, out, log)
    except ClusterError as err:
        print(f"cluster days: {err}", file=sys.stderr)
        return 2
    log(f"done in {time.monotonic() - t_start:.0f} s (first day {date.fromisoformat(cam.days[0].day)})")
    return 0 if result.ok and len(result.rows) == len(cam.days) else 1


if __name__ == "__main__":
    sys.exit(main())
