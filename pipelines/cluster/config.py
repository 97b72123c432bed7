"""Where the stack lives (a git-ignored state folder), the ports it binds on 127.0.0.1, and the environment and
configuration files that switch the pipeline onto it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STATE = REPO_ROOT / ".cluster"
#: ports base..base+24 (and base+14+10000, see ``admin_port``); chosen away from the usual defaults
DEFAULT_BASE_PORT = 47100
#: Celery queues: the reference (labelling) and training go to workers of their own; the rest share "dagster"
WORKER_QUEUES = {"w1": ("dagster", "labelling"), "w2": ("dagster", "training")}
#: Redis's redelivery timeout for unacknowledged step messages (see ``celery_config``)
VISIBILITY_TIMEOUT_S = 12 * 3600
#: what every process running pipeline code needs, here and on Kubernetes (cluster/k8s/values.yaml)
PORTABLE_ENV = (
    "NOSCOPE_ARTIFACT_URL",
    "NOSCOPE_S3_ENDPOINT_URL",
    "MLFLOW_S3_ENDPOINT_URL",
    "MLFLOW_TRACKING_URI",
    "NOSCOPE_CAMERAS",
    "AWS_DEFAULT_REGION",
)
#: the same, but secret (a Kubernetes Secret there)
SECRET_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


@dataclass(frozen=True)
class ClusterConfig:
    state: Path = DEFAULT_STATE
    base_port: int = DEFAULT_BASE_PORT
    db_user: str = "noscope"
    db_password: str = "noscope-local"
    s3_key: str = "noscope"
    s3_secret: str = "noscope-local-secret"
    bucket: str = "noscope"
    max_concurrent_runs: int = 2

    @classmethod
    def from_env(cls) -> ClusterConfig:
        return cls(
            state=Path(os.environ.get("NOSCOPE_CLUSTER_STATE", DEFAULT_STATE)).expanduser().resolve(),
            base_port=int(os.environ.get("NOSCOPE_CLUSTER_BASE_PORT", DEFAULT_BASE_PORT)),
        )

    # ports
    @property
    def pg_port(self) -> int:
        return self.base_port

    @property
    def redis_port(self) -> int:
        return self.base_port + 1

    @property
    def mlflow_port(self) -> int:
        return self.base_port + 2

    @property
    def webserver_port(self) -> int:
        return self.base_port + 3

    @property
    def s3_port(self) -> int:
        return self.base_port + 10

    @property
    def admin_port(self) -> int:
        # a built-in SeaweedFS worker dials admin port + 10000 whatever else is set: keep it a valid port
        return self.base_port + 14

    def weed_ports(self) -> dict[str, int]:
        b = self.base_port
        return {
            "s3.port": self.s3_port,
            "s3.port.grpc": b + 20,
            "master.port": b + 11,
            "master.port.grpc": b + 21,
            "volume.port": b + 12,
            "volume.port.grpc": b + 22,
            "filer.port": b + 13,
            "filer.port.grpc": b + 23,
            "admin.port": self.admin_port,
        }

    # folders and URLs
    @property
    def dagster_home(self) -> Path:
        return self.state / "dagster_home"

    @property
    def pid_dir(self) -> Path:
        return self.state / "pids"

    @property
    def log_dir(self) -> Path:
        return self.state / "logs"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}"

    @property
    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def artifact_url(self) -> str:
        return f"s3://{self.bucket}/artifacts"

    def db_uri(self, db: str) -> str:
        # SQLAlchemy 2.1 reads plain postgresql:// as psycopg 3, which the [cluster] extra does not install
        return f"postgresql+psycopg2://{self.db_user}:{self.db_password}@127.0.0.1:{self.pg_port}/{db}"

    def client_env(self) -> dict[str, str]:
        """What a process needs to use the stack: Dagster, the workers, MLflow and S3 clients alike."""
        return {
            "DAGSTER_HOME": str(self.dagster_home),
            "NOSCOPE_EXECUTOR": "celery",
            "NOSCOPE_CELERY_BROKER": f"{self.redis_url}/0",
            "NOSCOPE_CELERY_BACKEND": f"{self.redis_url}/1",
            "NOSCOPE_ARTIFACT_URL": self.artifact_url,
            "NOSCOPE_ARTIFACTS": str(self.state / "work" / "artifacts"),
            "NOSCOPE_CAMERAS": str(self.state / "cameras.yaml"),
            "NOSCOPE_S3_ENDPOINT_URL": self.s3_endpoint,
            "MLFLOW_S3_ENDPOINT_URL": self.s3_endpoint,
            "AWS_ACCESS_KEY_ID": self.s3_key,
            "AWS_SECRET_ACCESS_KEY": self.s3_secret,
            "AWS_DEFAULT_REGION": "us-east-1",
            "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{self.mlflow_port}",
            "NOSCOPE_MLFLOW_UI": f"http://127.0.0.1:{self.mlflow_port}",
        }

    # configuration files
    def dagster_yaml(self) -> dict:
        return {
            "storage": {
                "postgres": {
                    "postgres_db": {
                        "username": self.db_user,
                        "password": self.db_password,
                        "hostname": "127.0.0.1",
                        "port": self.pg_port,
                        "db_name": "dagster",
                        "scheme": "postgresql+psycopg2",
                    }
                }
            },
            "run_coordinator": {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator"},
            "concurrency": {
                "runs": {
                    "max_concurrent_runs": self.max_concurrent_runs,
                    # one run per camera: a re-training and a query of one camera must not interleave writes
                    "tag_concurrency_limits": [
                        {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
                    ],
                }
            },
            # a run whose step died with its worker (SIGKILL, OOM) is retried from the failed step
            "run_retries": {"enabled": True, "max_retries": 2},
            "telemetry": {"enabled": False},
        }

    def workspace_yaml(self) -> dict:
        return {
            "load_from": [
                {
                    "python_module": {
                        "module_name": "pipelines.definitions",
                        "location_name": "noscope",
                        "working_directory": str(REPO_ROOT),
                    }
                }
            ]
        }

    def worker_yaml(self) -> dict:
        return {"execution": {"config": celery_config(self.client_env())}}

    def write_files(self) -> None:
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        (self.dagster_home / "dagster.yaml").write_text(yaml.safe_dump(self.dagster_yaml(), sort_keys=False))
        (self.state / "workspace.yaml").write_text(yaml.safe_dump(self.workspace_yaml(), sort_keys=False))
        (self.state / "worker.yaml").write_text(yaml.safe_dump(self.worker_yaml(), sort_keys=False))
        lines = [f"export {k}={v}" for k, v in self.client_env().items()]
        (self.state / "env.sh").write_text("# source this to use the stack from a shell\n" + "\n".join(lines) + "\n")


def ports_free(cfg: ClusterConfig) -> bool:
    """True when every port the stack would bind on 127.0.0.1 is free now."""
    import socket

    ports = [cfg.pg_port, cfg.redis_port, cfg.mlflow_port, cfg.webserver_port, *cfg.weed_ports().values()]
    for port in [*ports, cfg.admin_port + 10000]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_base_port(start: int = 20000, stop: int = 40000, step: int = 100) -> int:
    """A base port whose whole block is free (tests run their own stack beside a developer's)."""
    import random

    bases = list(range(start, stop, step))
    random.shuffle(bases)
    for base in bases:
        if ports_free(ClusterConfig(base_port=base)):
            return base
    raise OSError(f"no free block of ports between {start} and {stop}")


def celery_config(env: dict[str, str] | None = None) -> dict:
    """The Celery executor's config from ``NOSCOPE_CELERY_BROKER`` / ``NOSCOPE_CELERY_BACKEND``."""
    env = dict(os.environ if env is None else env)
    return {
        "broker": env.get("NOSCOPE_CELERY_BROKER", "redis://127.0.0.1:6379/0"),
        "backend": env.get("NOSCOPE_CELERY_BACKEND", "redis://127.0.0.1:6379/1"),
        "config_source": {
            # one step at a time per worker: two cores, and a step already uses two threads
            "worker_concurrency": 1,
            "worker_prefetch_multiplier": 1,
            # a step's message is acknowledged when it ends, so a worker whose main process dies (SIGKILL, a
            # vanished host) leaves it unacknowledged for the watchdog to re-queue (pipelines/cluster/watchdog.py);
            # a pool process lost under a living worker still fails the step (WorkerLostError -> run retry)
            "task_acks_late": True,
            "task_reject_on_worker_lost": False,
            # Redis re-delivers an unacknowledged message after this long even if its worker still runs it:
            # longer than any step (the hour camera's labelling takes ~1 h on two cores)
            "broker_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT_S},
        },
    }
