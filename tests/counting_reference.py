"""A small synthetic scene and a reference wrapper that counts the frames it is asked about (shared by tests)."""

from __future__ import annotations

#: a tiny synthetic camera: objects come and go every few seconds, no distractors
SCENE = {"width": 96, "height": 64, "mean_gap_s": 2.0, "mean_stay_s": 1.5, "distractors": 0}


class CountingReference:
    """Wraps a reference detector and counts the frames it is asked about."""

    def __init__(self, inner) -> None:
        self._inner = inner
        self.frames_seen = 0

    def detect(self, frames, indices):
        self.frames_seen += len(indices)
        return self._inner.detect(frames, indices)

    def __getattr__(self, attr):
        return getattr(self._inner, attr)
