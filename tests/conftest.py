import subprocess

import pytest


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process that has exited: what a writer killed mid-way leaves in its temporary names."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid
