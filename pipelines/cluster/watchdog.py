"""The stack's watchdog: restart a Celery worker that died, and put back on its queue the step it was running.

Why it is needed: when a worker's main process dies (SIGKILL, OOM, a vanished host) its pool process goes with it,
and nothing ever answers the step's Celery task: the Dagster run waits on it forever. Steps are acknowledged late
(``task_acks_late``, see ``config.celery_config``), so the step's message stays in Redis's ``unacked`` hash; Redis
would hand it out again only after the visibility timeout (12 h), and then even while a living worker runs it.
The watchdog re-queues such a message at once, but only when it can show that no living worker holds it
(:func:`judge`); the step then runs again in the same Dagster run, on the restarted or another worker.

``python -m pipelines.cluster.watchdog`` runs it in a loop (``make cluster-up`` starts it); ``--once`` sweeps once.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from pipelines.cluster.processes import ClusterError

#: a message handed out this recently may not show in its worker's answer yet
GRACE_S = 30.0
#: a step lost with its worker this many times is failed instead (the run's retry policy decides then)
MAX_REQUEUES = 2
#: task id -> times re-queued, in the broker's database
REQUEUE_KEY = "noscope:watchdog:requeued"
# kombu's Redis transport keeps unacknowledged messages here (kombu.transport.redis.Channel defaults)
UNACKED_KEY, UNACKED_INDEX_KEY = "unacked", "unacked_index"


@dataclass(frozen=True)
class Unacked:
    """A message handed to a worker and not acknowledged yet."""

    tag: str  # kombu's delivery tag
    task_id: str
    task: str
    routing_key: str
    delivered_s: float  # Unix time it was handed out


@dataclass(frozen=True)
class Verdict:
    item: Unacked
    action: str  # "requeue" | "forget" | "fail" | "wait"
    reason: str


def judge(
    items: Collection[Unacked],
    held: Collection[str],
    finished: Collection[str],
    answered: bool,
    now_s: float,
    requeues: Mapping[str, int] | None = None,
    grace_s: float = GRACE_S,
    max_requeues: int = MAX_REQUEUES,
) -> list[Verdict]:
    """What to do with each unacknowledged message. Rules, first match wins:

    1. a living worker holds it (running or reserved, ``held``) → wait (it may be between storing its result and
       acknowledging).
    2. its task has a result in the backend (its worker finished it and died, or acknowledged it since this sweep
       read the messages) → forget it, acknowledging on the worker's behalf: running it again would repeat a
       finished step.
    3. not every worker of the stack answered the roll call (``answered``) → wait: the silent one may hold it.
    4. handed out less than ``grace_s`` ago → wait: its worker may not list it yet.
    5. re-queued ``max_requeues`` times already → fail it: a step that keeps killing its worker must not loop.
    6. otherwise its worker is gone → re-queue it.
    """
    requeues = requeues or {}
    out = []
    for it in items:
        if it.task_id in held:
            v = Verdict(it, "wait", "a living worker holds it")
        elif it.task_id in finished:
            v = Verdict(it, "forget", "its result is stored; no living worker holds it")
        elif not answered:
            v = Verdict(it, "wait", "not every worker answered the roll call")
        elif now_s - it.delivered_s < grace_s:
            v = Verdict(it, "wait", f"handed out {now_s - it.delivered_s:.0f} s ago")
        elif requeues.get(it.task_id, 0) >= max_requeues:
            v = Verdict(it, "fail", f"lost with its worker {requeues[it.task_id] + 1} times")
        else:
            v = Verdict(it, "requeue", "no living worker holds it")
        out.append(v)
    return out


def read_unacked(client) -> list[Unacked]:
    """The broker's unacknowledged messages (``client``: a redis-py client on the broker's database)."""
    index = dict(client.zrange(UNACKED_INDEX_KEY, 0, -1, withscores=True))
    out = []
    for tag, raw in client.hgetall(UNACKED_KEY).items():
        message, _exchange, routing_key = json.loads(raw)
        headers = message.get("headers") or {}
        out.append(
            Unacked(
                tag=tag.decode() if isinstance(tag, bytes) else str(tag),
                task_id=str(headers.get("id", "")),
                task=str(headers.get("task", "")),
                routing_key=str(routing_key),
                delivered_s=float(index.get(tag, 0.0)),
            )
        )
    return out


def roll_call(app, timeout_s: float = 5.0) -> dict[str, set[str]]:
    """Worker name (without ``@host``) -> ids of the tasks it runs or has reserved; only workers that answered."""
    insp = app.control.inspect(timeout=timeout_s)
    active, reserved = insp.active() or {}, insp.reserved() or {}
    out: dict[str, set[str]] = {}
    for host in set(active) & set(reserved):  # a worker counts only when both answers came
        out[host.split("@")[0]] = {t["id"] for t in [*active[host], *reserved[host]]}
    return out


@dataclass
class Watchdog:
    broker_url: str
    backend_url: str
    workers: Collection[str]  # the names every sweep expects to answer
    grace_s: float = GRACE_S

    def __post_init__(self) -> None:
        import redis
        from celery import Celery

        self.app = Celery("noscope-watchdog", broker=self.broker_url, backend=self.backend_url)
        self.redis = redis.Redis.from_url(self.broker_url)

    def sweep(self, log=print) -> list[Verdict]:
        items = read_unacked(self.redis)
        if not items:
            return []
        calls = roll_call(self.app)
        held = set().union(*calls.values()) if calls else set()
        finished = {i.task_id for i in items if self.app.AsyncResult(i.task_id).ready()}
        counts = {k.decode(): int(v) for k, v in self.redis.hgetall(REQUEUE_KEY).items()}
        answered = set(self.workers) <= set(calls)
        verdicts = judge(items, held, finished, answered, time.time(), counts, self.grace_s)
        for v in verdicts:
            if v.action != "wait":
                self._apply(v)
                log(f"{time.strftime('%H:%M:%S')} {v.action} task {v.item.task_id} ({v.item.task}, queue "
                    f"{v.item.routing_key}): {v.reason}")  # fmt: skip
        return verdicts

    def _apply(self, v: Verdict) -> None:
        with self.app.connection_for_write() as conn:
            qos = conn.default_channel.qos
            if v.action == "requeue":
                self.redis.hincrby(REQUEUE_KEY, v.item.task_id, 1)
                qos.restore_by_tag(v.item.tag, leftmost=True)  # to the head of its queue: it was already due
                return
            if v.action == "fail":
                # the run's execution loop raises this from result.get(): the step fails, the run retry decides
                err = RuntimeError(f"step lost with its Celery worker {MAX_REQUEUES + 1} times; not re-queued")
                self.app.backend.mark_as_failure(v.item.task_id, err)
            qos._remove_from_indices(v.item.tag).execute()  # acknowledge: drop it from the unacked hash


def restart_dead_workers(cfg, log=print) -> list[str]:
    """Start again every worker of the local stack whose main process is gone (its leftovers killed first)."""
    from pipelines.cluster import processes as proc
    from pipelines.cluster import services as svc
    from pipelines.cluster.config import WORKER_QUEUES

    restarted = []
    for name, queues in WORKER_QUEUES.items():
        service = f"worker-{name}"
        if proc.running_pid(cfg.pid_dir, service) is not None:
            continue
        proc.stop(cfg.pid_dir, service)  # a pool process may outlive its main process for a moment
        svc.start_worker(cfg, name, queues)
        restarted.append(name)
        log(f"{time.strftime('%H:%M:%S')} worker {name} was gone: restarted")
    return restarted


def main(argv: list[str] | None = None) -> int:
    from pipelines.cluster.config import WORKER_QUEUES, ClusterConfig

    ap = argparse.ArgumentParser(prog="python -m pipelines.cluster.watchdog")
    ap.add_argument("--once", action="store_true", help="one sweep, then exit")
    ap.add_argument("--interval", type=float, default=10.0, help="seconds between sweeps")
    args = ap.parse_args(argv)
    cfg = ClusterConfig.from_env()
    env = cfg.client_env()
    dog = Watchdog(env["NOSCOPE_CELERY_BROKER"], env["NOSCOPE_CELERY_BACKEND"], list(WORKER_QUEUES))

    def log(msg: str) -> None:
        print(msg, flush=True)

    while True:
        try:
            restart_dead_workers(cfg, log)
            dog.sweep(log)
        except ClusterError as err:
            log(f"watchdog: {err}")
        except Exception as err:  # noqa: BLE001 - a broker hiccup must not end the watchdog
            log(f"watchdog: sweep failed: {type(err).__name__}: {err}")
        if args.once:
            return 0
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
