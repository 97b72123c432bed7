"""NoScope's specialized models: tiny per-camera CNNs that mimic the reference detector for one query.

The family follows NoScope's search space — 1–3 blocks of two 3×3 convolutions (ReLU) and a 2×2 max-pool, 16–64
filters, a 32–256 unit dense layer, 50×50 RGB input — plus two cheap options that make the family affordable to
train on two CPU cores: a stride-2 first convolution (``-s2``: a learned 2× downsample, ~4× fewer FLOPs) and
filters that double per block (``x2``). A global-average-pool head is deliberately absent: it throws away *where*
the object is, which region-of-interest queries need.

The network takes uint8 NHWC frames straight from the frame store; the per-channel normalisation (mean/std of
the train frames) lives inside it as buffers, so a saved model needs nothing else. A saved model is one ``.pt``
file holding only tensors and a JSON string (architecture, query key), loaded with ``weights_only=True``.

Inference (:meth:`SpecializedModel.predict_proba`) runs in ONNX Runtime when the ``onnx`` package is importable
(the in-memory export needs it) — measured ~1.5–3× faster than eager PyTorch for these models on CPU — and
falls back to eager channels-last PyTorch otherwise. Training lives in :mod:`noscope_core.models.training` (PyTorch
Lightning), which imports this module and never the other way round, so inference never imports Lightning.
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from noscope_core.common.atomic import write_bytes
from noscope_core.common.errors import ArtifactError
from noscope_core.models.difference import check_frames

log = logging.getLogger(__name__)

FORMAT = "noscope-specialized-model"
FORMAT_VERSION = 1
Backend = Literal["auto", "onnxruntime", "torch"]


@dataclass(frozen=True)
class ModelSpec:
    """One architecture of the specialized-model family.

    ``conv_blocks`` blocks, each two 3×3 convolutions + ReLU and a 2×2 max-pool; ``filters`` in the first block
    (doubling per block if ``double_filters``); ``stem_stride`` 2 makes the very first convolution stride 2;
    then flatten → ``dense`` units (ReLU, dropout) → one logit. ``input_size`` is the square frame side.
    """

    conv_blocks: int = 1
    filters: int = 32
    dense: int = 32
    input_size: int = 50
    stem_stride: int = 1
    double_filters: bool = False

    def __post_init__(self) -> None:
        if not (1 <= self.conv_blocks <= 4):
            raise ValueError(f"conv_blocks must lie in [1, 4], got {self.conv_blocks}")
        if not (4 <= self.filters <= 256):
            raise ValueError(f"filters must lie in [4, 256], got {self.filters}")
        if not (1 <= self.dense <= 1024):
            raise ValueError(f"dense must lie in [1, 1024], got {self.dense}")
        if self.stem_stride not in (1, 2):
            raise ValueError(f"stem_stride must be 1 or 2, got {self.stem_stride}")
        if self.feature_size() < 1:
            raise ValueError(f"input_size {self.input_size} is too small for {self.conv_blocks} blocks")

    @property
    def name(self) -> str:
        """``c1-f32-d32``; ``x2`` after the filters if they double, ``-s2`` for a stride-2 stem, ``-i64`` for size."""
        name = f"c{self.conv_blocks}-f{self.filters}{'x2' if self.double_filters else ''}-d{self.dense}"
        if self.stem_stride != 1:
            name += f"-s{self.stem_stride}"
        if self.input_size != 50:
            name += f"-i{self.input_size}"
        return name

    def channels(self) -> list[int]:
        return [self.filters * (2**b if self.double_filters else 1) for b in range(self.conv_blocks)]

    def feature_size(self) -> int:
        """Side of the last feature map: stride-2 stem rounds up (padding 1), each pool halves (floor)."""
        size = -(-self.input_size // self.stem_stride)
        for _ in range(self.conv_blocks):
            size //= 2
        return size

    def approx_mflops(self) -> float:
        """Forward multiply-adds ×2 per frame, in millions (for picking affordable variants)."""
        size, cin, total = -(-self.input_size // self.stem_stride), 3, 0.0
        for c in self.channels():
            total += 2 * 9 * size * size * (cin * c + c * c)
            cin, size = c, size // 2
        total += 2 * (cin * size * size * self.dense + self.dense)
        return total / 1e6

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelSpec:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model spec fields {sorted(unknown)}")
        values: dict[str, Any] = {k: (bool(v) if k == "double_filters" else int(v)) for k, v in d.items()}
        return cls(**values)


def default_family() -> list[ModelSpec]:
    """Five variants, ~4–29 MFLOPs/frame, that together train in about 1–3 minutes on 1,000 50×50 frames on
    two busy CPU cores (10 epochs), spanning NoScope's space: 1–2 blocks, 16–64 filters, 32–128 dense units.

    Four use a stride-2 stem (a learned 2× downsample): NoScope's smallest model at full 50×50 resolution,
    ``c1-f32-d32`` (52 MFLOPs), trains ~5× slower than ``c1-f32-d32-s2`` on CPU, so it is not in the default
    family (ask for it explicitly). ``c1-f16-d32`` keeps full resolution for objects only a few pixels wide.
    ``c1-f16-d32-s2`` (3.6 MFLOPs, ~18,000 frames/s on two cores, twice ``c1-f32-d32-s2``) is there for easy
    scenes with plenty of footage: on the 100,000-frame synthetic camera it is sure of every test frame and
    halves the cascade's cost; where it is not accurate enough the optimizer simply does not pick it.
    """
    return [
        ModelSpec(conv_blocks=1, filters=32, dense=32, stem_stride=2),
        ModelSpec(conv_blocks=2, filters=32, dense=64, stem_stride=2),
        ModelSpec(conv_blocks=2, filters=32, dense=128, stem_stride=2, double_filters=True),
        ModelSpec(conv_blocks=1, filters=16, dense=32),
        ModelSpec(conv_blocks=1, filters=16, dense=32, stem_stride=2),
    ]


class SpecializedNet(nn.Module):
    """The CNN of a :class:`ModelSpec`: uint8 (or 0–255 float) NHWC frames in, one logit per frame out."""

    def __init__(self, spec: ModelSpec, dropout: float = 0.25) -> None:
        super().__init__()
        self.spec = spec
        layers: list[nn.Module] = []
        cin = 3
        for b, c in enumerate(spec.channels()):
            stride = spec.stem_stride if b == 0 else 1
            layers += [
                nn.Conv2d(cin, c, 3, stride=stride, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv2d(c, c, 3, padding=1),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            cin = c
        self.features = nn.Sequential(*layers)
        side = spec.feature_size()
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(cin * side * side, spec.dense),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(spec.dense, 1),
        )
        # Normalisation inside the model: set from the train frames by the trainer, saved in the state dict.
        self.pixel_mean: torch.Tensor
        self.pixel_std: torch.Tensor
        self.register_buffer("pixel_mean", torch.full((1, 3, 1, 1), 127.5))
        self.register_buffer("pixel_std", torch.full((1, 3, 1, 1), 64.0))

    def set_normalisation(self, mean_rgb: np.ndarray, std_rgb: np.ndarray) -> None:
        self.pixel_mean.copy_(torch.as_tensor(mean_rgb, dtype=torch.float32).reshape(1, 3, 1, 1))
        self.pixel_std.copy_(torch.as_tensor(np.maximum(std_rgb, 1.0), dtype=torch.float32).reshape(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # NHWC permuted to NCHW *is* channels-last memory: no copy, and oneDNN convolutions prefer it.
        x = x.permute(0, 3, 1, 2).float()
        x = (x - self.pixel_mean) / self.pixel_std
        return self.head(self.features(x)).squeeze(1)


class SpecializedModel:
    """A trained specialized model: ``predict_proba`` of "object present" for uint8 frames; ``save``/``load``.

    ``backend``: ``"auto"`` (ONNX Runtime if available, else PyTorch), ``"onnxruntime"`` or ``"torch"``.
    ``query_key`` records which query it was trained for; ``info`` holds training facts (epochs, val metrics).
    """

    def __init__(
        self,
        spec: ModelSpec,
        net: SpecializedNet | None = None,
        *,
        query_key: str | None = None,
        info: dict | None = None,
        backend: Backend = "auto",
    ) -> None:
        self.spec = spec
        net = net if net is not None else SpecializedNet(spec)
        self.net = net.to(memory_format=torch.channels_last).eval()  # type: ignore[call-overload]  # torch's stub lacks it
        self.query_key = query_key
        self.info = dict(info or {})
        self.backend = backend
        self._ort: Any = None  # lazily built ONNX Runtime session (or False when unavailable)

    @property
    def name(self) -> str:
        return self.spec.name

    def __repr__(self) -> str:
        return f"SpecializedModel({self.name})"

    def predict_proba(self, frames: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """(N,) float32 P(object present) for (N, S, S, 3) uint8 frames, in batches of ``batch_size``."""
        frames = check_frames(frames, size=(self.spec.input_size, self.spec.input_size))
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        out = np.empty(len(frames), dtype=np.float32)
        session = self._session()
        for a in range(0, len(frames), batch_size):
            batch = np.ascontiguousarray(frames[a : a + batch_size])
            if session is not None:
                logits = session.run(None, {"frames": batch})[0]
            else:
                if not batch.flags.writeable:  # a read-only memory map; torch wants writable memory (small copy)
                    batch = batch.copy()
                with torch.inference_mode():
                    logits = self.net(torch.from_numpy(batch)).numpy()
            out[a : a + len(batch)] = logits
        # Sigmoid in float64 (logits clipped so exp cannot overflow), then float32.
        return (1.0 / (1.0 + np.exp(-np.clip(out.astype(np.float64), -80.0, 80.0)))).astype(np.float32)

    @property
    def active_backend(self) -> str:
        """Which backend ``predict_proba`` uses now: ``"onnxruntime"`` or ``"torch"``."""
        return "onnxruntime" if self._session() is not None else "torch"

    def _session(self) -> Any:
        if self.backend == "torch":
            return None
        if self._ort is None:
            self._ort = _onnx_session(self.net, self.spec, strict=self.backend == "onnxruntime") or False
        return self._ort or None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write one ``.pt`` file atomically: the state dict (tensors only) and the JSON config string."""
        config = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "spec": self.spec.to_dict(),
            "name": self.name,
            "query_key": self.query_key,
            "info": self.info,
        }
        state = {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}
        buf = io.BytesIO()
        torch.save({"config": json.dumps(config, default=_json_default), "state_dict": state}, buf)
        write_bytes(path, buf.getvalue())

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        spec: ModelSpec | None = None,
        query_key: str | None = None,
        backend: Backend = "auto",
    ) -> SpecializedModel:
        """Read a model written by :meth:`save` (``weights_only=True``); refuse another ``spec``/``query_key``."""
        path = Path(path)
        if not path.is_file():
            raise ArtifactError(f"specialized model {path} is missing", "re-run training")
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            config = json.loads(blob["config"])
            if config.get("format") != FORMAT or config.get("version") != FORMAT_VERSION:
                raise ValueError(f"not a {FORMAT} v{FORMAT_VERSION} file")
            saved_spec = ModelSpec.from_dict(config["spec"])
            net = SpecializedNet(saved_spec)
            net.load_state_dict(blob["state_dict"], strict=True)
        except Exception as exc:  # noqa: BLE001 - torch raises many types for a truncated or foreign file
            raise ArtifactError(f"cannot read specialized model {path}: {exc}", "re-run training") from None
        if spec is not None and spec != saved_spec:
            raise ArtifactError(f"{path} holds model {saved_spec.name}, not {spec.name}", "re-run training")
        if query_key is not None and config.get("query_key") != query_key:
            raise ArtifactError(f"specialized model {path} was trained for another query", "re-run training")
        return cls(saved_spec, net, query_key=config.get("query_key"), info=config.get("info"), backend=backend)


