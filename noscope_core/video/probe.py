"""What a video file is before any frame is used: its container's geometry and rate, a cheap fingerprint, and the
checks every reader makes on a file and on a frame range before it opens anything.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2

from noscope_core.common.errors import VideoError

_FINGERPRINT_CHUNK = 1 << 20
_HAS_FFMPEG = cv2.videoio_registry.hasBackend(cv2.CAP_FFMPEG)


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video, plus a cheap content fingerprint for cache keys."""

    path: str
    width: int
    height: int
    fps: float
    frame_count: int  # as reported by the container (may be 0 or wrong for broken files)
    fourcc: str
    size_bytes: int
    fingerprint: str  # sha256 over (size, first 1 MiB, last 1 MiB)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VideoInfo:
        return cls(
            path=str(d["path"]),
            width=int(d["width"]),
            height=int(d["height"]),
            fps=float(d["fps"]),
            frame_count=int(d["frame_count"]),
            fourcc=str(d["fourcc"]),
            size_bytes=int(d["size_bytes"]),
            fingerprint=str(d["fingerprint"]),
        )


def file_fingerprint(path: str | Path) -> str:
    """sha256 over the size, the first and the last MiB: reads 2 MiB whatever the file size.

    Not a full hash (a 10 GB video would take a minute), but any re-encode, truncation or replacement changes it.
    """
    path = Path(path)
    size = path.stat().st_size
    h = hashlib.sha256()
    h.update(f"{size}\0".encode())
    with open(path, "rb") as fh:
        h.update(fh.read(_FINGERPRINT_CHUNK))
        if size > _FINGERPRINT_CHUNK:
            fh.seek(max(_FINGERPRINT_CHUNK, size - _FINGERPRINT_CHUNK))
            h.update(fh.read(_FINGERPRINT_CHUNK))
    return h.hexdigest()


def open_capture(path: Path) -> cv2.VideoCapture:
    """An OpenCV capture of ``path`` through FFmpeg, quiet when the file cannot be opened (check ``isOpened``)."""
    # FFmpeg explicitly: with CAP_ANY a name like "x_%03d.png" would silently become an image sequence.
    api = cv2.CAP_FFMPEG if _HAS_FFMPEG else cv2.CAP_ANY
    # OpenCV warns on stderr for every file it cannot open; we raise a clearer error ourselves.
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(min(level, cv2.utils.logging.LOG_LEVEL_ERROR))
    try:
        return cv2.VideoCapture(str(path), api)
    finally:
        cv2.utils.logging.setLogLevel(level)


def _fourcc_text(code: float) -> str:
    n = int(code) if math.isfinite(code) else 0
    chars = "".join(chr((n >> (8 * i)) & 0xFF) for i in range(4))
    return chars if chars.isprintable() and chars.strip() else ""


def check_file(path: Path) -> None:
    """:class:`VideoError` unless ``path`` is an existing, non-empty regular file."""
    if not path.exists():
        raise VideoError(
            f"video file not found: {path}",
            "check the path; `noscope fetch` gets the default camera, `noscope make-camera` makes a composited one "
            "(`make demo` runs both)",
        )
    if not path.is_file():
        raise VideoError(f"not a video file: {path} is a directory or special file", "give the path of a video file")
    if path.stat().st_size == 0:
        raise VideoError(
            f"video file is empty (0 bytes): {path}", "the download or copy was probably interrupted; fetch it again"
        )


def check_range(start: int, stop: int | None, step: int, batch_size: int) -> None:
    """:class:`VideoError` unless frames ``start, start+step, ... < stop`` in batches of ``batch_size`` make sense."""
    if start < 0:
        raise VideoError(f"start frame must be >= 0, got {start}")
    if stop is not None and stop < start:
        raise VideoError(f"stop frame {stop} lies before start frame {start}")
    if step < 1:
        raise VideoError(f"step must be >= 1, got {step}")
    if batch_size < 1:
        raise VideoError(f"batch_size must be >= 1, got {batch_size}")


def probe_video(path: str | Path) -> VideoInfo:
    """Open ``path``, read its first frame and report its geometry, rate and fingerprint.

    Raises :class:`VideoError` for a missing or empty file, a file OpenCV/FFmpeg cannot open, a video with no
    frames, or one whose first frame cannot be decoded.
    """
    path = Path(path).expanduser()
    check_file(path)
    cap = open_capture(path)
    try:
        if not cap.isOpened():
            raise VideoError(
                f"not a video OpenCV can open: {path}",
                "give a video file FFmpeg can read (e.g. .avi, .mp4, .mkv); re-encode it with ffmpeg if needed",
            )
        frame_count = int(max(0, cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        fourcc = _fourcc_text(cap.get(cv2.CAP_PROP_FOURCC))
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok or frame is None:
        if frame_count == 0:
            raise VideoError(f"video has no frames: {path}", "the file holds a container header but no video data")
        raise VideoError(
            f"cannot decode the first frame of {path} (container claims {frame_count} frames)",
            "the file is corrupt or uses a codec this OpenCV build lacks; re-encode it, e.g. `ffmpeg -i in -c:v mpeg4 out.avi`",
        )
    height, width = frame.shape[:2]
    if not math.isfinite(fps) or fps <= 0 or fps > 1000:
        fps = 0.0
    return VideoInfo(
        path=str(path.resolve()),
        width=int(width),
        height=int(height),
        fps=fps,
        frame_count=frame_count,
        fourcc=fourcc,
        size_bytes=path.stat().st_size,
        fingerprint=file_fingerprint(path),
    )
