"""``python -m pipelines.cluster up | down | status | check``: the stack in the state folder (NOSCOPE_CLUSTER_STATE,
default ``<repo>/.cluster``) on ports from NOSCOPE_CLUSTER_BASE_PORT (default 47100)."""

from __future__ import annotations

import argparse
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
    return time.perf_counter() - t0


def down(cfg: ClusterConfig, log=print) -> list[str]:
    stopped = []
    for s in reversed(svc.SERVICES):
        if proc.stop(cfg.pid_dir, s.name, sig=s.stop_signal):
            stopped.append(s.name)
            log(f"  stopped {s.name}")
    return stopped


def status(cfg: ClusterConfig) -> dict[str, int | None]:
    return {s.name: proc.running_pid(cfg.pid_dir, s.name) for s in svc.SERVICES}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipelines.cluster")
    ap.add_argument("command", choices=["up", "down", "status", "check"])
    args = ap.parse_args(argv)
    cfg = ClusterConfig.from_env()
    try:
        if args.command == "check":
            gaps = svc.missing()
            for g in gaps:
                print(f"missing: {g}")
            return 1 if gaps else 0
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
