"""``run_reference``: detections through the cache, and the cost the optimizer is given."""

from __future__ import annotations

import time

import numpy as np
import pytest

from noscope_core.reference.detect import measure_cost_ms, run_reference
from noscope_core.reference.detection_cache import DetectionCache
from noscope_core.reference.detectors.base import Detection, ReferenceDetector


class SlowReference(ReferenceDetector):
    """Sees a person in every frame, taking ``ms`` per frame."""

    name = "slow"

    def __init__(self, ms: float) -> None:
        super().__init__()
        self.ms = ms
        self.frames_seen = 0

    @property
    def class_names(self) -> tuple[str, ...]:
        return ("person",)

    def identity(self) -> str:
        return "slow-v1"

    def _detect(self, frames, frame_indices):
        self.frames_seen += len(frame_indices)
        time.sleep(self.ms * len(frame_indices) / 1000.0)
        return [[Detection("person", 0.9, 0.4, 0.4, 0.1, 0.1)] for _ in frame_indices]


@pytest.fixture()
def clip(tmp_path):
    cv2 = pytest.importorskip("cv2")
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for i in range(40):
        writer.write(np.full((48, 64, 3), 6 * i, np.uint8))
    writer.release()
    return path


def test_a_fully_cached_run_times_the_reference_now_instead_of_trusting_the_cached_cost(clip, tmp_path):
    cache_dir = tmp_path / "cache"
    first = run_reference(clip, SlowReference(ms=20.0), range(40), cache=DetectionCache(cache_dir, "fp", "slow-v1"))
    assert first.frames_detected == 40 and first.cost_ms_per_frame == pytest.approx(20.0, rel=0.5)

    # another day, another load: the same detector is now 10x faster, and every detection is cached
    fast = SlowReference(ms=2.0)
    again = run_reference(clip, fast, range(40), cache=DetectionCache(cache_dir, "fp", "slow-v1"))
    assert again.frames_detected == 0
    assert fast.frames_seen <= 9  # a warm-up frame and a sample of 8, not the 40 frames again
    assert again.cost_ms_per_frame < 10.0  # timed now, not the cached 20 ms
    assert DetectionCache(cache_dir, "fp", "slow-v1").cost_ms() == again.cost_ms_per_frame  # kept for next time
    assert [len(d) for d in again.detections] == [1] * 40  # the detections themselves come from the cache


def test_a_declared_cost_is_taken_as_is_and_unreadable_frames_give_no_measure(clip, tmp_path):
    declared = SlowReference(ms=1.0)
    declared.declare_cost(50.0)
    assert measure_cost_ms(clip, declared, range(40)) == 50.0 and declared.frames_seen == 0

    (tmp_path / "broken.avi").write_bytes(b"not a video")
    assert measure_cost_ms(tmp_path / "broken.avi", SlowReference(ms=1.0), range(40)) is None


def test_the_reference_cost_says_how_it_was_taken(clip, tmp_path):
    """Every reference speed is printed with its conditions: the frames timed and where."""
    cache_dir = tmp_path / "cache"
    first = run_reference(clip, SlowReference(ms=2.0), range(40), cache=DetectionCache(cache_dir, "fp", "slow-v1"))
    assert first.cost_how.startswith("averaged over the 40 frames detected while labelling, decode excluded, on ")
    again = run_reference(clip, SlowReference(ms=2.0), range(40), cache=DetectionCache(cache_dir, "fp", "slow-v1"))
    assert again.cost_how.startswith("timed on 8 labelled frames after a warm-up (labels from the cache)")
    declared = SlowReference(ms=1.0)
    declared.declare_cost(50.0)
    run = run_reference(clip, declared, range(4))
    assert run.cost_ms_per_frame == 50.0 and run.cost_how == "declared (the camera's reference_fps), not timed"
