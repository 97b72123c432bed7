"""``query_results``: the cascade's answers: the held-out test segment (measured against the reference) and
every footage file that arrived in the camera's ``footage_dir``."""

import hashlib
import json
from pathlib import Path

import dagster as dg

from noscope_core.present.decision import decision_line
from noscope_core.present.frontier import preview_intervals, short_name
from noscope_core.spec.camera import CameraSpec
from pipelines import metadata
from pipelines.assets.common import ASSET_KW, footage_files, load_labels, md_table, mlflow_link, open_store, tracking
from pipelines.champion import CascadeSummary, HeldOut, Registration
from pipelines.mlflow_text import CascadeFigures
from pipelines.resources import ArtifactStore, CameraRegistry, ReferenceDetectorResource
from pipelines.tracking import MlflowTracker

_TEST_KEYS = (
    "fnr", "fpr", "speedup", "speedup_e2e", "cascade_fps", "cascade_fps_e2e", "reference_fps", "reference_timing",
    "reference_call_fraction", "reference_calls", "positive_frames", "frames_test", "test_segment", "test_ranges", "intervals",
    "confidence", "fnr_bound", "fpr_bound", "threshold_fnr_bound", "threshold_fpr_bound", "certified",
    "certify_frames", "certify_reason",
)  # fmt: skip
#: what each footage answer keeps of its ``QueryResult.to_dict()`` (the promise included)
_FOOTAGE_KEYS = (
    "positive_frames", "cascade_fps", "cascade_fps_e2e", "reference_calls", "reference_call_fraction", "speedup",
    "speedup_e2e", "intervals", "intervals_s", "confidence", "fnr_bound", "fpr_bound", "certified",
    "certify_frames", "certify_reason", "reference_fps", "reference_timing",
)  # fmt: skip


