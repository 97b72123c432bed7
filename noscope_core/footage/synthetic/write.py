"""A synthetic camera written as a real video file (MPEG-4 Part 2), with its ground-truth sidecar beside it."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from noscope_core.common.atomic import atomic_path
from noscope_core.common.errors import VideoError
from noscope_core.footage.synthetic.render import Renderer
from noscope_core.footage.synthetic.scene import SyntheticScene
from noscope_core.footage.synthetic.schedule import schedule_tracks
from noscope_core.footage.synthetic.truth import truth_arrays, truth_record
from noscope_core.reference.synthetic_truth import save_truth
from noscope_core.video.writer import encoding_thread

_CONTAINERS = {".avi": "mp4v", ".mp4": "mp4v", ".mkv": "mp4v"}
_DEFAULT_SCENE = SyntheticScene()


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(
        total=total, disable=not enabled or not sys.stderr.isatty(), unit="frame", desc="synthesise", leave=False
    )


def write_synthetic_video(
    path: str | Path, n_frames: int, scene: SyntheticScene = _DEFAULT_SCENE, progress: bool = False
) -> Path:
    """Render ``n_frames`` of ``scene`` to ``path`` (.avi, .mp4 or .mkv; MPEG-4 Part 2) plus ``<path>.truth.npz``.

    Streams frame by frame (memory does not grow with length). Both files are written atomically, video first;
    the truth records the video's fingerprint, so a sidecar never silently describes another video.
    """
    path = Path(path).expanduser()
    if n_frames < 1:
        raise VideoError(f"n_frames must be >= 1, got {n_frames}")
    ext = path.suffix.lower()
    if ext not in _CONTAINERS:
        raise VideoError(
            f"unsupported synthetic video extension {ext!r}", f"use one of {', '.join(sorted(_CONTAINERS))}"
        )
    tracks = schedule_tracks(scene, n_frames)
    truth = truth_arrays(tracks, scene, n_frames)
    renderer = Renderer(scene, tracks)
    # Objects in the order they appear; an active list swept forward keeps per-frame work small.
    first = truth.track_first
    last = truth.track_first + truth.track_len - 1
    order = np.argsort(first, kind="stable")
    nxt = 0
    active: list[int] = []
    with atomic_path(path, suffix=ext) as tmp:
        writer = cv2.VideoWriter(
            str(tmp), cv2.VideoWriter.fourcc(*_CONTAINERS[ext]), scene.fps, (scene.width, scene.height)
        )
        if not writer.isOpened():
            raise VideoError(
                f"OpenCV cannot write {ext} video here",
                "this OpenCV build lacks an FFmpeg writer; use opencv-python-headless",
            )
        with encoding_thread(writer, path, "synthetic-encoder") as put, _progress(n_frames, progress) as bar:
            for f in range(n_frames):
                while nxt < len(order) and first[order[nxt]] <= f:
                    active.append(int(order[nxt]))
                    nxt += 1
                active = [j for j in active if last[j] >= f]
                put(renderer.render(f, [int(truth.track_id[j]) for j in active]))
                if f % 256 == 255:
                    bar.update(256)
            bar.update(n_frames % 256)
    save_truth(path, truth_record(scene, n_frames, truth))
    return path
