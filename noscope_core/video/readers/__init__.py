"""Video readers behind one interface: OpenCV's (the fallback), PyAV's (threads, lowres, no loop filter, keyframes)."""

from noscope_core.video.readers.base import READER_NAMES, ReaderChoice, VideoReader, ViewBatch
from noscope_core.video.readers.choose import choose_reader, probe_codec
from noscope_core.video.readers.decoded import shrink_decoded
from noscope_core.video.readers.keyframes import FrameFetcher, KeyframeIndex, iter_keyframes
from noscope_core.video.readers.opencv_reader import OpenCVReader
from noscope_core.video.readers.pyav_reader import PyAVReader, Shrinker
from noscope_core.video.readers.stream import iter_views

__all__ = [
    "READER_NAMES",
    "ReaderChoice",
    "VideoReader",
    "ViewBatch",
    "choose_reader",
    "probe_codec",
    "FrameFetcher",
    "KeyframeIndex",
    "iter_keyframes",
    "OpenCVReader",
    "PyAVReader",
    "Shrinker",
    "iter_views",
    "shrink_decoded",
]
