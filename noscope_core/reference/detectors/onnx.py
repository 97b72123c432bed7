"""Bring your own detector: a YOLO-family ONNX file run with onnxruntime.

Two output layouts are understood (``nc`` = number of classes, ``N`` = candidate boxes):

* YOLOv5-style ``(B, N, 5 + nc)``: cx, cy, w, h, objectness, class probabilities; score = obj x class.
* YOLOv8-style ``(B, 4 + nc, N)`` (and its transpose ``(B, N, 4 + nc)``): cx, cy, w, h, class scores.

Boxes are in pixels of the network input, as both exporters write them. The input is one float tensor
``(B, 3, H, W)`` of RGB in [0, 1]; frames are letterboxed (the YOLO training transform) unless
``letterbox=False``. Class names come from, in order: the ``class_names`` argument, a ``names`` entry in
the model's metadata (ultralytics writes one), a sidecar ``MODEL.names`` / ``MODEL.txt``, else COCO-80.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from noscope_core.common.artifacts import sha256_file
from noscope_core.common.errors import DetectorError
from noscope_core.reference.detectors._prep import as_bgr, default_num_threads, letterbox, nms_detections
from noscope_core.reference.detectors.base import Detection, ReferenceDetector
from noscope_core.reference.detectors.coco import COCO80_NAMES, read_names

EXPECTED_SHAPES = "(B, N, 5+nc) [YOLOv5: box, objectness, classes] or (B, 4+nc, N) [YOLOv8: box, classes]"
SHAPE_HINT = "check the class names (metadata 'names', a MODEL.names sidecar) match the model, and export the raw head without NMS"


class OnnxYoloDetector(ReferenceDetector):
    """A user-supplied YOLOv5/YOLOv8-style ONNX detector; per-class NMS on its raw candidate boxes."""

    name = "onnx"
    needs_pixels = True

    def __init__(
        self,
        path: str | Path,
        class_names: Sequence[str] | None = None,
        input_size: int = 640,
        conf_threshold: float = 0.25,
        nms_threshold: float = 0.45,
        letterbox: bool = True,
        batch_size: int = 1,
        num_threads: int | None = None,
        providers: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise DetectorError(f"ONNX detector {self.path} not found", hint="give onnx:PATH to an existing .onnx file")
        if not (0.0 < conf_threshold < 1.0) or not (0.0 < nms_threshold <= 1.0):
            raise DetectorError(f"thresholds must lie in (0, 1), got conf={conf_threshold} nms={nms_threshold}")
        if input_size < 32 or batch_size < 1:
            raise DetectorError(f"bad ONNX input size {input_size} or batch size {batch_size}")
        self.conf_threshold = float(conf_threshold)
        self.nms_threshold = float(nms_threshold)
        self.letterbox = bool(letterbox)
        self.batch_size = int(batch_size)
        self.num_threads = int(num_threads) if num_threads is not None else default_num_threads()
        self._sha256 = sha256_file(self.path)
        self._session = self._open_session(providers)
        inp = self._session.get_inputs()[0]
        self._input_name = inp.name
        self._input_hw, self._fixed_batch = _input_geometry(inp.shape, int(input_size), self.path)
        self._names, self.names_source = self._resolve_names(class_names)
        _check_declared_output(self._session.get_outputs()[0].shape, len(self._names), self.path)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self._names

    def identity(self) -> str:
        names = hashlib.sha256("\n".join(self._names).encode()).hexdigest()[:8]
        h, w = self._input_hw
        return (
            f"{self.name}|sha256={self._sha256[:16]}|input={w}x{h}|letterbox={int(self.letterbox)}"
            f"|conf={self.conf_threshold:g}|nms={self.nms_threshold:g}|names={names}"
        )

    def _open_session(self, providers: Sequence[str] | None):
        import onnxruntime as ort  # imported here: only users who bring an ONNX model pay for it

        opts = ort.SessionOptions()
        # Deliberate thread counts: onnxruntime defaults to every core for intra-op work and spins
        # between calls, which starves the decode and training work beside it.
        opts.intra_op_num_threads = self.num_threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3
        try:
            return ort.InferenceSession(
                str(self.path), sess_options=opts, providers=list(providers or ort.get_available_providers())
            )
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
            raise DetectorError(f"onnxruntime cannot load {self.path}: {exc}".splitlines()[0]) from exc

    def _resolve_names(self, given: Sequence[str] | None) -> tuple[tuple[str, ...], str]:
        if given:
            return tuple(str(n) for n in given), "argument"
        meta = self._session.get_modelmeta().custom_metadata_map
        if "names" in meta:
            names = _parse_names_metadata(meta["names"])
            if names:
                return names, "model metadata 'names'"
        for sidecar in (
            self.path.with_suffix(".names"),
            self.path.with_suffix(".txt"),
            Path(f"{self.path}.names"),
            Path(f"{self.path}.txt"),
        ):
            if sidecar.is_file():
                names = read_names(sidecar.read_text(encoding="utf-8"))
                if names:
                    return names, str(sidecar)
        return COCO80_NAMES, "COCO-80 default"

    def _detect(self, frames: Sequence[np.ndarray], frame_indices: Sequence[int]) -> list[list[Detection]]:
        step = self._fixed_batch or self.batch_size
        out: list[list[Detection]] = []
        for start in range(0, len(frames), step):
            batch = [as_bgr(f) for f in frames[start : start + step]]
            tensors, geometry = zip(*(self._preprocess(f) for f in batch), strict=True)
            blob = np.stack(tensors)
            if self._fixed_batch and len(batch) < self._fixed_batch:  # a model exported for a fixed batch
                blob = np.concatenate([blob, np.zeros((self._fixed_batch - len(batch), *blob.shape[1:]), blob.dtype)])
            raw = np.asarray(self._session.run(None, {self._input_name: blob})[0])
            rows = self._rows(raw, blob.shape[0])[: len(batch)]
            for image_rows, frame, geo in zip(rows, batch, geometry, strict=True):
                out.append(self._decode(image_rows, frame.shape[:2], geo))
        return out

    def _preprocess(self, frame: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float, float]]:
        """CHW float RGB in [0, 1], and how to map input pixels back: (scale_x, scale_y, left, top)."""
        h, w = self._input_hw
        if self.letterbox:
            img, scale, left, top = letterbox(frame, w, h)
            geo = (scale, scale, float(left), float(top))
        else:
            img = cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR)
            geo = (w / frame.shape[1], h / frame.shape[0], 0.0, 0.0)
        tensor = cv2.cvtColor(img, cv2.COLOR_BGR2RGB).transpose(2, 0, 1).astype(np.float32) / 255.0
        return tensor, geo

    def _rows(self, raw: np.ndarray, batch: int) -> np.ndarray:
        """Normalise the output to (B, N, C) with C = 5 + nc (YOLOv5) or 4 + nc (YOLOv8)."""
        nc = len(self._names)
        if raw.ndim != 3 or raw.shape[0] != batch:
            raise DetectorError(
                f"ONNX detector output has shape {raw.shape}; expected {EXPECTED_SHAPES} with B={batch}, nc={nc}"
            )
        _, a, c = raw.shape
        if c in (5 + nc, 4 + nc) and a not in (5 + nc, 4 + nc):
            return raw
        if a in (5 + nc, 4 + nc) and c not in (5 + nc, 4 + nc):
            return raw.transpose(0, 2, 1)
        if c in (5 + nc, 4 + nc):  # both axes fit (tiny N): boxes along the longer axis, rows as written
            return raw if a >= c else raw.transpose(0, 2, 1)
        raise DetectorError(
            f"ONNX detector output has shape {raw.shape}, which fits none of {EXPECTED_SHAPES} for nc={nc} classes",
            hint=SHAPE_HINT,
        )

    def _decode(
        self, rows: np.ndarray, frame_hw: tuple[int, int], geo: tuple[float, float, float, float]
    ) -> list[Detection]:
        nc = len(self._names)
        rows = rows.astype(np.float32, copy=False)
        if rows.shape[1] == 5 + nc:
            class_scores = rows[:, 5:] * rows[:, 4:5]
        else:
            class_scores = rows[:, 4:]
        class_ids = class_scores.argmax(axis=1)
        scores = class_scores[np.arange(len(rows)), class_ids]
        sx, sy, left, top = geo
        fh, fw = frame_hw
        boxes = np.stack(
            [
                (rows[:, 0] - left) / sx / fw,
                (rows[:, 1] - top) / sy / fh,
                rows[:, 2] / sx / fw,
                rows[:, 3] / sy / fh,
            ],
            axis=1,
        )
        return nms_detections(boxes, scores, class_ids, self._names, self.conf_threshold, self.nms_threshold)


def _check_declared_output(shape: Sequence[object] | None, nc: int, path: Path) -> None:
    """Refuse, when the detector is chosen, a model whose declared output fits no YOLO layout.

    Symbolic dimensions (``"batch"``, ``"N"``) pass; the run-time check in ``_rows`` sees the real shape.
    """
    if not shape:  # rank unknown: only running the model tells
        return
    dims = tuple(shape)
    fits = (5 + nc, 4 + nc)
    known = [d for d in dims[1:] if isinstance(d, int)]
    if len(dims) == 3 and (len(known) < 2 or any(d in fits for d in known)):
        return
    shown = "(" + ", ".join(str(d) if d is not None else "?" for d in dims) + ")"
    raise DetectorError(
        f"ONNX detector output has shape {shown} (as {path.name} declares it); expected {EXPECTED_SHAPES} with nc={nc}",
        hint=SHAPE_HINT,
    )


def _input_geometry(shape: Sequence[object], input_size: int, path: Path) -> tuple[tuple[int, int], int | None]:
    """(H, W) the model wants and its fixed batch size (None when dynamic); symbolic dims use input_size."""
    if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
        raise DetectorError(f"{path} takes input of shape {list(shape)}; expected (B, 3, H, W) images")
    h = shape[2] if isinstance(shape[2], int) else input_size
    w = shape[3] if isinstance(shape[3], int) else input_size
    batch = shape[0] if isinstance(shape[0], int) else None
    return (int(h), int(w)), batch


def _parse_names_metadata(text: str) -> tuple[str, ...]:
    """Parse ultralytics' ``"{0: 'person', 1: 'bicycle'}"``, a JSON list/dict, or a Python list literal."""
    value: object
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return ()
    if isinstance(value, dict):
        try:
            return tuple(str(value[k]) for k in sorted(value, key=lambda k: int(k)))
        except (TypeError, ValueError):
            return ()
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return ()
