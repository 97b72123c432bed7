"""Training the specialized-model family with PyTorch Lightning, all variants in this one process.

Per variant: seeded (``pl.seed_everything(seed)``, so a variant's result does not depend on its place in the
list), Adam, BCE with ``pos_weight`` = negatives/positives of the train labels (NoScope's class balance), light
brightness/contrast jitter (no flips or shifts: with a region of interest they would change the label), early
stopping on ``val_loss`` when a validation set is given and the weights of the best epoch restored.

No checkpoints, no progress bars unless asked, ``logger=logger_factory(spec)`` or none: the pipeline injects its
MLflow logger that way, so this module never imports MLflow.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from noscope_core.common.errors import DegenerateLabelsError
from noscope_core.models.difference import FrameShapeError, check_frames
from noscope_core.models.specialized import ModelSpec, SpecializedModel, SpecializedNet
from noscope_core.spec.camera import DEFAULT_MAX_EPOCHS, DEFAULT_SEED

EARLY_STOP_PATIENCE = 3
NORMALISATION_SAMPLE = 2000  # frames used to estimate the per-channel mean/std


@dataclass(frozen=True)
class TrainResult:
    """One trained variant: the model, wall-clock training seconds, epochs run and per-epoch curves.

    ``history`` has ``train_loss``, ``val_loss`` and ``val_accuracy`` lists (the val ones empty without a
    validation set). ``val_accuracy``/``val_loss`` are those of the restored best epoch (NaN without val set).
    """

    model: SpecializedModel
    train_seconds: float
    epochs: int
    history: dict[str, list[float]] = field(default_factory=dict)
    val_accuracy: float = float("nan")
    val_loss: float = float("nan")


class SpecializedLitModule(pl.LightningModule):
    """Lightning wrapper: class-weighted BCE on logits, Adam, per-epoch history kept on the module."""

    def __init__(
        self, net: SpecializedNet, pos_weight: float, lr: float, augment: bool, noise_sigma: float = 0.0
    ) -> None:
        super().__init__()
        self.net = net
        self.lr = lr
        self.augment = augment
        self.noise_sigma = noise_sigma
        self.pos_weight: torch.Tensor
        self.register_buffer("pos_weight", torch.tensor([pos_weight], dtype=torch.float32))
        self.history: dict[str, list[float]] = {"train_loss": [], "val_loss": [], "val_accuracy": []}
        self._train_sum = self._train_n = 0.0
        self._val_sum = self._val_correct = self._val_n = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, y, pos_weight=self.pos_weight)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        if self.augment:
            x = augment(x, self.noise_sigma)
        loss = self._loss(self.net(x), y)
        self._train_sum += float(loss.detach()) * len(y)
        self._train_n += len(y)
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(y))
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        logits = self.net(x)
        loss = self._loss(logits, y)
        self._val_sum += float(loss) * len(y)
        self._val_correct += float(((logits > 0).float() == y).sum())
        self._val_n += len(y)
        self.log("val_loss", loss, on_step=False, on_epoch=True, batch_size=len(y))
        self.log(
            "val_accuracy", ((logits > 0).float() == y).float().mean(), on_step=False, on_epoch=True, batch_size=len(y)
        )

    def on_validation_epoch_end(self) -> None:
        if self._val_n and not self.trainer.sanity_checking:
            self.history["val_loss"].append(self._val_sum / self._val_n)
            self.history["val_accuracy"].append(self._val_correct / self._val_n)
        self._val_sum = self._val_correct = self._val_n = 0.0

    def on_train_epoch_end(self) -> None:
        if self._train_n:
            self.history["train_loss"].append(self._train_sum / self._train_n)
        self._train_sum = self._train_n = 0.0

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.net.parameters(), lr=self.lr)


class _KeepBest(pl.Callback):
    """Keep an in-memory copy of the weights with the lowest validation loss (no checkpoint files)."""

    def __init__(self) -> None:
        self.best_loss = math.inf
        self.best_epoch = -1
        self.best_state: dict[str, torch.Tensor] | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        module = cast(SpecializedLitModule, pl_module)  # the only module this callback is given
        if trainer.sanity_checking or not module.history["val_loss"]:
            return
        loss = module.history["val_loss"][-1]
        if loss < self.best_loss:
            self.best_loss, self.best_epoch = loss, len(module.history["val_loss"]) - 1
            self.best_state = copy.deepcopy(module.net.state_dict())


def train_models(
    specs: Sequence[ModelSpec],
    train_frames: np.ndarray,
    train_labels: np.ndarray,
    val_frames: np.ndarray | None = None,
    val_labels: np.ndarray | None = None,
    *,
    max_epochs: int = DEFAULT_MAX_EPOCHS,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = DEFAULT_SEED,
    num_threads: int | None = None,
    logger_factory: Callable[[ModelSpec], Any] | None = None,
    progress: bool = False,
    augment: bool = True,
    query_key: str | None = None,
    noise_sigma: float = 0.0,
    balance: bool = True,
    train_targets: np.ndarray | None = None,
) -> list[TrainResult]:
    """Train every spec on uint8 (N, S, S, 3) ``train_frames`` with bool ``train_labels``; one result per spec.

    With ``val_frames``/``val_labels``: early stopping on ``val_loss`` (patience 3) and the best epoch's weights.
    ``num_threads`` sets torch's intra-op threads for the duration (default: as the caller left them).
    ``noise_sigma``: Gaussian pixel noise (0-255 levels) added to the jitter when ``augment``. ``balance``: weigh
    positives by negatives/positives (False: unweighted). ``train_targets``: soft targets in [0, 1] (e.g. the
    reference's scores) the loss fits instead of ``train_labels`` (which still set the class weight).
    Raises :class:`DegenerateLabelsError` when the train labels are all positive or all negative.
    """
    specs = list(specs)
    if not specs:
        raise ValueError("no model specs to train")
    sizes = {s.input_size for s in specs}
    if len(sizes) != 1:
        raise FrameShapeError(f"all specs in one call must share one input size, got {sorted(sizes)}")
    size = sizes.pop()
    x_train, y_train = _dataset(train_frames, train_labels, size, "train")
    if y_train.all() or not y_train.any():
        raise DegenerateLabelsError(
            f"all {len(y_train)} train labels are {'positive' if y_train.all() else 'negative'}, so there is "
            "nothing for a model to learn",
            "change the query (object class, confidence threshold) or the region of interest so both cases occur",
        )
    has_val = val_frames is not None and val_labels is not None
    if (val_frames is None) != (val_labels is None):
        raise ValueError("give both val_frames and val_labels, or neither")
    x_val, y_val = _dataset(val_frames, val_labels, size, "validation") if has_val else (None, None)
    if has_val and len(y_val) == 0:  # type: ignore[arg-type]
        has_val = False

    pos = float(y_train.sum())
    pos_weight = (len(y_train) - pos) / pos if balance else 1.0
    mean_rgb, std_rgb = _channel_stats(x_train)
    tx = torch.from_numpy(x_train)
    if train_targets is not None:
        soft = np.asarray(train_targets, dtype=np.float32)
        if soft.shape != y_train.shape or not (np.all(soft >= 0) and np.all(soft <= 1)):
            raise ValueError(f"train_targets must be {len(y_train)} values in [0, 1]")
        ty = torch.from_numpy(soft)
    else:
        ty = torch.from_numpy(y_train.astype(np.float32))
    val_loader = None
    if has_val:
        val_ds = TensorDataset(torch.from_numpy(x_val), torch.from_numpy(y_val.astype(np.float32)))  # type: ignore[union-attr]
        val_loader = DataLoader(val_ds, batch_size=256, shuffle=False)

    results = []
    with _threads(num_threads), _quiet_lightning(progress):
        for spec in specs:
            pl.seed_everything(seed, verbose=False)
            net = SpecializedNet(spec)
            net.set_normalisation(mean_rgb, std_rgb)
            net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stub lacks it
            module = SpecializedLitModule(net, pos_weight=pos_weight, lr=lr, augment=augment, noise_sigma=noise_sigma)
            loader = DataLoader(
                TensorDataset(tx, ty),
                batch_size=batch_size,
                shuffle=True,
                generator=torch.Generator().manual_seed(seed),
            )
            keep = _KeepBest()
            callbacks: list[pl.Callback] = [keep]
            if has_val:
                callbacks.append(
                    pl.callbacks.EarlyStopping(monitor="val_loss", patience=EARLY_STOP_PATIENCE, mode="min")
                )
            trainer = pl.Trainer(
                accelerator="gpu" if torch.cuda.is_available() else "cpu",
                devices=1,
                max_epochs=max_epochs,
                enable_checkpointing=False,
                logger=logger_factory(spec) if logger_factory else False,
                enable_progress_bar=progress,
                enable_model_summary=False,
                num_sanity_val_steps=0,
                log_every_n_steps=1,
                callbacks=callbacks,
            )
            t0 = time.perf_counter()
            trainer.fit(module, train_dataloaders=loader, val_dataloaders=val_loader)
            train_seconds = time.perf_counter() - t0
            if keep.best_state is not None:
                net.load_state_dict(keep.best_state)
            net = net.cpu().eval()
            history = {k: [float(v) for v in vals] for k, vals in module.history.items()}
            epochs = len(history["train_loss"])
            best = keep.best_epoch
            val_acc = history["val_accuracy"][best] if best >= 0 else float("nan")
            val_loss = history["val_loss"][best] if best >= 0 else float("nan")
            info = {
                "epochs": epochs,
                "best_epoch": best + 1 if best >= 0 else epochs,
                "train_seconds": train_seconds,
                "val_accuracy": val_acc,
                "val_loss": val_loss,
                "pos_weight": pos_weight,
                "train_frames": len(y_train),
                "seed": seed,
                "noise_sigma": noise_sigma,
                "soft_targets": train_targets is not None,
            }
            model = SpecializedModel(spec, net, query_key=query_key, info=info)
            results.append(TrainResult(model, train_seconds, epochs, history, val_acc, val_loss))
    return results


def _dataset(frames: Any, labels: Any, size: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    frames = check_frames(frames, f"{what} frames", size=(size, size))
    labels = np.asarray(labels)
    if labels.shape != (len(frames),):
        raise FrameShapeError(f"{what} labels must have shape ({len(frames)},), got {labels.shape}")
    # Always an in-memory, writable copy: a read-only memory-mapped store would be re-read from disk every
    # epoch, and torch refuses to share non-writable arrays safely.
    return np.array(frames, dtype=np.uint8, order="C", copy=True), labels.astype(bool)


def _channel_stats(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    idx = np.linspace(0, len(frames) - 1, min(len(frames), NORMALISATION_SAMPLE)).round().astype(int)
    sample = frames[idx].reshape(-1, 3).astype(np.float64)
    return sample.mean(axis=0), sample.std(axis=0)


def augment(x: torch.Tensor, noise_sigma: float = 0.0) -> torch.Tensor:
    """Per-frame brightness (±20 levels) and contrast (×0.9–1.1) jitter on 0–255 values, plus Gaussian pixel noise
    of ``noise_sigma`` levels when positive."""
    x = x.float()
    n = x.shape[0]
    gain = torch.empty(n, 1, 1, 1, device=x.device).uniform_(0.9, 1.1)
    bias = torch.empty(n, 1, 1, 1, device=x.device).uniform_(-20.0, 20.0)
    x = x * gain + bias
    if noise_sigma > 0:
        x = x + noise_sigma * torch.randn_like(x)
    return x.clamp_(0.0, 255.0)


@contextlib.contextmanager
def _threads(num_threads: int | None) -> Iterator[None]:
    before = torch.get_num_threads()
    if num_threads:
        torch.set_num_threads(int(num_threads))
    try:
        yield
    finally:
        if num_threads:
            torch.set_num_threads(before)


@contextlib.contextmanager
def _quiet_lightning(progress: bool) -> Iterator[None]:
    """Silence Lightning's banner lines ("GPU available: ...") unless progress output was asked for, and its
    advice that does not apply here (loader workers for in-memory tensors)."""
    names = ("pytorch_lightning", "lightning_fabric", "lightning.pytorch", "lightning.fabric")
    levels = {n: logging.getLogger(n).level for n in names}
    if not progress:
        for n in names:
            logging.getLogger(n).setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            # In-memory tensors need no loader workers; Lightning's advice to add some does not apply.
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")
            yield
    finally:
        for n, level in levels.items():
            logging.getLogger(n).setLevel(level)
