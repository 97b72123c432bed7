"""``decoded_frames``: the camera's training video decoded once into a memory-mapped small-frame store."""

import time

import dagster as dg

from pipelines.assets.common import ASSET_KW
from pipelines.resources import ArtifactStore, CameraRegistry


@dg.asset(**ASSET_KW, kinds={"opencv"})
def decoded_frames(
    context: dg.AssetExecutionContext, cameras: CameraRegistry, artifacts: ArtifactStore
) -> dg.Output[dict]:
    """Decode the camera's video into the small frames the cheap stages read (50x50, of the ROI when there is one).

    Every later stage reads frames from this store; none decodes the video again except to fetch the
    full-resolution frames the reference must see.
    """
    from noscope_core.flows import stages

    cam = cameras.get(context.partition_key)
    root = artifacts.path(cam.camera_id, "decoded_frames", "store")
    t0 = time.perf_counter()
    store = stages.decode(cam, root, progress=False)
    seconds = time.perf_counter() - t0
    info = store.info
    context.log.info(
        f"decoded {store.n_frames} frames of {cam.video.name} ({info.width}x{info.height}, {store.fps:g} fps) at "
        f"{store.decode_fps:.0f} frames/s" + (f", {store.n_corrupt} corrupt" if store.n_corrupt else "")
    )
    out = {
        "camera_id": cam.camera_id,
        "video": str(cam.video),
        "store": str(root),
        "n_frames": int(store.n_frames),
        "fps": float(store.fps),
        "width": int(info.width),
        "height": int(info.height),
        "fingerprint": info.fingerprint,
        "decode_fps": store.decode_fps,
        "n_corrupt": store.n_corrupt,
        "frames_missing_at_end": int(store.meta.get("frames_missing_at_end", 0)),
    }
    return dg.Output(
        out,
        metadata={
            "video": dg.MetadataValue.path(str(cam.video)),
            "store": dg.MetadataValue.path(str(root)),
            "n_frames": out["n_frames"],
            "n_corrupt": out["n_corrupt"],
            "frames_missing_at_end": out["frames_missing_at_end"],
            "video_fps": out["fps"],
            "resolution": f"{out['width']}x{out['height']}",
            "decode_frames_per_s": out["decode_fps"],
            "built": store.meta.get("created_utc", ""),
            "seconds": seconds,  # near zero when the store of this very video was reused
        },
    )
