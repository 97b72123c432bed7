"""Small views of frames someone else already decoded, shrunk the way a reader shrinks them while decoding.

The cheap models learn the pixels of the reader that built their frame store; frames handed over as BGR arrays
(the registered model's array input) must reach them through the same shrink. The decoder's YUV picture is gone,
so PyAV's shrink runs on the BGR picture: on the test videos that lands 1.4-2.1 grey levels from the reader's own
pixels on average, with under 0.4 of it a bias, where OpenCV's ``preprocess`` lands 1.5-2.3. (Going back to YUV
4:2:0 first lowers the worst pixel but shifts brightness by a level, which the difference detectors feel.)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from noscope_core.common.errors import VideoError
from noscope_core.video.readers.base import READER_NAMES
from noscope_core.video.shrink import check_bgr_frame, preprocess
from noscope_core.video.views import ViewSpec


def shrink_decoded(frames_bgr: Sequence[np.ndarray], view: ViewSpec, reader: str = "pyav") -> np.ndarray:
    """``(N, size, size, 3)`` uint8 RGB of full-resolution BGR uint8 frames, as ``reader`` would shrink them.

    ``reader`` is the one that built the models' frame store ("pyav" or "opencv"; ``FrameStore.reader``).
    A view decoded at reduced resolution (``lowres``) or without the loop filter cannot be reproduced from
    full-size frames someone decoded the ordinary way.
    """
    if reader not in READER_NAMES or reader == "auto":
        raise VideoError(
            f"cannot shrink decoded frames as reader {reader!r}", "name the store's reader: pyav or opencv"
        )
    if not view.exact_decode:
        raise VideoError(
            f"view {view.name} is decoded at reduced resolution or without the loop filter, which already-decoded"
            " frames cannot reproduce",
            "pass the video itself, so the reader decodes it the way the frame store was built",
        )
    if reader == "opencv":
        return preprocess(frames_bgr, view)
    from av import VideoFrame

    from noscope_core.video.readers.pyav_reader import Shrinker

    shrink = Shrinker(view)
    out = np.empty((len(frames_bgr), view.size, view.size, 3), dtype=np.uint8)
    for i, frame in enumerate(frames_bgr):
        check_bgr_frame(i, frame)
        out[i] = shrink(VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="bgr24"))
    return out
