"""Servers run as process groups: started in their own session with the PID recorded, stopped by that group only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from pipelines.cluster import processes as proc


def test_stop_ends_the_whole_group_and_forgets_the_pid(tmp_path):
    # a shell that starts a child, as dagster-celery starts celery: both must go
    pid = proc.start("svc", ["bash", "-c", "sleep 60 & wait"], tmp_path / "pids", tmp_path / "logs", dict(os.environ))
    assert os.getpgid(pid) == pid  # its own process group
    time.sleep(0.3)
    children = subprocess.run(["pgrep", "-g", str(pid)], capture_output=True, text=True).stdout.split()
    assert len(children) >= 2
    assert proc.running_pid(tmp_path / "pids", "svc") == pid
    assert proc.stop(tmp_path / "pids", "svc", timeout_s=5)
    assert not any(proc.alive(int(c)) for c in children)
    assert not (tmp_path / "pids" / "svc.pid").exists()
    assert not proc.stop(tmp_path / "pids", "svc")


def test_a_running_server_is_not_started_twice_and_a_stale_pid_file_is_ignored(tmp_path):
    env = dict(os.environ)
    pid = proc.start("svc", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path, tmp_path, env)
    try:
        assert proc.start("svc", ["false"], tmp_path, tmp_path, env) == pid
    finally:
        proc.stop(tmp_path, "svc", timeout_s=5, sig=signal.SIGINT)
    (tmp_path / "svc.pid").write_text(f"{pid}\n")  # that process is gone now
    assert proc.running_pid(tmp_path, "svc") is None


def test_wait_until_names_the_server_and_the_end_of_its_log(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("starting\nFATAL: port in use\n")
    try:
        proc.wait_until("Thing", lambda: False, 0.5, log)
    except proc.ClusterError as err:
        assert "Thing did not become ready" in str(err) and "port in use" in str(err)
    else:
        raise AssertionError("no error")
