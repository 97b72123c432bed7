"""The watchdog re-queues the task of a Celery worker whose main process was SIGKILLed, and nothing else."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from pipelines.cluster import processes as proc
from pipelines.cluster.watchdog import Unacked, Watchdog, judge, read_unacked

NOW = 1_000_000.0


def _item(task_id: str, age_s: float = 120.0) -> Unacked:
    return Unacked(tag=f"tag-{task_id}", task_id=task_id, task="execute_plan", routing_key="training",
                   delivered_s=NOW - age_s)  # fmt: skip


def _actions(verdicts) -> dict[str, str]:
    return {v.item.task_id: v.action for v in verdicts}


def test_judge_requeues_only_what_no_living_worker_holds_and_nothing_while_a_worker_is_silent():
    items = [_item("done"), _item("held"), _item("acking"), _item("lost"), _item("fresh", age_s=5), _item("looping")]
    held, finished = {"held", "acking"}, {"done", "acking"}  # "acking": result stored, acknowledgement on its way
    got = _actions(judge(items, held, finished, answered=True, now_s=NOW, requeues={"looping": 2}))
    assert got == {"done": "forget", "held": "wait", "acking": "wait", "lost": "requeue", "fresh": "wait",
                   "looping": "fail"}  # fmt: skip
    silent = _actions(judge(items, held, finished, answered=False, now_s=NOW))
    assert silent == {"done": "forget", "held": "wait", "acking": "wait", "lost": "wait", "fresh": "wait",
                      "looping": "wait"}  # fmt: skip


TASKS = """
import os, time
from celery import Celery
app = Celery("toy", broker=os.environ["TOY_BROKER"], backend=os.environ["TOY_BACKEND"])
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=1, worker_concurrency=1)

@app.task
def slow(path, seconds):
    with open(path, "a") as fh:
        fh.write("start\\n")
    time.sleep(seconds)
    return seconds
"""


@pytest.mark.cluster
def test_a_task_whose_worker_main_process_was_killed_is_requeued_and_finishes(stack, tmp_path):
    broker, backend = f"{stack.redis_url}/8", f"{stack.redis_url}/9"
    (tmp_path / "toy_tasks.py").write_text(TASKS)
    env = {**os.environ, "TOY_BROKER": broker, "TOY_BACKEND": backend, "PYTHONPATH": str(tmp_path)}
    celery = str(Path(sys.executable).parent / "celery")
    argv = [celery, "-A", "toy_tasks", "worker", "-n", "toy@%h", "-c", "1", "--loglevel", "INFO",
            "--without-mingle", "--without-gossip"]  # fmt: skip
    pids, logs = tmp_path / "pids", tmp_path / "logs"

    def start() -> int:
        pid = proc.start("toy", argv, pids, logs, env, cwd=tmp_path)
        proc.wait_until("toy worker", lambda: " ready." in (logs / "toy.log").read_text(), 120, logs / "toy.log")
        return pid

    sys.path.insert(0, str(tmp_path))
    os.environ.update(TOY_BROKER=broker, TOY_BACKEND=backend)
    try:
        import toy_tasks

        start()
        progress = tmp_path / "progress"
        result = toy_tasks.slow.delay(str(progress), 3)
        proc.wait_until("the task", lambda: progress.is_file(), 60)
        os.kill(proc.running_pid(pids, "toy"), signal.SIGKILL)  # the main process: its pool process goes with it
        time.sleep(2)
        assert not result.ready()
        dog = Watchdog(broker, backend, ["toy"], grace_s=0)
        assert [i.task_id for i in read_unacked(dog.redis)] == [result.id]
        assert _actions(dog.sweep()) == {result.id: "wait"}  # no worker answers: it may only be silent
        proc.stop(pids, "toy")  # what the stack's watchdog does: what is left of the group goes, then a restart
        start()
        assert _actions(dog.sweep()) == {result.id: "requeue"}
        assert result.get(timeout=120) == 3
        assert progress.read_text().count("start") == 2
        # the result is stored before the message is acknowledged (acks late): the acknowledgement follows
        proc.wait_until("the acknowledgement", lambda: read_unacked(dog.redis) == [], 30)
    finally:
        proc.stop(pids, "toy")
        sys.path.remove(str(tmp_path))
        sys.modules.pop("toy_tasks", None)
        for k in ("TOY_BROKER", "TOY_BACKEND"):
            os.environ.pop(k, None)
