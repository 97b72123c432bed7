"""YOLOv3-tiny trained on COCO, run by OpenCV's Darknet importer: a second, different reference detector.

Fetched on demand (``noscope fetch --yolov3-tiny``). Needs OpenCV 4.x: 5.0 dropped the Darknet importer.
Frames are resized to 416x416 without letterboxing, as OpenCV's own YOLO sample does, so the network's
box fractions are fractions of the frame directly.

The published yolov3-tiny.cfg gives its 26x26 head ``mask = 0,1,2``, but the published weights were
trained with ``mask = 1,2,3`` (Intel's Open Model Zoo patches the cfg the same way). With the file as
shipped, every box from that head comes out about half as tall as the object; we patch it when loading.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from noscope_core.common.errors import DetectorError
from noscope_core.fetch.model_files import MANIFEST, require_model_files
from noscope_core.reference.detectors._prep import as_bgr, default_num_threads, nms_detections
from noscope_core.reference.detectors.base import Detection, ReferenceDetector
from noscope_core.reference.detectors.coco import read_names

CFG = "yolov3-tiny.cfg"
WEIGHTS = "yolov3-tiny.weights"
NAMES = "coco.names"
_WRONG_MASK, _TRAINED_MASK = b"mask = 0,1,2", b"mask = 1,2,3"


class YoloV3TinyDetector(ReferenceDetector):
    """COCO YOLOv3-tiny through ``cv2.dnn``; boxes scoring >= ``conf_threshold`` after per-class NMS.

    The score is OpenCV's class confidence (objectness x class probability). Class names come from the
    package's coco.names, respelled the COCO API way ("motorbike" -> "motorcycle") to match SSD's.
    """

    name = "yolov3-tiny"
    needs_pixels = True

    def __init__(
        self,
        model_dir: str | Path | None = None,
        conf_threshold: float = 0.25,
        nms_threshold: float = 0.45,
        input_size: int = 416,
        batch_size: int = 8,
        num_threads: int | None = None,
    ) -> None:
        super().__init__()
        if not (0.0 < conf_threshold < 1.0) or not (0.0 < nms_threshold <= 1.0):
            raise DetectorError(f"YOLO thresholds must lie in (0, 1), got conf={conf_threshold} nms={nms_threshold}")
        if input_size % 32 != 0 or batch_size < 1:
            raise DetectorError(f"YOLO input size must be a multiple of 32 (got {input_size}), batch size >= 1")
        self._files = require_model_files(self.name, Path(model_dir) if model_dir is not None else None)
        self.conf_threshold = float(conf_threshold)
        self.nms_threshold = float(nms_threshold)
        self.input_size = int(input_size)
        self.batch_size = int(batch_size)
        # cv2.setNumThreads is process-wide, so it is set again before every forward pass.
        self.num_threads = int(num_threads) if num_threads is not None else default_num_threads()
        self._names = read_names(self._files[NAMES].read_text(encoding="utf-8"))
        self._net: cv2.dnn.Net | None = None
        self._outputs: list[str] = []

    @property
    def class_names(self) -> tuple[str, ...]:
        return self._names

    def identity(self) -> str:
        weights = MANIFEST["yolov3-tiny"].files[WEIGHTS][:16]
        return (
            f"{self.name}|weights={weights}|mask=1,2,3|input={self.input_size}"
            f"|conf={self.conf_threshold:g}|nms={self.nms_threshold:g}"
        )

    def _load(self) -> cv2.dnn.Net:
        if self._net is None:
            if not hasattr(cv2.dnn, "readNetFromDarknet"):
                raise DetectorError(
                    f"OpenCV {cv2.__version__} has no Darknet importer", hint="install opencv-python-headless<5"
                )
            cfg = self._files[CFG].read_bytes()
            if cfg.count(_WRONG_MASK) == 1:
                cfg = cfg.replace(_WRONG_MASK, _TRAINED_MASK)
            try:
                weights = np.fromfile(self._files[WEIGHTS], dtype=np.uint8)
                net = cv2.dnn.readNetFromDarknet(np.frombuffer(cfg, dtype=np.uint8), weights)
            except cv2.error as exc:
                raise DetectorError(
                    f"OpenCV cannot load YOLOv3-tiny: {exc}", hint="run `noscope fetch --yolov3-tiny --force`"
                ) from exc
            self._outputs = list(net.getUnconnectedOutLayersNames())
            self._net = net
        return self._net

    def _detect(self, frames: Sequence[np.ndarray], frame_indices: Sequence[int]) -> list[list[Detection]]:
        net = self._load()
        cv2.setNumThreads(self.num_threads)
        size = (self.input_size, self.input_size)
        out: list[list[Detection]] = []
        for start in range(0, len(frames), self.batch_size):
            batch = [as_bgr(f) for f in frames[start : start + self.batch_size]]
            net.setInput(cv2.dnn.blobFromImages(batch, 1 / 255.0, size, swapRB=True, crop=False))
            # Each YOLO head gives (batch, anchors, 5 + 80) rows: cx, cy, w, h (fractions), objectness,
            # class confidences; with batch 1 OpenCV drops the batch axis.
            rows = np.concatenate([o.reshape(len(batch), -1, o.shape[-1]) for o in net.forward(self._outputs)], axis=1)
            for image_rows in rows:
                out.append(self._decode(image_rows))
        return out

    def _decode(self, rows: np.ndarray) -> list[Detection]:
        class_scores = rows[:, 5:]
        if class_scores.shape[1] != len(self._names):
            raise DetectorError(
                f"YOLOv3-tiny emits {class_scores.shape[1]} classes but coco.names lists {len(self._names)}"
            )
        class_ids = class_scores.argmax(axis=1)
        scores = class_scores[np.arange(len(rows)), class_ids]
        return nms_detections(rows[:, :4], scores, class_ids, self._names, self.conf_threshold, self.nms_threshold)