def _file_key(path: Path, cascade_json: Path) -> str:
    """Changes when the footage file or the cascade changes: a cached answer is reused only for both unchanged."""
    st = path.stat()
    cascade_sha = hashlib.sha256(cascade_json.read_bytes()).hexdigest()
    return hashlib.sha256(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{cascade_sha}".encode()).hexdigest()[:20]


def _query_footage(trained, cam: CameraSpec, path: Path, out_dir: Path, reference, timing) -> dict:
    """Stream one footage file through the cascade (decode included), certify the answer on the file's own frames
    (the engine's ``apply_to_video``), and keep its positive intervals and its bounds. ``timing``: the run's one
    measurement of the reference (a cached answer keeps the one of the run that answered it)."""
    from noscope_core.common.atomic import write_json
    from noscope_core.flows.apply_flow import apply_to_video
    from noscope_core.reference.detection_cache import home_detection_cache
    from noscope_core.video.probe import probe_video

    result_path = out_dir / f"{_file_key(path, trained.cascade_json)}.json"
    if result_path.is_file():
        return {**json.loads(result_path.read_text()), "cached": True}
    info = probe_video(path)
    detector = reference.build(cam, video=path, frame_size=(info.width, info.height))
    # the file's detection cache: labels imported or made earlier are read, not recomputed (each still counts as a
    # reference frame and is charged at the measured rate), and a killed run keeps the frames it labelled
    cache = home_detection_cache(info.fingerprint, detector)
    result = apply_to_video(trained, path, detector, cache=cache, reference_timing=timing).to_dict()
    data = {
        "file": str(path),
        "name": path.name,
        "frames": int(result["frames_test"]),
        "source_fps": info.fps or None,
        **{k: result[k] for k in _FOOTAGE_KEYS},
    }
    write_json(result_path, data)
    return {**data, "cached": False}


@dg.asset(**ASSET_KW, kinds={"python"})
def query_results(
    context: dg.AssetExecutionContext,
    decoded_frames: dict,
    reference_labels: dict,
    optimized_cascade: dict,
    cameras: CameraRegistry,
    artifacts: ArtifactStore,
    reference: ReferenceDetectorResource,
    mlflow: MlflowTracker,
) -> dg.Output[dict]:
    """Run the chosen cascade over the test segment (error measured against the reference's test labels),
    then over each new footage file (answers cached per file and cascade), certify every answer on its own
    frames at the camera's confidence, and report the positive intervals and the bounds. Then the registered
    version's champion decision is taken, answering to this test error and bound (``pipelines.champion``).

    On the test segment the certifier reads the reference labels already computed (free here), but they are
    charged to the speed-up like fresh reference calls, since a user's query would pay for them.
    """
    from noscope_core.common.atomic import write_json
    from noscope_core.flows import test_segment
    from noscope_core.flows.apply_flow import TrainedCascade
    from noscope_core.optimizer import cascade_artifact
    from noscope_core.optimizer.cascade_artifact import CascadeArtifact

    cam = cameras.get(context.partition_key)
    store, labels = open_store(decoded_frames), load_labels(reference_labels)
    cascade_json = Path(optimized_cascade["cascade_json"])
    art = CascadeArtifact.load(cascade_json)
    detector = reference.build(cam, frame_size=(decoded_frames["width"], decoded_frames["height"]))
    cascade = cascade_artifact.load_cascade(art, detector, optimized_cascade["models_dir"], optimized_cascade["dd_dir"])
    test = labels.segment("test")
    timing = labels.timing()  # the run's one measurement of the reference (reference_labels took it)
    result = test_segment.run_on_segment(
        cascade,
        art,
        store,
        labels.segments.test,
        cam.video,
        truth=test.label,
        known_reference=test.raw,
        reference_timing=timing,
    ).to_dict()
    test_json = artifacts.path(cam.camera_id, "query_results", "test.json")
    write_json(test_json, result)
    decision = decision_line(art.to_dict(), result)
    context.log.info(f"{decision}; {len(result['intervals'])} positive intervals")
    metadata.tag_run(context, decision)
    picture, timeline_error = _timeline(context, cam, result, store, artifacts)
    timeline = None if picture is None else picture.path
    footage_dir = artifacts.path(cam.camera_id, "query_results", "footage")
    trained = TrainedCascade.load(cascade_json, optimized_cascade["models_dir"], optimized_cascade["dd_dir"])
    footage = [_query_footage(trained, cam, p, footage_dir, reference, timing) for p in footage_files(cam)]
    for f in footage:
        context.log.info(
            f"footage {f['name']}: {f['frames']} frames, {len(f['intervals'])} positive intervals"
            + (" (answer cached)" if f["cached"] else "")
        )
    run_id = optimized_cascade.get("mlflow_run_id") if tracking(mlflow) else None
    figures = CascadeFigures.from_cascade(cam.camera_id, art.to_dict(), result)
    registered = optimized_cascade.get("registered") or {}
    version = (registered["model_name"], registered["version"]) if registered.get("version") else None
    summary = CascadeSummary.from_cascade(art).with_held_out(HeldOut.from_result(result))
    tracking_error, champion = _log_to_mlflow(
        context, mlflow, run_id, result, footage, figures, version, summary, timeline, decision
    )
    test = {k: result.get(k) for k in _TEST_KEYS}
    out = {
        "decision": decision,
        "test_json": str(test_json),
        "cascade": result["cascade"]["describe"],
        "fell_back": result["fell_back"],
        "targets": result["targets"],
        "test": test,
        "footage": [
            {
                k: f.get(k)
                for k in (
                    "file",
                    "frames",
                    "positive_frames",
                    "intervals",
                    "cached",
                    "certified",
                    "fnr_bound",
                    "fpr_bound",
                    "certify_reason",
                    "confidence",
                    "certify_frames",
                    "speedup",
                    "speedup_e2e",
                    "reference_fps",
                    "reference_timing",
                )
            }
            for f in footage
        ],
        "mlflow_run_id": run_id,
        "timeline_png": None if timeline is None else str(timeline),
        "champion": None
        if champion is None
        else {
            "model_name": champion.model_name,
            "version": champion.version,
            "champion_moved": champion.champion_moved,
            "reason": champion.reason,
        },
    }
    meta = {  # the decision first: the asset page lists entries in this order
        **metadata.decision_entries(decision, bool(result["fell_back"]), result.get("fallback_reason")),
        "cascade": short_name(result["cascade"]),
        **metadata.query_headline(test, result["targets"]),
        **{f"test_{k}_pct": metadata.pct(result[k]) for k in ("fnr_bound", "fpr_bound") if result.get(k) is not None},
        "test_json": dg.MetadataValue.path(str(test_json)),
        "intervals": metadata.intervals_table(test["intervals"], store.fps),
        "footage_files": dg.MetadataValue.int(len(footage)),
        **mlflow_link(run_id, mlflow),
    }
    if champion is not None:
        verdict = "became champion" if champion.champion_moved else "not champion"
        meta["champion"] = f"{champion.model_name} v{champion.version} {verdict}: {champion.reason}"
    if picture is not None:
        # the share the picture states, over the frames the query examined (not the whole video)
        meta["positive_of_examined_pct"] = metadata.pct(picture.positive_s / picture.duration_s)
        meta["examined_s"] = metadata.num(picture.duration_s, 1)
        meta["timeline"] = metadata.png_markdown(timeline, "positive intervals over the examined frames")
        meta["timeline_png"] = dg.MetadataValue.path(str(timeline))
    if timeline_error:
        meta["timeline_error"] = timeline_error
    if tracking_error:
        meta["mlflow_error"] = tracking_error
    if footage:
        meta["footage"] = dg.MetadataValue.md(
            md_table(
                [
                    {**f, "n_intervals": len(f["intervals"]), "intervals": preview_intervals(f["intervals"])}
                    for f in footage
                ],
                [
                    ("name", "file"),
                    ("frames", "frames"),
                    ("positive_frames", "positive frames"),
                    ("n_intervals", "intervals"),
                    ("intervals", "[start, end) frames"),
                    ("cached", "cached"),
                ],
            )  # fmt: skip
        )
    return dg.Output(out, metadata=meta)


def _timeline(context, cam: CameraSpec, result: dict, store, artifacts):
    """The test segment's positive intervals drawn over the video's time, with a thumbnail per interval.

    A picture that cannot be drawn (e.g. the video moved since decoding) must not withhold the answers: the
    error is logged and shown in metadata instead."""
    from noscope_core.present.timeline import timeline_picture

    out = artifacts.path(cam.camera_id, "query_results", "timeline.png")
    from noscope_core.present.timeline import check_ranges, describe_ranges

    try:
        ranges = check_ranges(result.get("test_ranges") or [result["test_segment"]])
        pic = timeline_picture(
            cam.video,
            result["intervals"],
            store.fps,
            out,
            examined=ranges,
            title=f"{cam.camera_id}: {cam.query.describe()} — test segment, {describe_ranges(ranges)}",
        )
    except Exception as err:  # noqa: BLE001 - reported, the answers stand
        context.log.warning(f"could not draw the results timeline: {err}")
        return None, f"{type(err).__name__}: {err}"
    context.log.info(
        f"timeline of {pic.n_intervals} intervals: {pic.positive_s:.1f} s positive of {pic.duration_s:.1f} s examined "
        f"at {pic.path}"
    )
    return pic, None


def _log_to_mlflow(
    context,
    mlflow,
    run_id: str | None,
    result: dict,
    footage: list[dict],
    figures: CascadeFigures,
    version: tuple[str, int] | None,
    summary: CascadeSummary,
    timeline: Path | None,
    decision: str,
) -> tuple[str | None, Registration | None]:
    """Report the answers to the training run (metrics, the timeline, the run's description) and take the
    registered version's champion decision on the test error. A tracking failure (e.g. the store moved since
    training) must not withhold answers already computed and written: it is logged and shown in metadata instead.
    Returns (the tracking error, the decision)."""
    if not run_id:
        return None, None
    champion = None
    try:
        mlflow.log_query(run_id, result, name="test")
        mlflow.describe_tested(run_id, figures, decision)
        if version is not None:
            champion = mlflow.decide_champion(version, summary, figures)
            context.log.info(
                f"{champion.model_name} v{champion.version} "
                f"{'became champion' if champion.champion_moved else 'is not champion'}: {champion.reason}"
            )
        if timeline is not None:
            mlflow.log_figure(run_id, timeline, "query")
        for f in footage:
            if not f["cached"]:
                mlflow.log_query(run_id, {**f, "frames_test": f["frames"]}, name=f"footage {f['name']}")
    except Exception as err:  # noqa: BLE001 - any tracking failure, reported rather than raised
        context.log.warning(f"could not log the query results to MLflow run {run_id}: {err}")
        return f"{type(err).__name__}: {err}", champion
    return None, champion
