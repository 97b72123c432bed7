"""The real stack for the ``cluster`` tests: installed (cluster/install.sh) and started (``python -m
pipelines.cluster up``) by the project's own scripts in a fresh state folder on free ports, stopped by PID after.

Nothing is skipped: a missing server or package fails the tests with the exact piece that is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _env(cfg) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOSCOPE_", "MLFLOW_", "AWS_", "DAGSTER_"))}
    env.update(
        NOSCOPE_CLUSTER_STATE=str(cfg.state),
        NOSCOPE_CLUSTER_BASE_PORT=str(cfg.base_port),
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
        NOSCOPE_HOME=os.environ.get("NOSCOPE_HOME", str(Path.home() / ".cache" / "noscope")),
    )
    return env


@pytest.fixture(scope="session")
def stack():
    """A running stack (its ClusterConfig); torn down by PID at the end of the session, checked gone."""
    from pipelines.cluster.config import ClusterConfig, free_base_port
    from pipelines.cluster.processes import alive
    from pipelines.cluster.services import SERVICES

    install = subprocess.run(
        ["bash", str(REPO / "cluster" / "install.sh"), sys.executable], cwd=REPO, capture_output=True, text=True
    )
    if install.returncode != 0:
        pytest.fail(f"the cluster stack cannot be installed here:\n{install.stdout}{install.stderr}", pytrace=False)
    state = Path(tempfile.mkdtemp(prefix="noscope-cluster-test-", dir="/tmp"))
    cfg = ClusterConfig(state=state, base_port=free_base_port())
    env = _env(cfg)
    try:
        up = subprocess.run(
            [sys.executable, "-m", "pipelines.cluster", "up"], env=env, cwd=REPO, capture_output=True, text=True,
            timeout=600,
        )  # fmt: skip
        if up.returncode != 0:
            pytest.fail(f"the cluster did not start:\n{up.stdout}{up.stderr}", pytrace=False)
        yield cfg
    finally:
        pids = {s.name: (cfg.pid_dir / f"{s.name}.pid") for s in SERVICES}
        pids = {n: int(p.read_text()) for n, p in pids.items() if p.is_file()}
        subprocess.run([sys.executable, "-m", "pipelines.cluster", "down"], env=env, cwd=REPO, timeout=300)
        left = {n: pid for n, pid in pids.items() if alive(pid)}
        shutil.rmtree(state, ignore_errors=True)
        assert not left, f"still running after cluster down: {left}"


@pytest.fixture
def cluster_env(stack, monkeypatch):
    """This process pointed at the stack, as its servers and workers are."""
    for k, v in stack.client_env().items():
        monkeypatch.setenv(k, v)
    return stack


@pytest.fixture(scope="session")
def run_env():
    return _env
