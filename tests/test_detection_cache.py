from noscope_core.reference.detection_cache import DetectionCache
from noscope_core.reference.detectors.base import Detection


def test_cache_persists_chunks_and_resumes(tmp_path):
    c = DetectionCache(tmp_path, "video-fp", "det-id")
    c.add([0, 1], [[Detection("person", 0.9, 0.1, 0.2, 0.3, 0.4)], []])
    c.flush()
    c.add([2], [[Detection("car", 0.5, 0, 0, 1, 1)]])  # never flushed: as if the run was killed here
    again = DetectionCache(tmp_path, "video-fp", "det-id")
    assert again.missing(range(4)) == [2, 3]
    got = again.get([0, 1])
    assert got[0][0].class_name == "person" and abs(got[0][0].h - 0.4) < 1e-6
    assert got[1] == []


def test_cache_is_keyed_by_video_and_detector(tmp_path):
    c = DetectionCache(tmp_path, "video-fp", "det-a")
    c.add([0], [[]])
    c.flush()
    c.record_cost(12.5)
    assert DetectionCache(tmp_path, "video-fp", "det-b").missing([0]) == [0]
    assert DetectionCache(tmp_path, "video-fp", "det-a").cost_ms() == 12.5


def test_corrupt_chunk_is_detected_again_not_fatal(tmp_path):
    c = DetectionCache(tmp_path, "v", "d")
    c.add([0], [[]])
    c.flush()
    for chunk in c.root.glob("chunk-*.npz"):
        chunk.write_bytes(b"garbage")
    assert DetectionCache(tmp_path, "v", "d").missing([0]) == [0]


def test_a_read_cache_holds_columns_and_makes_detections_only_when_asked(tmp_path):
    """A six-hour video's cache (152,105 frames, 3.9 million boxes) held as Detection objects took 940 MB in the
    process that answered it; held as columns, a frame's detections are made when asked for, the same as written.
    What this process detected itself comes back unrounded: the composited camera's people boxes are computed from
    fresh detections, and rounding them changed the video (its shipped SSD pack was then refused)."""
    import gc

    writer = DetectionCache(tmp_path, "vid", "det")
    frames = list(range(0, 4000, 2))
    writer.add(frames, [[Detection("person", 0.5 + (f % 7) / 16, f, 1.0, 2.0, 3.0)] * 10 for f in frames])
    writer.flush()
    writer.add([1, 2], [[Detection("car", 0.75, 0.0, 0.0, 1.0, 1.0)], []])  # frame 2 again, later: the later wins
    writer.flush()
    fresh = Detection("person", 0.7, 0.1, 0.2, 0.3, 0.4)  # not a float32: a chunk keeps it rounded
    writer.add([4001], [[fresh]])
    writer.flush()
    assert writer.get([4001]) == [[fresh]]  # this process's own detections come back as the detector gave them
    del writer
    gc.collect()

    def live() -> int:
        return sum(isinstance(o, Detection) for o in gc.get_objects())

    before = live()
    cache = DetectionCache(tmp_path, "vid", "det")
    assert cache.missing([0, 1, 3]) == [3]
    assert live() - before < 100  # 20,000 boxes read, none made into objects
    assert cache.get([4]) == [[Detection("person", 0.5 + 4 / 16, 4.0, 1.0, 2.0, 3.0)] * 10]
    assert cache.get([1, 2]) == [[Detection("car", 0.75, 0.0, 0.0, 1.0, 1.0)], []]