def measure_fps(model: SpecializedModel, frames: np.ndarray, batch_size: int = 256, repeats: int = 3) -> float:
    """Frames per second of ``model.predict_proba`` on ``frames``: best of ``repeats`` timed passes after a warm-up."""
    if len(frames) == 0 or repeats < 1:
        raise ValueError("measure_fps needs at least one frame and one repeat")
    model.predict_proba(frames[:batch_size], batch_size=batch_size)  # warm-up: session build, allocator, caches
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.predict_proba(frames, batch_size=batch_size)
        best = min(best, time.perf_counter() - t0)
    return len(frames) / max(best, 1e-9)


def _onnx_session(net: SpecializedNet, spec: ModelSpec, strict: bool) -> Any:
    """An ONNX Runtime session running ``net`` (exported in memory), or None where that is not possible.

    The export needs the ``onnx`` package; without it (or on any export failure) we fall back to PyTorch, or
    raise when ``strict`` (backend="onnxruntime" was asked for explicitly).
    """
    try:
        import onnxruntime as ort

        buf = io.BytesIO()
        example = torch.zeros((2, spec.input_size, spec.input_size, 3), dtype=torch.uint8)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            net.eval()
            torch.onnx.export(
                net,
                (example,),
                buf,  # type: ignore[arg-type]  # the TorchScript exporter (dynamo=False) writes to a file object
                dynamo=False,
                input_names=["frames"],
                output_names=["logits"],
                dynamic_axes={"frames": {0: "n"}, "logits": {0: "n"}},
                opset_version=17,
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()  # follow the caller's thread budget
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # No spin-waiting between batches: the cores are shared with decoding and the reference detector.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(buf.getvalue(), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - ONNX export and Runtime raise many types; strict says what to do
        if strict:
            raise ArtifactError(
                f"cannot run model {spec.name} in ONNX Runtime: {exc}",
                "install the 'onnx' package or use backend='torch'",
            ) from None
        log.debug("ONNX Runtime unavailable for %s (%s); using PyTorch", spec.name, exc)
        return None


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
