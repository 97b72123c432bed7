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
