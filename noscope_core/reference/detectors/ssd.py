"""SSD-MobileNetV3-Large trained on COCO, run by OpenCV's DNN module: the default reference detector.

The weights come from ``noscope fetch`` (TensorFlow frozen graph + OpenCV text graph + labels.txt).
Preprocessing is exactly what ``cv2.dnn_DetectionModel`` does with ``setInputSize(320, 320)``,
``setInputScale(1/127.5)``, ``setInputMean((127.5,)*3)``, ``setInputSwapRB(True)``; we build the blob with
``cv2.dnn.blobFromImages`` ourselves so several frames go through one ``net.forward`` (the DetectionModel
API takes one image at a time) and because the raw output already holds boxes as fractions of the frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from noscope_core.common.errors import DetectorError
from noscope_core.fetch.model_files import MANIFEST, require_model_files
from noscope_core.reference.detectors._prep import as_bgr, default_num_threads
from noscope_core.reference.detectors.base import Detection, ReferenceDetector
from noscope_core.reference.detectors.coco import COCO91_UNANNOTATED, read_names

PB = "frozen_inference_graph.pb"
PBTXT = "ssd_mobilenet_v3_large_coco_2020_01_14.pbtxt"
LABELS = "labels.txt"


class SSDMobileNetV3Detector(ReferenceDetector):
    """COCO SSD-MobileNetV3-Large at 320x320 through ``cv2.dnn``; reports every box scoring >= ``conf_threshold``.

    ``conf_threshold`` is deliberately low (0.3): the query applies its own ``min_score`` (default 0.5), so
    the labels cache can serve queries with any threshold above this one. ``batch_size`` frames go
    through one forward pass.
    """

    name = "ssd-mobilenet-v3"
    needs_pixels = True

    def __init__(
        self,
        model_dir: str | Path | None = None,
        conf_threshold: float = 0.3,
        input_size: int = 320,
        batch_size: int = 8,
        num_threads: int | None = None,
    ) -> None:
        super().__init__()
        if not (0.0 < conf_threshold < 1.0):
            raise DetectorError(f"SSD confidence threshold {conf_threshold} must lie in (0, 1)")
        if input_size < 32 or batch_size < 1:
            raise DetectorError(f"bad SSD input size {input_size} or batch size {batch_size}")
        # Checking hashes here makes a missing or corrupt model fail when the detector is chosen, not mid-run.
        self._files = require_model_files(self.name, Path(model_dir) if model_dir is not None else None)
        self.conf_threshold = float(conf_threshold)
        self.input_size = int(input_size)
        self.batch_size = int(batch_size)
        # cv2.setNumThreads is process-wide, so it is set again before every forward pass.
        self.num_threads = int(num_threads) if num_threads is not None else default_num_threads()
        # labels.txt lists COCO's 91 category names (with the ones never annotated) for class ids 1..91;
        # id 0 is the background, so class id k is line k.
        self._labels = read_names(self._files[LABELS].read_text(encoding="utf-8"))
        self._class_names = tuple(n for n in self._labels if n not in COCO91_UNANNOTATED)
        self._net: cv2.dnn.Net | None = None

    @property
    def class_names(self) -> tuple[str, ...]:
        """The 80 COCO classes the model was trained on (labels.txt's 91 names less the never-annotated 11)."""
        return self._class_names

    def identity(self) -> str:
        weights = MANIFEST["ssd"].files[PB][:16]
        return f"{self.name}|pb={weights}|input={self.input_size}|conf={self.conf_threshold:g}"

    def _load(self) -> cv2.dnn.Net:
        if self._net is None:
            try:
                self._net = cv2.dnn.readNetFromTensorflow(str(self._files[PB]), str(self._files[PBTXT]))
            except cv2.error as exc:
                raise DetectorError(
                    f"OpenCV cannot load the SSD model: {exc}", hint="run `noscope fetch --force`"
                ) from exc
        return self._net

    def _detect(self, frames: Sequence[np.ndarray], frame_indices: Sequence[int]) -> list[list[Detection]]:
        net = self._load()
        cv2.setNumThreads(self.num_threads)
        out: list[list[Detection]] = []
        for start in range(0, len(frames), self.batch_size):
            batch = [as_bgr(f) for f in frames[start : start + self.batch_size]]
            blob = cv2.dnn.blobFromImages(
                batch, 1.0 / 127.5, (self.input_size, self.input_size), (127.5, 127.5, 127.5), swapRB=True, crop=False
            )
            net.setInput(blob)
            out.extend(self._decode(net.forward(), len(batch)))
        return out

    def _decode(self, raw: np.ndarray, n_images: int) -> list[list[Detection]]:
        # DetectionOutput rows: [image_id, class_id, score, x0, y0, x1, y1], box corners as fractions.
        rows = raw.reshape(-1, 7)
        per_image: list[list[Detection]] = [[] for _ in range(n_images)]
        keep = rows[:, 2] >= self.conf_threshold
        for image_id, class_id, score, x0, y0, x1, y1 in rows[keep]:
            i, k = int(image_id), int(class_id)
            if not (0 <= i < n_images) or not (1 <= k <= len(self._labels)):
                continue
            x0, y0, x1, y1 = (float(np.clip(v, 0.0, 1.0)) for v in (x0, y0, x1, y1))
            if x1 <= x0 or y1 <= y0:
                continue
            per_image[i].append(Detection(self._labels[k - 1], float(score), x0, y0, x1 - x0, y1 - y0))
        return per_image
