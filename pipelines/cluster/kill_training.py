"""``python -m pipelines.cluster.kill_training``: SIGKILL a Celery worker while it runs a camera's training step and
show what follows, the upstream artifacts in S3 being the same objects before and after and the training artifact
appearing once, complete:

- ``--target main`` (default): the worker's main process (a vanished host: its pool process dies with it). The
  step's message stays unacknowledged; the watchdog restarts the worker and re-queues the step, which runs again
  in the same Dagster run; the new attempt marks the dead attempt's MLflow run KILLED.
- ``--target pool``: only the pool process running the step. The living worker reports ``WorkerLostError``, the
  run fails, and the daemon retries it from the failed step (``run_retries``)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from pipelines.cluster import backfill, observe
from pipelines.cluster import processes as proc
from pipelines.cluster.cameras import DemoCamera, registered_ids, write_registry
from pipelines.cluster.config import ClusterConfig
from pipelines.cluster.demo import require_up, use_cluster
from pipelines.cluster.processes import ClusterError, running_pid
from pipelines.cluster.services import start_watchdog

UPSTREAM = ("decoded_frames", "reference_labels", "difference_detectors")


def worker_processes(worker_pgid: int) -> tuple[list[int], list[int]]:
    """(Celery main processes, their pool processes) in a worker's process group (its leader is dagster-celery)."""
    procs = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if int(fields[2]) == worker_pgid:
                procs[int(entry.name)] = (int(fields[1]), cmd)
    celery = {pid for pid, (_, cmd) in procs.items() if " celery " in f" {cmd} " or "/celery " in cmd}
    mains = sorted(pid for pid in celery if procs[pid][0] not in celery)
    return mains, sorted(pid for pid in celery if procs[pid][0] in mains)


def step_started(instance, run_id: str, step: str) -> bool:
    import dagster as dg

    recs = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_START).records
    return any(r.event_log_entry.step_key == step for r in recs)


def steps_done(instance, run_id: str, steps: tuple[str, ...] = UPSTREAM) -> bool:
    import dagster as dg

    recs = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS).records
    return set(steps) <= {r.event_log_entry.step_key for r in recs}


def materializations(instance, camera_id: str) -> dict[str, int]:
    """How many times each asset of the camera was materialized (a step re-run must not publish twice)."""
    import dagster as dg

    from pipelines.assets import ASSETS

    out = {}
    for key in (a.key for a in ASSETS):
        flt = dg.AssetRecordsFilter(asset_key=key, asset_partitions=[camera_id])
        out[key.path[-1]] = len(instance.fetch_materializations(flt, limit=100).records)
    return out


def steps_run(instance, run_id: str) -> list[str]:
    import dagster as dg

    recs = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_START).records
    return [r.event_log_entry.step_key for r in recs]


def print_stalled(cfg: ClusterConfig, instance, run_id: str, held_s: float) -> None:
    """What the stack looks like with nobody to notice the dead worker."""
    import redis

    from pipelines.cluster.watchdog import read_unacked

    env = cfg.client_env()
    unacked = read_unacked(redis.Redis.from_url(env["NOSCOPE_CELERY_BROKER"]))
    alive = running_pid(cfg.pid_dir, "worker-w2") is not None
    print(f"  {held_s:.0f} s later, without the watchdog: run {run_id[:8]} {instance.get_run_by_id(run_id).status.value}, "
          f"worker w2 {'alive' if alive else 'gone'}, {len(unacked)} unacknowledged step message(s) "
          f"({', '.join(u.routing_key for u in unacked)}); steps started: {', '.join(steps_run(instance, run_id))}")  # fmt: skip


def print_watchdog(cfg: ClusterConfig) -> None:
    log = cfg.log_dir / "watchdog.log"
    lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
    for line in lines[-6:]:
        print(f"  watchdog: {line}")


