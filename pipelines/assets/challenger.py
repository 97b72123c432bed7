"""``night_challenger`` (camera x day): the night after a day, a challenger trained on the camera's label store
answers that day's footage side by side with the champion, both certified on the same frames; the champion moves
only when the challenger's certified cost is lower and its promise held.

The training, the two answers and the verdict are the engine's (``noscope_core.flows.challenger``); this asset
wires them to the day's files, the label store, the champion record (``pipelines.nightly_champion``) and MLflow.
"""

import hashlib
import json
import os
import warnings
from pathlib import Path

import dagster as dg

from pipelines import label_stores, nightly_champion
from pipelines.assets.common import load_labels, mlflow_link, open_store, tracking
from pipelines.assets.days import GROUP_DAYS, night_labels
from pipelines.partitions import CAMERA, camera_days_partitions, split_camera_day
from pipelines.resources import ArtifactStore, CameraRegistry, ReferenceDetectorResource
from pipelines.tracking import MlflowTracker


def window_days() -> int:
    """NOSCOPE_CHALLENGER_DAYS: days of stored labels a challenger trains on besides the initial footage (default
    7, docs/camera_life.md says why)."""
    return int(os.environ.get("NOSCOPE_CHALLENGER_DAYS", "7"))


def min_gain() -> float:
    """NOSCOPE_CHALLENGER_MIN_GAIN: how much lower (a fraction) the challenger's certified cost must be to win
    (default 0.02: the cheap stages are timed, and timing noise must not move a champion)."""
    from noscope_core.flows.challenger import DEFAULT_MIN_GAIN

    value = float(os.environ.get("NOSCOPE_CHALLENGER_MIN_GAIN", str(DEFAULT_MIN_GAIN)))
    if not 0.0 <= value < 1.0:
        raise ValueError(f"NOSCOPE_CHALLENGER_MIN_GAIN must be a fraction in [0, 1), got {value}")
    return value


with warnings.catch_warnings():  # beta in 1.13: each day reads its camera's (single-partition) upstream
    warnings.simplefilter("ignore", dg.BetaWarning)
    _BY_CAMERA = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name=CAMERA)
_INS = {name: dg.AssetIn(name, partition_mapping=_BY_CAMERA) for name in
        ("optimized_cascade", "decoded_frames", "reference_labels")}  # fmt: skip


