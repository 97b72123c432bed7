"""``python -m pipelines.cluster.demo``: register cameras (synthetic ones; with ``--real`` also the repository
registry's real-pixel vtest and vtest-long, labelled by SSD), backfill them through the cluster's run queue,
print the wall time, the runs' overlap and which worker ran which step; ``--embedded`` times the same cameras
one after another on the embedded default (SQLite, local files, in-process) for comparison."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipelines.cluster import backfill, observe
from pipelines.cluster import processes as proc
from pipelines.cluster.cameras import demo_cameras, real_cameras, registered_ids, video_of, write_registry
from pipelines.cluster.champion import load_champion_fresh
from pipelines.cluster.config import REPO_ROOT, ClusterConfig
from pipelines.cluster.processes import ClusterError
from pipelines.cluster.services import SERVICES


def require_up(cfg: ClusterConfig) -> None:
    down = [s.name for s in SERVICES if proc.running_pid(cfg.pid_dir, s.name) is None]
    if down:
        raise ClusterError(f"not running: {', '.join(down)}", "start the stack first: make cluster-up")


def use_cluster(cfg: ClusterConfig) -> None:
    """Point this process at the stack (before Dagster, MLflow or s3fs read their environment)."""
    os.environ.update(cfg.client_env())


def run_cluster(cfg: ClusterConfig, camera_ids: list[str], timeout_s: float, log=print) -> dict:
    import dagster as dg

    from pipelines.partitions import sync_instance

    use_cluster(cfg)
    with dg.DagsterInstance.get() as instance:
        sync_instance(instance, registered_ids(cfg.state / "cameras.yaml"))
        t0 = time.time()
        backfill_id = backfill.launch_backfill(cfg.webserver_port, camera_ids)
        log(f"backfill {backfill_id}: {len(camera_ids)} cameras queued")
        spans = backfill.wait_for_cameras(instance, backfill_id, camera_ids, timeout_s, log=log)
        wall_s = time.time() - t0
        placements = [p for s in spans for p in observe.step_workers(instance, s.run_id)]
    ok = sorted({s.camera_id for s in spans if s.status == "SUCCESS"})
    return {
        "backfill_id": backfill_id,
        "wall_s": wall_s,
        "runs": spans,
        "succeeded": ok,
        "max_concurrent_runs": backfill.max_overlap(spans),
        "placements": placements,
    }


def run_embedded(registry: Path, log=print) -> float:
    """``noscope demo`` over the same registry in a clean environment: SQLite, local files, one camera at a time."""
    work = Path(tempfile.mkdtemp(prefix="noscope-embedded-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOSCOPE_", "MLFLOW_", "AWS_", "DAGSTER_"))}
    env.update(
        NOSCOPE_CAMERAS=str(registry),
        DAGSTER_HOME=str(work / "dagster_home"),
        NOSCOPE_ARTIFACTS=str(work / "artifacts"),
        NOSCOPE_MLFLOW=str(work / "mlflow"),
        NOSCOPE_HOME=os.environ.get("NOSCOPE_HOME", str(Path.home() / ".cache" / "noscope")),
        PYTHONPATH=str(REPO_ROOT),
    )
    (work / "dagster_home").mkdir(parents=True)
    t0 = time.time()
    r = subprocess.run(
        [sys.executable, "-m", "noscope_cli", "demo"], env=env, cwd=REPO_ROOT, capture_output=True, text=True
    )
    wall_s = time.time() - t0
    if r.returncode != 0:
        raise ClusterError(f"the embedded demo failed: {r.stderr.strip()[-400:]}")
    log(f"embedded (SQLite, local files, in-process), cameras one after another: {wall_s:.1f} s  [{work}]")
    return wall_s


def report(result: dict, log=print) -> None:
    log(f"\ncluster: {len(result['succeeded'])} cameras succeeded in {result['wall_s']:.1f} s wall "
        f"(submission to last run finished); at most {result['max_concurrent_runs']} runs at once")  # fmt: skip
    t_first = min((s.start_s for s in result["runs"] if s.start_s), default=0.0)
    for s in result["runs"]:
        span = f"{s.start_s - t_first:6.1f} .. {s.end_s - t_first:6.1f} s" if s.start_s and s.end_s else "(no span)"
        retry = f"  retry of {s.retry_of[:8]}" if s.retry_of else ""
        log(f"  {s.camera_id:<10} run {s.run_id[:8]} {s.status:<8} {span}{retry}")
    by_worker: dict[str, list[str]] = {}
    for p in result["placements"]:
        by_worker.setdefault(p.worker, []).append(p.step_key)
    for worker, steps in sorted(by_worker.items()):
        counts = {k: steps.count(k) for k in dict.fromkeys(steps)}
        log(f"  worker {worker}: " + ", ".join(f"{k} x{n}" for k, n in counts.items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipelines.cluster.demo")
    ap.add_argument("--cameras", type=int, default=4, help="synthetic cameras")
    ap.add_argument("--real", action="store_true", help="also the real-pixel cameras of the repository's cameras.yaml")
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--max-epochs", type=int, default=2)
    ap.add_argument("--prefix", default="synth")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--embedded", action="store_true", help="also time the same cameras embedded, one after another")
    ap.add_argument("--champion", action="store_true", help="load a champion in a fresh process via the server")
    args = ap.parse_args(argv)
    cfg = ClusterConfig.from_env()
    try:
        require_up(cfg)
        cams = demo_cameras(args.cameras, args.frames, args.max_epochs, args.prefix)
        real = real_cameras() if args.real else []
        registry = write_registry(cams, cfg.state / "videos", cfg.state / "cameras.yaml", extra=real)
        ids = [e["id"] for e in real] + [c.camera_id for c in cams]
        print(f"registry {registry}: {', '.join(e['id'] for e in real)} (real pixels, SSD) "
              f"{', '.join(c.camera_id for c in cams)} (synthetic, {args.frames} frames each)")  # fmt: skip
        result = run_cluster(cfg, ids, args.timeout)
        report(result)
        if args.champion and result["succeeded"]:
            # a real camera when there is one: its cascade holds SSD-trained models
            cam = next((i for i in ids if i in result["succeeded"]), result["succeeded"][0])
            c = load_champion_fresh(cfg, cam, video_of(registry, cam))
            print(f"\nchampion {c.model_name} v{c.version} loaded in a fresh process (only MLFLOW_TRACKING_URI set) "
                  f"in {c.load_s:.1f} s from {c.source}; {c.positives}/{c.frames} frames positive; "
                  f"{c.s3_objects} MLflow objects in s3://{cfg.bucket}/mlflow/")  # fmt: skip
        if args.embedded:
            run_embedded(registry)
    except ClusterError as err:
        print(f"cluster demo: {err}", file=sys.stderr)
        return 2
    return 0 if len(result["succeeded"]) == len(ids) else 1


if __name__ == "__main__":
    sys.exit(main())