def print_mlflow_runs(camera_id: str) -> None:
    from mlflow import MlflowClient

    from pipelines.abandoned_runs import ABANDONED_TAG

    client = MlflowClient()
    exp = client.get_experiment_by_name("noscope")
    runs = client.search_runs([exp.experiment_id], f"tags.camera = '{camera_id}' and tags.kind = 'training'")
    for r in sorted(runs, key=lambda r: r.info.start_time):
        closed = r.data.tags.get(ABANDONED_TAG)
        print(f"  MLflow training run {r.info.run_id[:8]} {r.info.status:<8} dagster run "
              f"{r.data.tags.get('dagster_run_id', '-')[:8]}{f'  ({ABANDONED_TAG} {closed})' if closed else ''}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipelines.cluster.kill_training")
    ap.add_argument("--camera", default="kill-1")
    ap.add_argument("--frames", type=int, default=800)
    ap.add_argument("--max-epochs", type=int, default=8)
    ap.add_argument("--after", type=float, default=8.0, help="seconds into the training step to kill")
    ap.add_argument("--target", choices=["main", "pool"], default="main", help="the worker's main or pool process")
    ap.add_argument("--hold-watchdog", type=float, default=0.0,
                    help="keep the watchdog stopped this many seconds after the kill, to show what happens without it")  # fmt: skip
    args = ap.parse_args(argv)
    cfg = ClusterConfig.from_env()
    try:
        require_up(cfg)
        use_cluster(cfg)
        import dagster as dg

        from pipelines.partitions import sync_instance
        from pipelines.resources import ArtifactStore

        cam = DemoCamera(args.camera, seed=7, n_frames=args.frames, max_epochs=args.max_epochs)
        registry = write_registry([cam], cfg.state / "videos", cfg.state / "cameras.yaml")
        remote = ArtifactStore().remote()
        with dg.DagsterInstance.get() as instance:
            sync_instance(instance, registered_ids(registry))
            bf = backfill.launch_backfill(cfg.webserver_port, [cam.camera_id])
            print(f"backfill {bf}: camera {cam.camera_id}, {args.frames} frames, {args.max_epochs} epochs")
            run_id = None
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline:
                spans = backfill.runs_of(instance, {"dagster/backfill": bf})
                run_id = spans[0].run_id if spans else None
                # upstream finished (difference_detectors runs beside the training) and the training under way
                if run_id and step_started(instance, run_id, "specialized_models") and steps_done(instance, run_id):
                    break
                time.sleep(1)
            else:
                raise ClusterError("the training step never started")
            before = {a: remote.manifest(cam.camera_id, a) for a in UPSTREAM}
            time.sleep(args.after)
            if steps_done(instance, run_id, ("specialized_models",)):
                raise ClusterError(
                    f"the training finished within {args.after:.0f} s, before the kill", "raise --max-epochs"
                )
            if args.hold_watchdog:
                proc.stop(cfg.pid_dir, "watchdog")
            pgid = running_pid(cfg.pid_dir, "worker-w2")
            mains, pool = worker_processes(pgid) if pgid else ([], [])
            victims = mains if args.target == "main" else pool
            if not victims:
                raise ClusterError(f"found no Celery {args.target} process of worker w2 to kill")
            for pid in victims:
                os.kill(pid, signal.SIGKILL)
            print(f"[{time.strftime('%H:%M:%S')}] SIGKILLed worker w2's {args.target} process {victims} (pool: {pool}) "
                  f"{args.after:.0f} s into specialized_models of run {run_id[:8]}")  # fmt: skip
            if args.hold_watchdog:
                time.sleep(args.hold_watchdog)
                print_stalled(cfg, instance, run_id, args.hold_watchdog)
                start_watchdog(cfg)
                print(f"[{time.strftime('%H:%M:%S')}] watchdog started again")
            spans = backfill.wait_for_cameras(instance, bf, [cam.camera_id], 600)
            for s in spans:
                status = instance.get_run_by_id(s.run_id).status.value
                print(f"  run {s.run_id[:8]} {status:<8} retry of {(s.retry_of or '-')[:8]:<8} "
                      f"steps started: {', '.join(steps_run(instance, s.run_id))}")  # fmt: skip
                placed = [f"{p.step_key}@{p.worker.split('@')[0]}" for p in observe.step_workers(instance, s.run_id)]
                print(f"    steps handed to workers, in order: {', '.join(placed)}")
            failure = [
                r.event_log_entry.dagster_event.message
                for r in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
            ]
            print(f"  first run's failure: {(failure[0] if failure else '(none)')[:300]}")
            counts = materializations(instance, cam.camera_id)
            print("  materializations: " + ", ".join(f"{k} x{n}" for k, n in counts.items()))
        print_watchdog(cfg)
        print_mlflow_runs(cam.camera_id)
        after = {a: remote.manifest(cam.camera_id, a) for a in UPSTREAM}
        for a in UPSTREAM:
            same = before[a] is not None and after[a] is not None and before[a].to_json() == after[a].to_json()
            print(
                f"  {a:<22} manifest {'unchanged' if same else 'CHANGED'} ({after[a].digest[:12] if after[a] else '-'})"
            )
        trained = remote.manifest(cam.camera_id, "specialized_models")
        files = remote.materialize(trained) if trained else None
        print(f"  specialized_models     published {trained.published_utc if trained else 'NEVER'}: "
              f"{len(trained.files) if trained else 0} files, verified into {files}")  # fmt: skip
        ok = any(s.status == "SUCCESS" for s in spans)
    except ClusterError as err:
        print(f"kill_training: {err}", file=sys.stderr)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
