"""Long-lived servers as process groups: started with ``setsid``, PID recorded, stopped by that group only."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from noscope_core.common.atomic import pid_alive
from noscope_core.common.errors import NoScopeError


class ClusterError(NoScopeError):
    """A server of the stack could not be installed, started or reached."""


def start(
    name: str,
    argv: Sequence[str],
    pid_dir: Path,
    log_dir: Path,
    env: dict[str, str],
    cwd: Path | None = None,
    user: str | None = None,
) -> int:
    """Start ``argv`` in its own session (its PID is its process group id) and record the PID."""
    pid_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    if (pid := running_pid(pid_dir, name)) is not None:
        return pid
    with open(log_dir / f"{name}.log", "wb") as log:  # a fresh log per start: readiness is read from it
        proc = subprocess.Popen(
            list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=cwd, start_new_session=True, user=user,
        )  # fmt: skip
    (pid_dir / f"{name}.pid").write_text(f"{proc.pid}\n")
    return proc.pid


def running_pid(pid_dir: Path, name: str) -> int | None:
    pid = _recorded_pid(pid_dir / f"{name}.pid")
    return pid if pid is not None and alive(pid) else None


def _recorded_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def alive(pid: int) -> bool:
    if not pid_alive(pid):
        return False
    # a zombie child of ours counts as gone
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def stop(pid_dir: Path, name: str, timeout_s: float = 30.0, sig: int = signal.SIGTERM) -> bool:
    """``sig`` to the recorded process group, SIGKILL after ``timeout_s``; True when something was stopped."""
    path = pid_dir / f"{name}.pid"
    pid = running_pid(pid_dir, name)
    if pid is None:
        # the leader died (SIGKILL): what is left of its group (a Celery pool process, say) goes too
        recorded = _recorded_pid(path)
        if recorded is not None and _group_alive(recorded):
            _signal_group(recorded, signal.SIGKILL)
        path.unlink(missing_ok=True)
        return False
    _signal_group(pid, sig)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _group_alive(pid):
        _reap(pid)
        time.sleep(0.2)
    if _group_alive(pid):
        _signal_group(pid, signal.SIGKILL)
        time.sleep(0.5)
    _reap(pid)
    path.unlink(missing_ok=True)
    return True


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _group_alive(pgid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_until(what: str, ready: Callable[[], bool], timeout_s: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except Exception:  # noqa: BLE001 - not ready yet
            pass
        time.sleep(0.5)
    tail = ""
    if log is not None and log.is_file():
        tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-5:])
    raise ClusterError(f"{what} did not become ready in {timeout_s:.0f} s", f"see {log}: {tail}" if log else None)
