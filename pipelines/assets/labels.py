"""``reference_labels``: what the expensive reference says about every frame of the three segments."""

import dagster as dg

from noscope_core.present import units
from pipelines import metadata
from pipelines.assets.common import ASSET_KW, open_store
from pipelines.executor import queue_tags
from pipelines.resources import ArtifactStore, CameraRegistry, ReferenceDetectorResource


@dg.asset(**ASSET_KW, kinds={"opencv"}, op_tags=queue_tags("reference_labels"))
def reference_labels(
    context: dg.AssetExecutionContext,
    decoded_frames: dict,
    cameras: CameraRegistry,
    artifacts: ArtifactStore,
    reference: ReferenceDetectorResource,
) -> dg.Output[dict]:
    """Label train, threshold AND test with the reference (through the resumable detection cache).

    The pipeline is the offline path: the test labels are what lets ``query_results`` measure the cascade's
    held-out error. Degenerate labels are recorded, not raised: the check ``labels_not_degenerate`` reports
    them and the downstream assets fall back to the reference.
    """
    from noscope_core.flows import stages
    from noscope_core.reference.label_artifact import ALL_SEGMENTS

    cam = cameras.get(context.partition_key)
    store = open_store(decoded_frames)
    detector = reference.build(cam, frame_size=(decoded_frames["width"], decoded_frames["height"]))
    labels = stages.label(cam, store, detector, ALL_SEGMENTS, progress=False)
    path = artifacts.path(cam.camera_id, "reference_labels", "labels.npz")
    labels.save(path)
    from pipelines.label_stores import record_segments  # every reference label is kept (docs/camera_life.md)

    kept = record_segments(artifacts, cam.camera_id, store, labels, detector)
    degenerate = stages.fallback_reason(labels)
    rates = labels.positive_rates()
    # the run's one measurement of the reference: the optimizer, the test segment and every footage answer of
    # this run divide by it, and every page prints how it was taken beside it
    timing = labels.timing()
    reference_fps = timing.fps
    context.log.info(
        f"labelled {int(labels.labelled.sum())} frames with {labels.reference_name} ({labels.frames_detected} run "
        f"now, the rest from the cache); reference {units.fps(reference_fps)} ({timing.how}); positive rate "
        + ", ".join(f"{k} {units.pct(v)}" for k, v in rates.items())
        + (f"; DEGENERATE: {degenerate}" if degenerate else "")
    )
    out = {
        "labels": str(path),
        "reference": labels.reference_name,
        "reference_ms": labels.reference_ms,
        "reference_fps": reference_fps,
        "reference_timing": timing.how,
        "segments": labels.segments.to_dict(),
        "positive_rates": rates,
        "query": cam.query.to_dict(),
        "query_text": cam.query.describe(),
        "degenerate": degenerate,
    }
    meta = {
        "labels": dg.MetadataValue.path(str(path)),
        "query": cam.query.describe(),
        "reference": labels.reference_name,
        "reference_fps": metadata.fps(reference_fps),
        "reference_timing": dg.MetadataValue.text(timing.how),
        "frames_detected_now": labels.frames_detected,
        "frames_from_cache": int(labels.labelled.sum()) - labels.frames_detected,
        "reference_seconds": metadata.num(labels.seconds, 1),
        **{f"positive_rate_{k}_pct": metadata.pct(v) for k, v in rates.items()},
        **{f"frames_{s.name}": len(s) for s in labels.segments},
        # >1 when the consecutive split never saw the object come and go and a blocked split was chosen
        "split_blocks": labels.segments.blocks,
        "labels_kept_in_store": kept,
    }
    if degenerate:
        meta["degenerate"] = degenerate
    return dg.Output(out, metadata=meta)
