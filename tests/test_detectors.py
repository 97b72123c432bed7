"""Reference detectors: real SSD / YOLOv3-tiny on the real camera, ONNX and precomputed inputs, the factory."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest

from noscope_core.common.errors import DetectorError, QueryError
from noscope_core.fetch.packages import require_model_files, verify
from noscope_core.reference.detectors import DETECTOR_CHOICES, Detection, ReferenceDetector, make_detector
from noscope_core.reference.detectors.coco import COCO80_NAMES, canonical_name


def _real_frames(indices: list[int]) -> list[np.ndarray]:
    import cv2

    status = verify(include=("vtest",))
    if not status["vtest"]:
        pytest.skip("run `noscope fetch` first")
    from noscope_core.common.paths import default_video

    cap = cv2.VideoCapture(str(default_video()))
    frames, i = [], 0
    while len(frames) < len(indices):
        ok, frame = cap.read()
        assert ok, "vtest.avi ended early"
        if i in indices:
            frames.append(frame)
        i += 1
    cap.release()
    return frames


def _people(dets: list[Detection], min_score: float = 0.5) -> list[Detection]:
    return [d for d in dets if d.class_name == "person" and d.score >= min_score]


@pytest.mark.real
def test_ssd_finds_people_on_a_real_vtest_frame():
    if not verify(include=("ssd",))["ssd"]:
        pytest.skip("run `noscope fetch` first")
    from noscope_core.reference.detectors.ssd import SSDMobileNetV3Detector

    det = SSDMobileNetV3Detector(num_threads=1)
    (frame,) = _real_frames([0])
    (dets,) = det.detect([frame], [0])
    people = _people(dets)
    assert len(people) >= 2, dets
    for d in people:  # pedestrians are taller than wide, and boxes are fractions of the frame
        assert 0 <= d.x <= 1 and 0 <= d.y <= 1 and d.x + d.w <= 1 + 1e-6 and d.h > d.w
    assert det.cost_ms_per_frame is not None and det.cost_ms_per_frame > 0
    assert det.class_names == COCO80_NAMES


@pytest.mark.real
def test_ssd_batched_forward_matches_one_frame_at_a_time_and_detection_model():
    if not verify(include=("ssd",))["ssd"]:
        pytest.skip("run `noscope fetch` first")
    import cv2

    from noscope_core.reference.detectors.ssd import PB, PBTXT, SSDMobileNetV3Detector

    frames = _real_frames([0, 1, 2])
    batched = SSDMobileNetV3Detector(batch_size=3, num_threads=1).detect(frames, [0, 1, 2])
    single = SSDMobileNetV3Detector(batch_size=1, num_threads=1).detect(frames, [0, 1, 2])
    for a, b in zip(batched, single, strict=True):
        assert [d.class_name for d in a] == [d.class_name for d in b]
        np.testing.assert_allclose([d.score for d in a], [d.score for d in b], atol=1e-3)

    # The documented preprocessing equals cv2.dnn_DetectionModel's: same top box, in pixels.
    files = require_model_files("ssd-mobilenet-v3")
    model = cv2.dnn_DetectionModel(str(files[PB]), str(files[PBTXT]))
    model.setInputSize(320, 320)
    model.setInputScale(1.0 / 127.5)
    model.setInputMean((127.5, 127.5, 127.5))
    model.setInputSwapRB(True)
    class_ids, scores, boxes = model.detect(frames[0], confThreshold=0.5)
    top = int(np.argmax(scores))
    ours = max(single[0], key=lambda d: d.score)
    h, w = frames[0].shape[:2]
    assert ours.class_name == "person" and int(np.ravel(class_ids)[top]) == 1
    np.testing.assert_allclose([ours.x * w, ours.y * h, ours.w * w, ours.h * h], boxes[top], atol=2.0)


@pytest.mark.real
def test_yolov3_tiny_finds_people_with_full_height_boxes():
    if not verify(include=("yolov3-tiny",))["yolov3-tiny"]:
        pytest.skip("run `noscope fetch --yolov3-tiny` first")
    from noscope_core.reference.detectors.darknet import YoloV3TinyDetector

    det = YoloV3TinyDetector(num_threads=1)
    (frame,) = _real_frames([0])
    people = _people(det.detect([frame], [0])[0])
    assert len(people) >= 2
    # The walkers nearest the camera are 85-95 px tall in frame 0; with the cfg's mask as shipped
    # (0,1,2 instead of the trained 1,2,3) YOLOv3-tiny's boxes for them come out about 43 px tall.
    assert max(d.h for d in people) * frame.shape[0] > 70
    assert det.class_names == COCO80_NAMES


def test_ssd_with_corrupt_model_file_raises_detector_error(tmp_path):
    from noscope_core.reference.detectors.ssd import SSDMobileNetV3Detector

    for name in ("frozen_inference_graph.pb", "ssd_mobilenet_v3_large_coco_2020_01_14.pbtxt", "labels.txt"):
        (tmp_path / name).write_bytes(b"corrupt")
    with pytest.raises(DetectorError, match="SSD model files missing or corrupt") as err:
        SSDMobileNetV3Detector(model_dir=tmp_path)
    assert "noscope fetch" in err.value.hint


def test_factory_reports_unfetched_detectors_with_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("NOSCOPE_HOME", str(tmp_path))
    with pytest.raises(DetectorError) as err:
        make_detector("ssd-mobilenet-v3")
    assert "`noscope fetch`" in err.value.hint
    with pytest.raises(DetectorError) as err:
        make_detector("yolov3-tiny")
    assert "noscope fetch --yolov3-tiny" in err.value.hint


def _onnx_model(path: Path, rows: np.ndarray, layout: str, size: int = 64, names: str | None = None) -> Path:
    """A model whose output is the constant ``rows`` (per image), broadcast to the input's batch size.

    ``layout`` "v5"/"boxes-first": output (B, N, C); "v8": output (B, C, N) (``rows`` given as (N, C)).
    """
    onnx = pytest.importorskip("onnx", reason="the ONNX tests build their model with the onnx package")
    from onnx import TensorProto, helper, numpy_helper

    const = rows.T if layout == "v8" else rows
    const = const[None].astype(np.float32)
    tail = np.array(const.shape[1:], dtype=np.int64)
    nodes = [
        helper.make_node("Shape", ["images"], ["shape"]),
        helper.make_node("Slice", ["shape", "zero", "one"], ["batch"]),
        helper.make_node("Concat", ["batch", "tail"], ["out_shape"], axis=0),
        helper.make_node("Expand", ["rows", "out_shape"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", *const.shape[1:]])],
        initializer=[
            numpy_helper.from_array(const, "rows"),
            numpy_helper.from_array(tail, "tail"),
            numpy_helper.from_array(np.array([0], dtype=np.int64), "zero"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "one"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    if names is not None:
        helper.set_model_props(model, {"names": names})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def test_onnx_v5_output_is_letterboxed_back_to_frame_fractions_with_nms(tmp_path):
    from noscope_core.reference.detectors.onnx import OnnxYoloDetector

    # cx, cy, w, h (input pixels), objectness, p(cat), p(dog); the second box overlaps the first and loses NMS.
    rows = np.array(
        [
            [32, 32, 16, 8, 0.9, 0.1, 0.8],
            [33, 32, 16, 8, 0.8, 0.1, 0.8],
            [8, 24, 4, 4, 0.9, 0.9, 0.0],
            [50, 40, 4, 4, 0.1, 0.5, 0.5],  # score 0.05: below the threshold
        ]
    )
    path = _onnx_model(tmp_path / "v5.onnx", rows, "v5", names="{0: 'cat', 1: 'dog'}")
    det = OnnxYoloDetector(path, num_threads=1, batch_size=2)
    assert det.class_names == ("cat", "dog") and det.names_source == "model metadata 'names'"
    frame = np.zeros((64, 128, 3), np.uint8)  # W=128, H=64: letterbox scale 0.5, 16 px bands top and bottom
    out = det.detect([frame, frame, frame], [0, 1, 2])
    assert len(out) == 3 and out[0] == out[2]
    cat, dog = out[0]  # sorted by score: cat 0.81, dog 0.72
    assert dog.class_name == "dog" and dog.score == pytest.approx(0.72)
    assert (dog.x, dog.y, dog.w, dog.h) == pytest.approx((0.375, 0.375, 0.25, 0.25))
    assert cat.class_name == "cat" and (cat.cx, cat.cy) == pytest.approx((8 / 0.5 / 128, (24 - 16) / 0.5 / 64))
    assert "sha256=" in det.identity()


def test_onnx_v8_output_with_sidecar_names_and_plain_resize(tmp_path):
    from noscope_core.reference.detectors.onnx import OnnxYoloDetector

    rows = np.array([[32, 32, 16, 16, 0.2, 0.6, 0.1], [10, 10, 4, 4, 0.0, 0.0, 0.1]])  # cx, cy, w, h, 3 classes
    path = _onnx_model(tmp_path / "v8.onnx", rows, "v8")
    (tmp_path / "v8.names").write_text("bus\ncar\ntruck\n")
    det = OnnxYoloDetector(path, letterbox=False, num_threads=1)
    assert det.class_names == ("bus", "car", "truck")
    (dets,) = det.detect([np.zeros((100, 200, 3), np.uint8)], [0])
    assert [d.class_name for d in dets] == ["car"]
    assert (dets[0].x, dets[0].y, dets[0].w, dets[0].h) == pytest.approx((0.375, 0.375, 0.25, 0.25))


def test_onnx_without_names_defaults_to_coco80(tmp_path):
    from noscope_core.reference.detectors.onnx import OnnxYoloDetector

    rows = np.zeros((3, 84))
    rows[0, :4] = [32, 32, 8, 8]
    rows[0, 4 + 2] = 0.9  # class 2 = car
    det = OnnxYoloDetector(_onnx_model(tmp_path / "m.onnx", rows, "v8"), num_threads=1)
    assert det.class_names == COCO80_NAMES and det.names_source == "COCO-80 default"
    (dets,) = det.detect([np.zeros((64, 64, 3), np.uint8)], [0])
    assert [d.class_name for d in dets] == ["car"]


def test_onnx_declared_output_of_wrong_shape_is_refused_when_the_detector_is_made(tmp_path):
    from noscope_core.reference.detectors.onnx import OnnxYoloDetector

    path = _onnx_model(tmp_path / "bad.onnx", np.zeros((3, 9)), "v5")  # declares (batch, 3, 9): 9 is no 5+nc
    with pytest.raises(DetectorError, match=r"shape \(batch, 3, 9\) \(as bad.onnx declares it\).*\(B, N, 5\+nc\)"):
        OnnxYoloDetector(path, num_threads=1)


def test_onnx_output_of_wrong_shape_at_run_time_names_the_expected_shapes(tmp_path):
    # a model whose declared output leaves the size open can still produce a shape no YOLO layout fits
    from noscope_core.reference.detectors.onnx import OnnxYoloDetector

    det = OnnxYoloDetector(_onnx_model(tmp_path / "ok.onnx", np.zeros((3, 85)), "v5"), num_threads=1)
    with pytest.raises(DetectorError, match=r"shape \(1, 3, 9\).*\(B, N, 5\+nc\).*\(B, 4\+nc, N\)"):
        det._rows(np.zeros((1, 3, 9), np.float32), 1)
    with pytest.raises(DetectorError, match=r"shape \(1, 1000\)"):
        det._rows(np.zeros((1, 1000), np.float32), 1)


def test_onnx_missing_file_is_a_detector_error(tmp_path):
    with pytest.raises(DetectorError, match="not found"):
        make_detector(f"onnx:{tmp_path / 'nope.onnx'}")


def _table(rows: list[tuple]) -> dict[str, list]:
    cols = ("frame", "class", "score", "x", "y", "w", "h")
    return {c: [r[i] for r in rows] for i, c in enumerate(cols)}


ROWS = [
    (3, "person", 0.9, 0.1, 0.2, 0.1, 0.3),
    (1, "car", 0.6, 0.5, 0.5, 0.2, 0.1),
    (3, "car", 0.4, 0.0, 0.0, 0.5, 0.5),
]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_precomputed_reads_csv_and_parquet_with_fraction_boxes(tmp_path, fmt):
    import pandas as pd

    from noscope_core.reference.detectors.precomputed import PrecomputedDetector

    path = tmp_path / f"dets.{fmt}"
    df = pd.DataFrame(_table(ROWS))
    df.to_csv(path, index=False) if fmt == "csv" else df.to_parquet(path)
    det = PrecomputedDetector(path, reference_fps=20.0)
    assert not det.needs_pixels and not det.in_pixels
    assert det.class_names == ("car", "person")
    out = det.detect([], [3, 2, 1])
    assert [[d.class_name for d in f] for f in out] == [["person", "car"], [], ["car"]]
    assert out[0][0] == Detection("person", 0.9, 0.1, 0.2, 0.1, 0.3)
    assert det.cost_ms_per_frame == pytest.approx(50.0)
    assert det.identity().startswith("detections|sha256=")


def test_precomputed_converts_pixel_boxes_with_the_frame_size(tmp_path):
    import pandas as pd

    from noscope_core.reference.detectors.precomputed import PrecomputedDetector

    path = tmp_path / "px.csv"
    pd.DataFrame(_table([(0, "person", 0.8, 76.8, 57.6, 38.4, 115.2)])).to_csv(path, index=False)
    with pytest.raises(DetectorError, match="look like pixels"):
        PrecomputedDetector(path, reference_fps=10)
    det = PrecomputedDetector(path, reference_fps=10, frame_size=(768, 576))
    assert det.in_pixels
    (d,) = det.detect([], [0])[0]
    assert (d.x, d.y, d.w, d.h) == pytest.approx((0.1, 0.1, 0.05, 0.2))


def test_precomputed_missing_columns_error_lists_the_required_columns(tmp_path):
    from noscope_core.reference.detectors.precomputed import PrecomputedDetector

    path = tmp_path / "bad.csv"
    path.write_text("frame,label,score,x,y,w,h\n0,person,0.9,0.1,0.1,0.1,0.1\n")
    with pytest.raises(DetectorError, match="lacks columns class") as err:
        PrecomputedDetector(path, reference_fps=10)
    assert "frame, class, score, x, y, w, h" in err.value.hint


def test_precomputed_non_numeric_column_is_refused(tmp_path):
    from noscope_core.reference.detectors.precomputed import PrecomputedDetector

    path = tmp_path / "bad.csv"
    path.write_text("frame,class,score,x,y,w,h\n0,person,high,0.1,0.1,0.1,0.1\n")
    with pytest.raises(DetectorError, match="'score'.*not numeric"):
        PrecomputedDetector(path, reference_fps=10)


def test_precomputed_cost_is_unknown_without_reference_fps(tmp_path):
    import pandas as pd

    from noscope_core.reference.detectors.precomputed import PrecomputedDetector

    path = tmp_path / "d.csv"
    pd.DataFrame(_table(ROWS)).to_csv(path, index=False)
    det = PrecomputedDetector(path)
    det.detect([], [1, 3])
    assert det.cost_ms_per_frame is None


def test_factory_requires_reference_fps_for_precomputed_detections(tmp_path):
    import pandas as pd

    path = tmp_path / "d.csv"
    pd.DataFrame(_table(ROWS)).to_csv(path, index=False)
    with pytest.raises(DetectorError, match="no run time") as err:
        make_detector(f"detections:{path}")
    assert "--reference-fps" in err.value.hint
    det = make_detector(f"detections:{path}", reference_fps=4.0)
    assert det.name == "detections" and det.cost_ms_per_frame == pytest.approx(250.0)


def test_factory_declares_reference_fps_on_a_real_detector(tmp_path):
    from noscope_core.reference.detectors.onnx import OnnxYoloDetector

    rows = np.zeros((2, 85))
    det = make_detector(f"onnx:{_onnx_model(tmp_path / 'm.onnx', rows, 'v5')}", reference_fps=8.0)
    assert isinstance(det, OnnxYoloDetector)
    det.detect([np.zeros((64, 64, 3), np.uint8)], [0])
    assert det.cost_ms_per_frame == pytest.approx(125.0)


def test_factory_unknown_spec_lists_the_valid_forms():
    with pytest.raises(QueryError) as err:
        make_detector("resnet50")
    for form in DETECTOR_CHOICES:
        assert form in err.value.hint
    with pytest.raises(QueryError):
        make_detector("onnx:")
    with pytest.raises(QueryError, match="positive"):
        make_detector("ssd-mobilenet-v3", reference_fps=0)


def test_factory_dispatches_synthetic_lazily_with_path_and_cost(monkeypatch, tmp_path):
    made: list[tuple] = []

    class FakeSynthetic(ReferenceDetector):
        name = "synthetic"
        needs_pixels = False

        def __init__(self, video_path, cost_ms_per_frame: float = 50.0):
            super().__init__()
            made.append((Path(video_path), cost_ms_per_frame))

        class_names = ("person",)

        def identity(self):
            return "fake"

        def _detect(self, frames, frame_indices):
            return [[] for _ in frame_indices]

    module = types.ModuleType("noscope_core.reference.detectors.synthetic")
    module.SyntheticDetector = FakeSynthetic
    monkeypatch.setitem(sys.modules, "noscope_core.reference.detectors.synthetic", module)
    make_detector(f"synthetic:{tmp_path / 'a.avi'}")
    make_detector("synthetic", reference_fps=5.0, video_path=tmp_path / "b.avi")
    assert made == [(tmp_path / "a.avi", 50.0), (tmp_path / "b.avi", 200.0)]
    with pytest.raises(QueryError, match="synthetic"):
        make_detector("synthetic")


def test_darknet_spellings_map_to_coco_api_names():
    assert canonical_name("motorbike") == "motorcycle" and canonical_name("tvmonitor") == "tv"
    assert canonical_name("person") == "person"
