"""A camera's footage by the day: ``day_answers`` (camera x day) answers the day's files with the camera's
cascade, certified, and keeps every reference label the answers bought; ``night_labels`` (camera x day) spends
the nightly reference budget on uniform draws of the day's footage, compacts the label store and draws the
camera's history.

Each file's answer is written atomically as soon as it is finished and reused by a re-run, and the reference's
detections go through the resumable detection cache: a run killed mid-day loses at most the file it was on.
"""

import hashlib
import json
import os
import warnings
from dataclasses import replace
from pathlib import Path

import dagster as dg

from pipelines import footage_days, label_stores, nightly_champion
from pipelines.assets.common import footage_files, mlflow_link, tracking
from pipelines.partitions import CAMERA, camera_days_partitions, split_camera_day
from pipelines.resources import ArtifactStore, CameraRegistry, ReferenceDetectorResource
from pipelines.tracking import MlflowTracker

GROUP_DAYS = "noscope_days"
#: frames of the newest day's footage the reference labels each night, drawn uniformly (0: none)
NIGHT_BUDGET_FRAMES = int(os.environ.get("NOSCOPE_NIGHT_BUDGET", "200"))

with warnings.catch_warnings():  # beta in 1.13, and exactly the mapping wanted: a day reads its camera's cascade
    warnings.simplefilter("ignore", dg.BetaWarning)
    _CASCADE_IN = dg.AssetIn(
        "optimized_cascade",
        partition_mapping=dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name=CAMERA),
    )
_DAY_KEYS = (
    "frames", "frames_expected", "frames_skipped", "speedup", "speedup_e2e", "certified", "fnr_bound", "fpr_bound",
    "certify_frames", "tighten_frames", "positive_frames", "reference_calls",
)  # fmt: skip


def _file_key(f: footage_days.FootageFile, cascade_json: Path) -> str:
    """Changes with the file (size, time) or the cascade: an answer is reused only for both unchanged."""
    sha = hashlib.sha256(cascade_json.read_bytes()).hexdigest()
    return hashlib.sha256(f"{f.path.resolve()}|{f.size_bytes}|{f.mtime_ns}|{sha}".encode()).hexdigest()[:20]


def answer_file(trained, cam, f: footage_days.FootageFile, out_dir: Path, reference, store, log) -> dict:
    """One file's certified answer, with its status: answered (and what it skipped), or why it was not."""
    from noscope_core.common.atomic import write_json
    from noscope_core.common.errors import NoScopeError
    from noscope_core.flows.apply_flow import apply_to_video
    from noscope_core.reference.detection_cache import home_detection_cache
    from noscope_core.reference.label_store import watch
    from noscope_core.video.probe import probe_video

    base = {"name": f.path.name, "file": str(f.path), "day": f.day}
    if not f.settled:
        return {**base, "status": "writing", "detail": f.status}
    result_path = out_dir / f"{_file_key(f, trained.cascade_json)}.json"
    if result_path.is_file():
        return {**json.loads(result_path.read_text()), "cached": True}
    try:
        info = probe_video(f.path)
    except NoScopeError as err:
        # no moov atom (still being written by a recorder that does not rename), or not a video at all
        return {**base, "status": "unreadable", "detail": str(err)}
    try:
        detector = reference.build(cam, video=f.path, frame_size=(info.width, info.height))
    except NoScopeError as err:
        return {**base, "status": "failed", "detail": str(err)}
    cache = home_detection_cache(info.fingerprint, detector)
    seen = watch(detector)
    try:
        res = apply_to_video(trained, f.path, detector, cache=cache)
    except NoScopeError as err:
        return {**base, "status": "failed", "detail": str(err)}
    d = res.to_dict()
    cert = res.certificate
    answered = len(cert.labels) if cert is not None else int(d["frames_test"])
    expected = max(int(info.frame_count), answered)
    labels = record_labels(store, cache, seen, res, f, answered)
    data = {
        **base,
        "status": "answered" if answered >= expected else "partial",
        "frames": answered,
        "frames_expected": expected,
        "frames_skipped": expected - answered,
        "detail": (
            f"answered {answered} decodable frames, skipped {expected - answered} the decoder could not read"
            if answered < expected
            else f"answered all {answered} frames"
        ),
        "labels_added": labels,
        "tighten_frames": int(d.get("tighten_frames") or 0),
        **{k: d.get(k) for k in _DAY_KEYS if k in d},
    }
    write_json(result_path, data)
    log(f"{f.path.name}: {data['detail']}; {labels} new labels in the store")
    return {**data, "cached": False}


