"""``python -m pipelines.cluster up | down | status | check | gc``: the stack in the state folder
(NOSCOPE_CLUSTER_STATE, default ``<repo>/.cluster``) on ports from NOSCOPE_CLUSTER_BASE_PORT (default 47100).
``gc`` lists (``--delete``: deletes) the artifact blobs no manifest names (pipelines/storage/collect.py)."""

from __future__ import annotations

import argparse
import os
import sys
import time

from pipelines.cluster import processes as proc
from pipelines.cluster import services as svc
from pipelines.cluster.config import WORKER_QUEUES, ClusterConfig
from pipelines.cluster.processes import ClusterError


def up(cfg: ClusterConfig, log=print) -> float:
    """Start every server (those already running are kept); returns the seconds it took."""
    gaps = svc.missing()
    if gaps:
        raise ClusterError("cannot start the cluster, missing: " + "; ".join(gaps), svc.INSTALL_HINT)
    t0 = time.perf_counter()
    cfg.state.mkdir(parents=True, exist_ok=True)
    cfg.state.chmod(0o755)  # PostgreSQL runs as its own user and must reach its folder
    cfg.write_files()
    for step in (svc.start_postgres, svc.start_redis, svc.start_s3):
        step(cfg)
        log(f"  {step.__name__[6:]:<10} up ({time.perf_counter() - t0:.1f} s)")
    for name, queues in WORKER_QUEUES.items():  # workers and MLflow load slowly: start them together
        svc.start_worker(cfg, name, queues)
    svc.start_mlflow(cfg)
    log(f"  mlflow     up at http://127.0.0.1:{cfg.mlflow_port} ({time.perf_counter() - t0:.1f} s)")
    svc.start_daemon(cfg)
    svc.start_webserver(cfg)
    log(f"  dagster    up at http://127.0.0.1:{cfg.webserver_port} ({time.perf_counter() - t0:.1f} s)")
    svc.wait_workers(cfg)
    workers = ", ".join(f"{n} ({'+'.join(q)})" for n, q in WORKER_QUEUES.items())
    log(f"  workers    {workers} ready")
    svc.start_watchdog(cfg)  # after the workers: it restarts any that is gone
    log("  watchdog   up (restarts dead workers, re-queues the steps they held)")
    return time.perf_counter() - t0


def down(cfg: ClusterConfig, log=print) -> list[str]:
    stopped = []
    for s in reversed(svc.SERVICES):
        if proc.stop(cfg.pid_dir, s.name, sig=s.stop_signal):
            stopped.append(s.name)
            log(f"  stopped {s.name}")
    return stopped


def runs_in_progress(cfg: ClusterConfig) -> list[str]:
    """Ids of the instance's runs that are queued or executing (a collection must not run beside a publish)."""
    import dagster as dg

    busy = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
            dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]  # fmt: skip
    with dg.DagsterInstance.get() as instance:
        return [r.run_id for r in instance.get_runs(dg.RunsFilter(statuses=busy))]


def gc(cfg: ClusterConfig, delete: bool, min_age_s: float, force: bool = False, url: str | None = None):
    """Collect the artifact root's unnamed blobs (a dry run unless ``delete``); refuses while runs are in progress."""
    from pipelines.storage import open_root
    from pipelines.storage.collect import collect

    os.environ.update(cfg.client_env())  # S3 endpoint and keys, the cluster's Dagster instance
    if delete and not force:
        busy = runs_in_progress(cfg)
        if busy:
            raise ClusterError(
                f"{len(busy)} Dagster run(s) in progress ({', '.join(b[:8] for b in busy)}): a publish reuses blobs "
                "already stored, which a collection beside it could delete",
                "wait until they finish, or --force",
            )
    remote = open_root(url or cfg.artifact_url, cfg.state / "work" / "artifacts" / ".cache")
    return collect(remote, dry_run=not delete, min_age_s=min_age_s)


def status(cfg: ClusterConfig) -> dict[str, int | None]:
    return {s.name: proc.running_pid(cfg.pid_dir, s.name) for s in svc.SERVICES}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipelines.cluster")
    ap.add_argument("command", choices=["up", "down", "status", "check", "gc"])
    ap.add_argument("--delete", action="store_true", help="gc: delete (default: a dry run that only lists)")
    ap.add_argument("--min-age-hours", type=float, default=1.0, help="gc: keep unnamed blobs younger than this")
    ap.add_argument("--force", action="store_true", help="gc: delete even while Dagster runs are in progress")
    ap.add_argument("--url", help="gc: another artifact root (file:///... or s3://...) instead of the cluster's")
    args = ap.parse_args(argv)
    cfg = ClusterConfig.from_env()
    try:
        if args.command == "check":
            gaps = svc.missing()
            for g in gaps:
                print(f"missing: {g}")
            return 1 if gaps else 0
        if args.command == "gc":
            report = gc(cfg, args.delete, args.min_age_hours * 3600, args.force, args.url)
            print(f"{args.url or cfg.artifact_url}: {report.describe()}")
            return 0
        if args.command == "up":
            print(f"cluster state in {cfg.state}")
            seconds = up(cfg)
            print(f"cluster up in {seconds:.0f} s; use it from a shell with: source {cfg.state / 'env.sh'}")
        elif args.command == "down":
            print("stopped: " + (", ".join(down(cfg)) or "nothing was running"))
        else:
            for name, pid in status(cfg).items():
                print(f"{name:<18} {'pid ' + str(pid) if pid else 'stopped'}")
    except ClusterError as err:
        print(f"cluster: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
