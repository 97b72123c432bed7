"""Which reader runs on a file: PyAV with the best options for its codec, OpenCV where PyAV cannot open it."""

from __future__ import annotations

from pathlib import Path

from noscope_core.common.errors import VideoError
from noscope_core.video.readers.base import READER_NAMES, VideoReader
from noscope_core.video.readers.opencv_reader import OpenCVReader
from noscope_core.video.readers.pyav_reader import THREADED_CODECS, PyAVReader, open_video


def probe_codec(path: Path) -> str:
    """The FFmpeg decoder PyAV would use for ``path``; :class:`VideoError` when PyAV cannot open or decode it."""
    import av

    container, stream = open_video(path)
    try:
        name = stream.codec_context.name
        for frame in container.decode(stream):  # a container PyAV opens but cannot decode is no better
            del frame
            return name
    except av.error.FFmpegError as err:
        raise VideoError(f"PyAV cannot decode {path}: {err}") from None
    finally:
        container.close()
    raise VideoError(f"PyAV decodes no frame of {path}")


def choose_reader(path: str | Path, reader: str = "auto") -> VideoReader:
    """The reader for ``path``: "opencv", "pyav" (errors when PyAV cannot read it) or "auto" (PyAV, else OpenCV).

    PyAV decodes with frame + slice threading on codecs where it helps (MPEG-4, H.264, ...) and with the
    decoder's default elsewhere (MS-MPEG4 gains nothing from threads).
    """
    if reader not in READER_NAMES:
        raise VideoError(f"unknown reader {reader!r}", f"choose one of {', '.join(READER_NAMES)}")
    path = Path(path).expanduser()
    if reader == "opencv":
        return OpenCVReader(reason="asked for")
    try:
        import av  # noqa: F401
    except ImportError:
        if reader == "pyav":
            raise VideoError("PyAV is not installed", "pip install av, or use reader='opencv'") from None
        return OpenCVReader(reason="PyAV is not installed")
    try:
        codec = probe_codec(path)
    except VideoError as err:
        if reader == "pyav":
            raise
        return OpenCVReader(reason=f"PyAV fallback: {err.message}")
    threads = "AUTO" if codec in THREADED_CODECS else "default"
    return PyAVReader(codec=codec, threads=threads, reason="asked for" if reader == "pyav" else "auto")