def record_labels(store, cache, seen: dict, result, f: footage_days.FootageFile, answered: int) -> int:
    """Keep every frame the answer sent to the reference in the label store, with why: the certificate's random
    draws (``random``) and tightening's choices (``risky``), read from the detection cache, and every other frame
    the reference labelled (``seen``: the cascade's reference route, the cost timing) as ``route``.

    A certificate that does not record which positions were drawn and which were chosen leaves every frame
    ``certify``, which the store never counts as unbiased."""
    from noscope_core.reference.label_store import frames_of, from_detection_cache

    first, end = result.test_segment.ranges[0][0], result.test_segment.ranges[-1][1]
    cert = result.certificate
    drawn, tightened = getattr(cert, "drawn", None), getattr(cert, "tightened", None)
    records: list = []
    certified_frames: set[int] = set()
    known = drawn is not None and tightened is not None and end - first == answered
    if known:
        # positions count the answered frames; contiguous, so a position is an offset from the first frame
        records += from_detection_cache(cache, f.path, [first + int(p) for p in drawn], "random", f.day)
        records += from_detection_cache(cache, f.path, [first + int(p) for p in tightened], "risky", f.day)
        certified_frames = {r.frame_index for r in records}
    else:
        records += from_detection_cache(cache, f.path, range(first, end), "certify", f.day)
    idx = sorted(set(seen) - certified_frames)
    records += frames_of(cache.video_fingerprint, f.path, idx, [seen[i] for i in idx], cache.detector_identity,
                         "route" if known else "certify", f.day)  # fmt: skip
    return store.append(records).added


def summarize_day(files: list[dict]) -> dict:
    """The day's figures over its answered files: frames, the speed-up over the reference on the same frames
    (time-weighted), and the weakest bound (every file's promise is made at the camera's confidence)."""
    done = [f for f in files if f.get("status") in ("answered", "partial")]
    frames = sum(int(f["frames"]) for f in done)
    ref_time = sum(int(f["frames"]) / float(f["speedup"]) for f in done if f.get("speedup"))
    bounds = {
        k: max((float(f[k]) for f in done if f.get(k) is not None), default=None) for k in ("fnr_bound", "fpr_bound")
    }
    return {
        "frames": frames,
        "frames_skipped": sum(int(f.get("frames_skipped") or 0) for f in done),
        "speedup": (frames / ref_time) if ref_time else None,
        "certified": bool(done) and all(bool(f.get("certified")) for f in done),
        **bounds,
        "certify_frames": sum(int(f.get("certify_frames") or 0) for f in done),
        "tighten_frames": sum(int(f.get("tighten_frames") or 0) for f in done),
        "files": len(files),
        "files_answered": len(done),
    }