@dg.asset(
    partitions_def=camera_days_partitions,
    group_name=GROUP_DAYS,
    deps=[night_labels],
    ins=_INS,
    kinds={"python"},
)
def night_challenger(
    context: dg.AssetExecutionContext,
    optimized_cascade: dict,
    decoded_frames: dict,
    reference_labels: dict,
    cameras: CameraRegistry,
    artifacts: ArtifactStore,
    reference: ReferenceDetectorResource,
    mlflow: MlflowTracker,
) -> dg.MaterializeResult:
    """Train a challenger on the initial footage plus the label store's most recent days before this one
    (NOSCOPE_CHALLENGER_DAYS, default 7), optimize it with the camera's rules, answer this day's files with it and
    with the champion (both certified, one seed), and move the champion when the challenger's certified cost is
    lower (by more than NOSCOPE_CHALLENGER_MIN_GAIN, default 2 %) and its promise held. The challenger's registered version says which won and why. A re-run of a judged
    night reads its recorded duel (nothing is trained or registered twice)."""
    from noscope_core.common.atomic import write_json
    from noscope_core.common.errors import DegenerateLabelsError
    from noscope_core.flows.apply_flow import TrainedCascade
    from noscope_core.flows.challenger import duel, train_challenger
    from noscope_core.video.probe import probe_video

    camera_id, day = split_camera_day(context.partition_key)
    cam = cameras.get(camera_id)
    work = artifacts.path(camera_id, "challengers", day)
    duel_json = work / "duel.json"
    if duel_json.is_file():
        record = json.loads(duel_json.read_text())
        context.log.info(f"{camera_id} night of {day}: judged before; {record['verdict']['reason']}")
        return dg.MaterializeResult(metadata=_metadata(record, duel_json, None, mlflow))
    champion = nightly_champion.current(artifacts, camera_id, optimized_cascade)
    day_json = artifacts.path(camera_id, "days", day, "day.json")
    files = json.loads(day_json.read_text())["files_detail"] if day_json.is_file() else []
    videos = [f["file"] for f in files if f.get("status") in ("answered", "partial")]
    record: dict = {"camera": camera_id, "day": day, "champion_source": champion["source"], "videos": videos}
    if not videos:
        return _kept(context, record, duel_json, "no footage of this day was answered: nothing to judge on", mlflow)
    store = label_stores.open_store(artifacts, camera_id)
    champ = TrainedCascade.load(champion["cascade_json"], champion.get("models_dir"), champion.get("dd_dir"))
    try:
        challenger = train_challenger(
            cam, open_store(decoded_frames), load_labels(reference_labels), store.frames(), day,
            work / "cascade", max_days=window_days(), view=champ.artifact.view, log=context.log.info,
        )  # fmt: skip
    except DegenerateLabelsError as err:
        return _kept(context, record, duel_json, str(err), mlflow)
    context.log.info(f"challenger: {challenger.trained.artifact.describe()}; trained on {challenger.window.describe()}")

    def detector_for(video: Path):
        info = probe_video(video)
        return reference.build(cam, video=video, frame_size=(info.width, info.height))

    def cache_for(video: Path, detector):
        from noscope_core.reference.detection_cache import home_detection_cache

        return home_detection_cache(probe_video(video).fingerprint, detector)

    seed = int(hashlib.sha256(f"{camera_id}|{day}|duel".encode()).hexdigest()[:8], 16)
    result = duel(champ, challenger, videos, detector_for, seed=seed, cache_for=cache_for, min_gain=min_gain())
    record.update(result.to_dict())
    champion_version = (champion.get("registered") or {}).get("version")
    version, run_id = _register(context, cam, challenger, result.to_dict(), champion_version, decoded_frames,
                                reference, mlflow)  # fmt: skip
    record.update({"challenger_version": version, "champion_version_before": champion_version, "mlflow_run_id": run_id})
    if result.verdict.moved:
        t = challenger.trained
        nightly_champion.promote(artifacts, camera_id, optimized_cascade, {
            "cascade_json": str(t.cascade_json), "models_dir": str(t.models_dir) if t.models_dir else None,
            "dd_dir": str(t.dd_dir) if t.dd_dir else None, "registered": {"version": version}, "day": day,
            "reason": result.verdict.reason,
        })  # fmt: skip
    write_json(duel_json, record)
    context.log.info(f"{camera_id} night of {day}: {result.verdict.reason}")
    return dg.MaterializeResult(metadata=_metadata(record, duel_json, run_id, mlflow))


def _register(context, cam, challenger, duel: dict, champion_version, decoded_frames, reference, mlflow):
    """The challenger as a registered version whose description says which won and why; (None, None) when off."""
    if not tracking(mlflow):
        return None, None
    t = challenger.trained
    run_id = mlflow.start_training(cam.camera_id, cam.to_dict(), {
        "kind": "challenger", "judged_day": duel["window"]["judged_day"], "dagster_run_id": context.run_id,
    })  # fmt: skip
    try:
        reg = mlflow.register_cascade(
            run_id, cam.camera_id, t.cascade_json, t.models_dir, t.dd_dir, reference.spec_for(cam),
            reference_fps=reference.fps_for(cam), frame_size=(decoded_frames["width"], decoded_frames["height"]),
            decide=False,
        )  # fmt: skip
        mlflow.record_duel((reg.model_name, reg.version), duel, champion_version)
    finally:
        mlflow.end(run_id)
    return reg.version, run_id


def _kept(context, record: dict, duel_json: Path, why: str, mlflow) -> dg.MaterializeResult:
    from noscope_core.common.atomic import write_json

    record["verdict"] = {"moved": False, "reason": f"champion kept, no duel: {why}"}
    write_json(duel_json, record)
    context.log.info(record["verdict"]["reason"])
    return dg.MaterializeResult(metadata=_metadata(record, duel_json, None, mlflow))


def _metadata(record: dict, path: Path, run_id: str | None, mlflow) -> dict:
    verdict = record["verdict"]
    meta: dict = {
        "verdict": "challenger won" if verdict["moved"] else "champion kept",
        "reason": verdict["reason"],
        "champion_before": record.get("champion_source", ""),
        "duel_json": dg.MetadataValue.path(str(path)),
    }
    for k in ("champion_ms_per_frame", "challenger_ms_per_frame"):
        if verdict.get(k) is not None:
            meta[k] = float(verdict[k])
    if record.get("window"):
        meta["trained_on"] = record["window"]["describe"]
    if record.get("challenger_version"):
        meta["challenger_version"] = dg.MetadataValue.int(int(record["challenger_version"]))
    meta.update(mlflow_link(run_id or record.get("mlflow_run_id"), mlflow))
    return meta


CHALLENGER_ASSETS = [night_challenger]
