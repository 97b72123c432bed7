"""``python -m pipelines.days_faults``: footage faults on the day after ``make days-demo``'s last day.

The recorder of the demo's camera misbehaves on one more day: a file with a corrupt stretch in its middle (400 KB
overwritten), a file cut short (an MP4 without its index), a file still being written, and the next day has no
footage at all. Both days are answered through the CLI (``noscope days backfill``: the ``answer_day`` job on the
camera x day partitions, on the demo's Dagster instance), then ``noscope days status`` prints what each day and
file got. The output is also written to ``<out>/faults.md``. Run after ``python -m pipelines.days_demo`` with the
same ``--out``.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pipelines.days_demo import CAMERA, REPO_ROOT, demo_env


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m pipelines.days_faults", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=REPO_ROOT / ".noscope" / "days-demo", help="the days demo's folder")
    return p.parse_args(argv)


def damaged_copy(src: Path, dst: Path, stretch: int = 400_000, seed: int = 0) -> Path:
    """``src`` with ``stretch`` bytes in its middle overwritten by noise (a disk or network fault), and a few bytes
    of padding at its end: a file's fingerprint reads its size and its first and last MiB, so a copy damaged only
    in the middle would share the original's fingerprint, and with it the original's cached reference labels."""
    data = bytearray(src.read_bytes())
    mid = len(data) // 2
    data[mid : mid + stretch] = random.Random(seed).randbytes(min(stretch, len(data) - mid))
    return _place(dst, bytes(data) + bytes(4096))


def cut_copy(src: Path, dst: Path, share: float = 0.6) -> Path:
    """The first ``share`` of ``src`` (a recorder killed mid-file: an MP4 loses its index at the end)."""
    data = src.read_bytes()
    return _place(dst, data[: int(len(data) * share)])


def _place(dst: Path, data: bytes) -> Path:
    tmp = dst.with_name(f".{dst.name}.part")
    tmp.write_bytes(data)
    tmp.replace(dst)
    return dst


class Recorder(threading.Thread):
    """Writes ``src`` into ``dst`` 64 KiB every half second, as a camera's recorder fills the file it is writing."""

    def __init__(self, src: Path, dst: Path) -> None:
        super().__init__(daemon=True)
        self.data, self.dst, self.done = src.read_bytes(), dst, threading.Event()

    def run(self) -> None:
        with open(self.dst, "wb") as fh:
            for at in range(0, len(self.data), 65536):
                if self.done.is_set():
                    return
                fh.write(self.data[at : at + 65536])
                fh.flush()
                self.done.wait(0.5)

    def stop(self) -> None:
        self.done.set()
        self.join(timeout=5)


def evening(path: Path, day: date) -> None:
    t = datetime(day.year, day.month, day.day, 22, tzinfo=UTC).timestamp()
    os.utime(path, (t, t))


def main(argv=None) -> int:
    args = parse_args(argv)
    out = args.out.resolve()
    footage, videos = out / "footage", out / "videos"
    if not (out / "cameras.yaml").is_file() or not any(footage.glob(f"{CAMERA}_*.mp4")):
        print(
            f"days faults: no days demo in {out}: run python -m pipelines.days_demo --out {out} first", file=sys.stderr
        )
        return 2
    env = {**os.environ, **demo_env(out)}
    answered = sorted(footage.glob(f"{CAMERA}_*.mp4"))
    last = max(date.fromisoformat(p.stem.split("_")[1][:10]) for p in answered)
    fault_day, empty_day = last + timedelta(days=1), last + timedelta(days=2)
    source = sorted(videos.glob("*-h2.mp4"))[0]  # day 1's recording: its frames are labelled already
    made = [
        damaged_copy(source, footage / f"{CAMERA}_{fault_day}_damaged.mp4"),
        cut_copy(source, footage / f"{CAMERA}_{fault_day}_cut.mp4"),
    ]
    for p in made:
        evening(p, fault_day)
    writing = footage / f"{CAMERA}_{fault_day}_writing.mp4"
    recorder = Recorder(source, writing)  # a recorder still writing it: appends every half second until stopped
    recorder.start()
    lines = [f"# Footage faults ({fault_day}: three files; {empty_day}: none)", ""]

    def cli(*cmd: str) -> None:
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "noscope_cli", *cmd], env=env, cwd=REPO_ROOT,
                           capture_output=True, text=True)  # fmt: skip
        said = r.stdout.rstrip() + ("\n" + r.stderr.strip().splitlines()[-1] if r.returncode and r.stderr else "")
        print(f"$ noscope {' '.join(cmd)}  ({time.monotonic() - t0:.0f} s, exit {r.returncode})\n{said}", flush=True)
        lines.extend([f"$ noscope {' '.join(cmd)}  (exit {r.returncode})", "", "```", said, "```", ""])

    try:
        cli("days", "backfill", CAMERA, fault_day.isoformat(), empty_day.isoformat())
    finally:
        recorder.stop()
    writing.unlink()  # the recorder "finishes" elsewhere; the demo leaves no half file behind
    cli("days", "status", CAMERA)
    (out / "faults.md").write_text("\n".join(lines) + "\n")
    print(f"written {out / 'faults.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