def day_status(files: list[dict]) -> str:
    """One line: what the day's footage came to."""
    if not files:
        return "no footage: no file of this camera is dated this day"
    counts: dict[str, int] = {}
    for f in files:
        counts[f["status"]] = counts.get(f["status"], 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


@dg.asset(
    partitions_def=camera_days_partitions,
    group_name=GROUP_DAYS,
    ins={"optimized_cascade": _CASCADE_IN},
    kinds={"python"},
)
def day_answers(
    context: dg.AssetExecutionContext,
    optimized_cascade: dict,
    cameras: CameraRegistry,
    artifacts: ArtifactStore,
    reference: ReferenceDetectorResource,
) -> dg.MaterializeResult:
    """Answer one camera's footage of one day with its cascade (decode included), each file certified on its own
    frames; keep every reference label the certificates bought in the camera's label store. A file still being
    written is skipped until it settles, an unreadable one is reported, a damaged one is answered on the frames
    that decode and says how many it skipped; a day without footage says so."""
    from noscope_core.common.atomic import write_json
    from noscope_core.flows.apply_flow import TrainedCascade

    camera_id, day = split_camera_day(context.partition_key)
    cam = cameras.get(camera_id)
    files = [f for f in footage_days.scan(footage_files(cam)) if f.day == day]
    # the camera's cascade, or the nightly challenger that beat it since (pipelines.nightly_champion)
    champion = nightly_champion.current(artifacts, camera_id, optimized_cascade)
    trained = TrainedCascade.load(champion["cascade_json"], champion.get("models_dir"), champion.get("dd_dir"))
    store = label_stores.open_store(artifacts, camera_id)
    out_dir = artifacts.path(camera_id, "days", day)
    answers = [answer_file(trained, cam, f, out_dir / "files", reference, store, context.log.info) for f in files]
    summary = summarize_day(answers)
    registered = champion.get("registered") or {}
    day_record = {
        "camera": camera_id,
        "day": day,
        "status": day_status(answers),
        **summary,
        "targets": optimized_cascade.get("targets"),
        "cascade": champion["cascade_json"],
        "champion_source": champion["source"],
        "champion_version": registered.get("version"),
        **_store_counts(store),
        "files_detail": answers,
    }
    write_json(out_dir / "day.json", day_record)
    url = label_stores.publish_store(artifacts, store, camera_id)
    context.log.info(f"{camera_id} {day}: {day_record['status']}")
    return dg.MaterializeResult(metadata=day_metadata(day_record, out_dir / "day.json", url))


def day_metadata(rec: dict, path: Path, store_url: str | None) -> dict:
    from pipelines import metadata
    from pipelines.assets.common import md_table

    meta: dict = {
        "status": rec["status"],
        "frames": dg.MetadataValue.int(int(rec["frames"])),
        "frames_skipped": dg.MetadataValue.int(int(rec["frames_skipped"])),
        "certified": dg.MetadataValue.bool(bool(rec["certified"])),
        "labels_in_store": dg.MetadataValue.int(int(rec["labels_in_store"])),
        "day_json": dg.MetadataValue.path(str(path)),
    }
    if rec.get("speedup") is not None:
        meta["certified_speedup" if rec["certified"] else "speedup_uncertified"] = metadata.times(rec["speedup"])
    for k in ("fnr_bound", "fpr_bound"):
        if rec.get(k) is not None:
            meta[f"{k}_pct"] = metadata.pct(rec[k])
    if rec.get("champion_version") is not None:
        meta["champion_version"] = dg.MetadataValue.int(int(rec["champion_version"]))
    if store_url:
        meta["label_store_url"] = dg.MetadataValue.url(store_url)
    if rec["files_detail"]:
        meta["files"] = dg.MetadataValue.md(
            md_table(
                rec["files_detail"],
                [
                    ("name", "file"),
                    ("status", "status"),
                    ("frames", "frames"),
                    ("frames_skipped", "skipped"),
                    ("speedup", "speed-up"),
                    ("certified", "certified"),
                    ("labels_added", "new labels"),
                    ("detail", "detail"),
                ],
            )  # fmt: skip
        )
    return meta


@dg.asset(
    partitions_def=camera_days_partitions,
    group_name=GROUP_DAYS,
    deps=[day_answers],
    ins={"optimized_cascade": _CASCADE_IN},
    kinds={"python"},
)
def night_labels(
    context: dg.AssetExecutionContext,
    optimized_cascade: dict,
    cameras: CameraRegistry,
    artifacts: ArtifactStore,
    reference: ReferenceDetectorResource,
    mlflow: MlflowTracker,
) -> dg.MaterializeResult:
    """The night after a day: the reference labels up to NOSCOPE_NIGHT_BUDGET frames drawn uniformly from the
    day's answered footage (unbiased evaluation data for every later model), the label store is compacted, and
    the camera's history (certified speed-up per day, labels in the store, champion) is drawn and logged to the
    cascade's MLflow run."""
    import numpy as np

    from noscope_core.reference.detect import run_reference
    from noscope_core.reference.detection_cache import home_detection_cache
    from noscope_core.reference.label_store import from_detection_cache, uniform_draw
    from noscope_core.video.probe import probe_video

    camera_id, day = split_camera_day(context.partition_key)
    cam = cameras.get(camera_id)
    store = label_stores.open_store(artifacts, camera_id)
    day_json = artifacts.path(camera_id, "days", day, "day.json")
    answered = json.loads(day_json.read_text())["files_detail"] if day_json.is_file() else []
    answered = [f for f in answered if f.get("status") in ("answered", "partial")]
    # the draw depends on the camera and the day only: a re-run after a kill draws the same frames again,
    # most of them already in the detection cache and the store
    rng = np.random.default_rng(int(hashlib.sha256(f"{camera_id}|{day}".encode()).hexdigest()[:12], 16))
    per_file = NIGHT_BUDGET_FRAMES // max(1, len(answered))
    added = 0
    by_key = {r.key: r for r in store.frames()}
    for f in answered:
        info = probe_video(f["file"])
        detector = reference.build(cam, video=f["file"], frame_size=(info.width, info.height))
        cache = home_detection_cache(info.fingerprint, detector)
        ident = detector.identity()
        # excluding only frames drawn at random before keeps the union a uniform sample; a frame labelled by
        # choice may be drawn, and its detections are reused (no reference call) while it gains the reason
        drawn_before = {k[1] for k, r in by_key.items() if k[0] == info.fingerprint and r.unbiased}
        frames = uniform_draw(int(f["frames"]), per_file, drawn_before, rng)
        have = [
            by_key[(info.fingerprint, int(i), ident)] for i in frames if (info.fingerprint, int(i), ident) in by_key
        ]
        have_idx = {r.frame_index for r in have}
        todo = [int(i) for i in frames if int(i) not in have_idx]
        records = [replace(r, reason="random", also=(), day=day) for r in have]
        if todo:
            run_reference(f["file"], detector, todo, cache=cache)
            records += from_detection_cache(cache, f["file"], todo, "random", day)
        res = store.append(records)
        added += res.added + res.new_reasons
    store.compact()
    url = label_stores.publish_store(artifacts, store, camera_id)
    summary = store.summary()
    chart, chart_error = _history_chart(context, artifacts, camera_id, optimized_cascade, mlflow)
    meta = {
        "night_budget_frames": dg.MetadataValue.int(NIGHT_BUDGET_FRAMES),
        "labels_added": dg.MetadataValue.int(added),  # new frames, and chosen frames now drawn at random too
        "labels_in_store": dg.MetadataValue.int(summary.frames),
        "unbiased_labels": dg.MetadataValue.int(summary.unbiased),
        "labels_by_reason": dg.MetadataValue.json(summary.by_reason),
    }
    if url:
        meta["label_store_url"] = dg.MetadataValue.url(url)
    if chart is not None:
        from pipelines import metadata

        meta["history"] = metadata.png_markdown(chart, f"{camera_id}: certified speed-up and labels per day")
        meta["history_png"] = dg.MetadataValue.path(str(chart))
    if chart_error:
        meta["history_error"] = chart_error
    run_id = optimized_cascade.get("mlflow_run_id") if tracking(mlflow) else None
    meta.update(mlflow_link(run_id, mlflow))
    context.log.info(f"{camera_id} night of {day}: {added} uniform labels added, {summary.frames} in the store")
    return dg.MaterializeResult(metadata=meta)


def camera_history(artifacts: ArtifactStore, camera_id: str) -> list[dict]:
    """Every day of the camera answered so far (its ``day.json`` records, in date order)."""
    root = artifacts.path(camera_id, "days")
    return [json.loads(p.read_text()) for p in sorted(root.glob("*/day.json"))]


def _history_chart(context, artifacts, camera_id: str, cascade: dict, mlflow) -> tuple[Path | None, str | None]:
    """The history PNG, logged to the cascade's MLflow run when tracking is on; a failure is reported, not raised."""
    from noscope_core.present.history import DayPoint, history_chart

    try:
        points = [DayPoint.from_record(r) for r in camera_history(artifacts, camera_id)]
        png = history_chart(points, artifacts.path(camera_id, "days", "history.png"), title=camera_id)
        run_id = cascade.get("mlflow_run_id") if tracking(mlflow) else None
        if run_id:
            mlflow.log_figure(run_id, png, "history")
    except Exception as err:  # noqa: BLE001 - the labels are kept; the picture is reported missing
        context.log.warning(f"could not draw or log the history chart: {err}")
        return None, f"{type(err).__name__}: {err}"
    return png, None


#: one day's answers of one camera: what the footage sensor requests
answer_day = dg.define_asset_job(
    "answer_day",
    selection=dg.AssetSelection.assets(day_answers),
    partitions_def=camera_days_partitions,
    description="Answer one camera's footage of one day with its cascade, certified; keep the labels.",
)

#: the night after a day: uniform labels of the day's footage, the store compacted, the history drawn, then the
#: challenger trained on the store and judged on the day (``night_challenger``, pipelines/assets/challenger.py,
#: named by key: that module builds on this one)
nightly_camera = dg.define_asset_job(
    "nightly_camera",
    selection=dg.AssetSelection.assets("night_labels", "night_challenger"),
    partitions_def=camera_days_partitions,
    description=(
        "Spend the nightly reference budget on the day's footage, draw the camera's history, train a challenger "
        "on the label store and judge it against the champion on the day's footage."
    ),
)

DAY_ASSETS = [day_answers, night_labels]
DAY_JOBS = [answer_day, nightly_camera]


def _store_counts(store) -> dict:
    s = store.summary()
    return {"labels_in_store": s.frames, "unbiased_labels": s.unbiased}
