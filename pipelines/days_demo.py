"""``make days-demo``: simulated days of the composited camera through the code location's own definitions.

Day 0 is the camera's initial footage: it trains the camera (the ``train_camera`` job). Then, for each simulated
day, a recorder drops the day's file into the camera's ``footage_dir``; the ``footage_days_sensor`` is ticked and
its run requests executed (``answer_day`` on the camera x day partition); the ``nightly_days`` schedule is ticked
at 02:30 the next morning and its requests executed (``night_labels``). Every run goes through the Dagster
instance in ``.noscope/days-demo/dagster_home``, so ``DAGSTER_HOME=.noscope/days-demo/dagster_home noscope ui``
shows the camera x day partitions afterwards.

The camera is the registry's ``vtest-long`` (the scene composited from vtest.avi, docs/long_camera.md) with its
settings: it trains on its first 20 minutes, and simulated day K is 10 minutes of its hour K + 1 (``noscope
make-camera --hour``: the same scene, new walks), the light drifting on day 4 (``--drift evening``). The reference
is SSD; the label packs shipped in ``data/labels/`` for the same videos (the training footage, hour 2) are imported
first (checked live, as ``make demo`` does), every other frame is labelled live.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CAMERA = "vtest-days"
FIRST_DAY = date(2026, 1, 1)
COLUMNS = (
    "day", "frames", "speedup", "certified", "fnr_bound", "fpr_bound", "max_fnr", "max_fpr", "labels_in_store",
    "champion_version",
)  # fmt: skip


def build_parser(
    prog: str = "python -m pipelines.days_demo",
    description: str = "",
    days: int = 5,
    day_seconds: float = 600.0,
    out: Path | None = REPO_ROOT / ".noscope" / "days-demo",
) -> argparse.ArgumentParser:
    """The demo's options (the camera, its days), with the defaults a caller picks (the cluster's days are shorter)."""
    p = argparse.ArgumentParser(prog=prog, description=description or (__doc__ or "").split("\n")[0])
    p.add_argument("--days", type=int, default=days, help=f"simulated days after the initial footage (default {days})")
    p.add_argument("--day-seconds", type=float, default=day_seconds, help="footage per day in seconds at 10 fps")
    p.add_argument("--train-seconds", type=float, default=1200.0, help="the initial footage the camera trains on")
    p.add_argument("--drift-day", type=int, default=4, help="the day the light changes (0: none)")
    p.add_argument("--drift", default="evening", help="the drift variant of that day (docs/long_camera.md)")
    p.add_argument("--max-fnr", type=float, default=0.05)
    p.add_argument("--max-fpr", type=float, default=0.05)
    p.add_argument("--roi", default="0, 0.5, 0.5, 1", help="region of interest X0,Y0,X1,Y1 (default: vtest-long's)")
    p.add_argument("--reference", default="ssd-mobilenet-v3", help="the camera's reference detector")
    p.add_argument(
        "--models",
        default="c1-f16-d32-s2,c1-f32-d32-s2",
        help="the specialized models trained (default: vtest-long's two; empty: the whole family)",
    )
    p.add_argument("--out", type=Path, default=out)
    return p


def check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    if args.days < 1 or args.day_seconds <= 0 or args.train_seconds <= 0:
        p.error("--days must be 1 or more and the lengths positive, e.g. --days 5 --day-seconds 90")
    return args


def parse_args(argv=None) -> argparse.Namespace:
    p = build_parser()
    return check_args(p, p.parse_args(argv))


def make_video(folder: Path, seconds: float, hour: int = 1, drift: str = "") -> Path:
    """Hour ``hour`` of the composited camera, ``seconds`` long, through ``noscope make-camera`` (left as it is when
    made before): ``vtest-long-20min.mp4``, ``vtest-long-10min-h2.mp4``, ``vtest-long-10min-evening-h5.mp4``."""
    from noscope_core.footage.composite.make import hour_path

    name = f"vtest-long-{seconds / 60:g}min{'-' + drift if drift else ''}.mp4"
    cmd = [sys.executable, "-m", "noscope_cli", "make-camera", str(folder / name), "--seconds", str(seconds)]
    cmd += ["--hour", str(hour)]
    if drift:
        cmd += ["--drift", drift, "--drift-start", "0.25"]
    subprocess.run(cmd, check=True, cwd=REPO_ROOT, stdout=subprocess.DEVNULL)
    return hour_path(folder / name, hour)


def import_pack(video: Path, reference: str, log) -> None:
    """The shipped reference labels of ``video`` (``data/labels/<stem>.<reference>.npz``), imported into the detection
    cache when there are any: ``noscope labels import`` checks the fingerprint and a live sample first."""
    pack = REPO_ROOT / "data" / "labels" / f"{video.stem}.{reference}.npz"
    if pack.exists():
        log(f"importing {pack.name} for {video.name} (checked live on a random sample)")
        cmd = [sys.executable, "-m", "noscope_cli", "labels", "import", str(pack), "--video", str(video)]
        subprocess.run(cmd, check=True, cwd=REPO_ROOT, stdout=subprocess.DEVNULL)


def registry_text(video: Path, footage: Path, args: argparse.Namespace) -> str:
    return (
        "cameras:\n"
        f"  - id: {CAMERA}\n"
        f"    video: {video}\n"
        "    object: person\n"
        f"    roi: [{args.roi}]\n"
        f"    reference: {args.reference}\n"
        f"    max_fnr: {args.max_fnr}\n"
        f"    max_fpr: {args.max_fpr}\n"
        "    split: [0.6, 0.3, 0.1]\n"
        + (f"    models: [{args.models}]\n" if args.models.strip() else "")
        + f"    footage_dir: {footage}\n"
        # the cascade is planned for answers of a day's length (a certificate's cost depends on it)
        f"    footage_frames: {round(args.day_seconds * 10)}\n"
    )


def demo_env(out: Path) -> dict[str, str]:
    """The environment that points the code location at the demo in ``out``: its registry, artifacts, Dagster
    home, MLflow store and first day (the faults day and the docs' pictures read the same demo)."""
    return {
        "DAGSTER_HOME": str(out / "dagster_home"),
        "NOSCOPE_CAMERAS": str(out / "cameras.yaml"),
        "NOSCOPE_ARTIFACTS": str(out / "artifacts"),
        "NOSCOPE_MLFLOW": str(out / "mlflow"),
        "NOSCOPE_DAYS_START": FIRST_DAY.isoformat(),
    }


def setup(args: argparse.Namespace) -> dict[str, Path]:
    """The demo's folders and environment: its own registry, artifacts, Dagster home and MLflow store."""
    out = args.out.resolve()
    paths = {k: out / k for k in ("videos", "footage", "artifacts", "dagster_home", "mlflow")}
    for p in paths.values():
        p.mkdir(parents=True, exist_ok=True)
    os.environ.update(demo_env(out))
    return {"out": out, **paths}


def run_requests(job, instance, requests, log) -> list:
    """Execute each run request of a sensor or schedule tick in this process, as a daemon would launch it."""
    results = []
    for req in requests:
        t0 = time.monotonic()
        res = job.execute_in_process(
            instance=instance, partition_key=req.partition_key, tags={**req.tags, "noscope/trigger": "days-demo"}
        )
        log(f"  {job.name} {req.partition_key}: {'ok' if res.success else 'FAILED'} ({time.monotonic() - t0:.0f} s)")
        results.append(res)
    return results


def main(argv=None) -> int:
    args = parse_args(argv)
    paths = setup(args)
    t_start = time.monotonic()

    def log(msg: str) -> None:
        print(f"[{time.monotonic() - t_start:6.0f} s] {msg}", flush=True)

    # Dagster reads NOSCOPE_DAYS_START and the registry when the definitions load: import after setup()
    import dagster as dg

    from pipelines.definitions import defs
    from pipelines.partitions import camera_day_key, sync_instance
    from pipelines.resources import CameraRegistry
    from pipelines.schedules import nightly_days
    from pipelines.sensors import footage_days_sensor

    log(f"making the initial footage ({args.train_seconds:g} s) and {args.days} days of {args.day_seconds:g} s ...")
    train_video = make_video(paths["videos"], args.train_seconds)
    import_pack(train_video, args.reference, log)
    days = []
    for d in range(1, args.days + 1):
        drift = args.drift if d == args.drift_day else ""
        video = make_video(paths["videos"], args.day_seconds, hour=d + 1, drift=drift)
        import_pack(video, args.reference, log)
        days.append((FIRST_DAY + timedelta(days=d - 1), video, drift))
    (paths["out"] / "cameras.yaml").write_text(registry_text(train_video, paths["footage"], args))

    with dg.DagsterInstance.get() as instance:
        sync_instance(instance, CameraRegistry().cameras())
        trained = instance.get_materialized_partitions(dg.AssetKey("optimized_cascade"))
        if CAMERA not in trained:
            log(f"day 0: training {CAMERA} on its initial footage (train_camera) ...")
            res = defs.resolve_job_def("train_camera").execute_in_process(instance=instance, partition_key=CAMERA)
            if not res.success:
                log("training FAILED")
                return 1
        rows, cursor = [], None
        for day, video, drift in days:
            target = paths["footage"] / f"{CAMERA}_{day.isoformat()}.mp4"
            if not target.exists():
                tmp = target.with_name(f".{target.name}.part")  # a recorder writing: hidden until complete
                tmp.write_bytes(video.read_bytes())
                tmp.replace(target)
            evening = datetime(day.year, day.month, day.day, 22, tzinfo=UTC).timestamp()
            os.utime(target, (evening, evening))
            log(f"{day}: footage {target.name}{f' (drift: {drift})' if drift else ''}; ticking footage_days_sensor")
            with dg.build_sensor_context(
                instance=instance, cursor=cursor, definitions=defs, resources=defs.resources
            ) as ctx:
                tick = footage_days_sensor(ctx)
            cursor = tick.cursor
            run_requests(defs.resolve_job_def("answer_day"), instance, tick.run_requests or [], log)
            night = datetime(day.year, day.month, day.day, 2, 30, tzinfo=UTC) + timedelta(days=1)
            with dg.build_schedule_context(
                instance=instance, scheduled_execution_time=night, resources=defs.resources
            ) as ctx:
                reqs = nightly_days(ctx)
            reqs = [] if isinstance(reqs, dg.SkipReason) else reqs
            log(f"{day}: night tick {night:%Y-%m-%d %H:%M}: {len(reqs)} request(s)")
            run_requests(defs.resolve_job_def("nightly_camera"), instance, reqs, log)
            rows.append(day_row(paths["artifacts"], day.isoformat(), drift, args))
        key = str(camera_day_key(CAMERA, days[-1][0].isoformat()))
        log(f"last partition: {key}")
    write_table(rows, paths["out"], log)
    log(f"done in {time.monotonic() - t_start:.0f} s; the UI: DAGSTER_HOME={paths['dagster_home']} noscope ui")
    return 0


def day_row(artifacts: Path, day: str, drift: str, args: argparse.Namespace) -> dict:
    """The table's row of ``day`` from its ``day.json`` and the label store after the night."""
    from noscope_core.reference.label_store import LabelStore

    rec = json.loads((artifacts / CAMERA / "days" / day / "day.json").read_text())
    return row_of(rec, LabelStore(artifacts / CAMERA / "label_store").summary(), day, drift, args)


def row_of(rec: dict, store, day: str, drift: str, args: argparse.Namespace) -> dict:
    """The table's row of ``day`` from its ``day.json`` record and the label store's summary (``frames``,
    ``unbiased``), wherever the two were read from."""
    targets = rec.get("targets") or {}
    return {
        "day": day,
        "drift": drift or None,
        "status": rec["status"],
        "frames": rec["frames"],
        "speedup": rec["speedup"],
        "certified": rec["certified"],
        "fnr_bound": rec["fnr_bound"],
        "fpr_bound": rec["fpr_bound"],
        "max_fnr": targets.get("max_fnr", args.max_fnr),
        "max_fpr": targets.get("max_fpr", args.max_fpr),
        "certify_frames": rec.get("certify_frames"),
        "tighten_frames": rec.get("tighten_frames"),
        "labels_in_store": store.frames,
        "unbiased_labels": store.unbiased,
        "champion_version": rec.get("champion_version"),
    }


def write_table(rows: list[dict], out: Path, log, title: str = CAMERA) -> None:
    from noscope_core.common.atomic import write_json
    from noscope_core.present.history import DayPoint, history_chart

    write_json(out / "days.json", rows)
    history_chart([DayPoint.from_record(r) for r in rows], out / "history.png", title=title)

    def pct(v):
        return "" if v is None else f"{100 * v:.2f} %"

    head = "| day | frames | speed-up | certified | FNR bound | FPR bound | targets | labels in store | champion |"
    lines = [head, "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        speed = "" if r["speedup"] is None else f"{r['speedup']:.2f}x"
        lines.append(
            f"| {r['day']}{' (' + r['drift'] + ')' if r['drift'] else ''} | {r['frames']} | {speed} | "
            f"{'yes' if r['certified'] else 'no'} | {pct(r['fnr_bound'])} | {pct(r['fpr_bound'])} | "
            f"{pct(r['max_fnr'])} / {pct(r['max_fpr'])} | {r['labels_in_store']} ({r['unbiased_labels']} unbiased) | "
            f"{'' if r['champion_version'] is None else 'v' + str(r['champion_version'])} |"
        )
    table = "\n".join(lines)
    (out / "days.md").write_text(table + "\n")
    log(f"per-day table (also {out / 'days.json'}, history chart {out / 'history.png'}):\n{table}")


if __name__ == "__main__":
    sys.exit(main())
