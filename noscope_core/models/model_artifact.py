"""The specialized-model folder: the family trained on the train segment, saved with its index, and loaded back."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from noscope_core.common.artifacts import read_index
from noscope_core.common.atomic import atomic_dir, write_json
from noscope_core.common.errors import ArtifactError, QueryError
from noscope_core.models.specialized import SpecializedModel, default_family
from noscope_core.reference.label_artifact import LabelSet, check_labels
from noscope_core.spec.camera import DEFAULT_MAX_EPOCHS, DEFAULT_SEED
from noscope_core.spec.query import Query
from noscope_core.spec.split import Segment
from noscope_core.video.views import ViewSpec, model_view

#: the last fifth of each train range validates (early stopping), in time order
VAL_FRACTION = 0.2


@dataclass(frozen=True)
class ModelEntry:
    """One trained variant in the folder: its file and how its training went."""

    name: str
    spec: dict  # ModelSpec.to_dict()
    file: str
    train_seconds: float
    epochs: int
    val_accuracy: float
    val_loss: float
    history: Any = None


@dataclass(frozen=True)
class ModelIndex:
    """``index.json`` of a specialized-model folder: which query the variants were trained for, and each variant."""

    query: Query
    models: tuple[ModelEntry, ...]

    @property
    def query_key(self) -> str:
        return self.query.key()

    def to_dict(self) -> dict:
        return {
            "query": self.query.to_dict(),
            "query_key": self.query_key,
            "models": [dataclasses.asdict(m) for m in self.models],
        }

    def save(self, folder: str | Path) -> None:
        write_json(Path(folder) / "index.json", self.to_dict())

    @classmethod
    def load(cls, folder: str | Path) -> ModelIndex:
        path = Path(folder) / "index.json"
        d = read_index(path, "specialized models")
        try:
            entries = tuple(ModelEntry(**{k: m.get(k) for k in ModelEntry.__dataclass_fields__}) for m in d["models"])
            return cls(Query.from_dict(d["query"]), entries)
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"specialized models index {path} is incomplete: {exc}", "re-run training") from None


def train_val_split(segment: Segment, val_fraction: float = VAL_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """Time-ordered hold-out inside the train segment (the threshold segment stays unseen): the last
    ``val_fraction`` of each of its ranges, so a blocked split validates on every block. Positions into
    ``segment.indices()``."""
    train, val = [], []
    offset = 0
    for a, b in segment.ranges:
        n = b - a
        cut = int(round(n * (1 - val_fraction)))
        train.append(np.arange(offset, offset + cut))
        val.append(np.arange(offset + cut, offset + n))
        offset += n
    return np.concatenate(train), np.concatenate(val)


def soft_targets(labels, min_score: float) -> np.ndarray:
    """The reference's confidence as training targets in [0, 1]: its best matching score mapped piecewise-linearly
    so that the query's ``min_score`` lands on 0.5 (0 -> 0, 1 -> 1); a frame whose label smoothing flipped keeps
        its hard label. Held out on the composited camera (benchmarks/results/specialized_variants.md, SSD labels) they
    cut the held-out frames a cascade would send to SSD for a third of 1 % from 62 % to 17 % and gave the best AUC
    on hour 1 and on hour 2: SSD's scores near its threshold are the frames it labels almost at random (a quarter
    of its positives there score 0.4-0.6), and hard 0/1 targets teach the model to be sure of them."""
    m = float(min(max(min_score, 1e-6), 1 - 1e-6))
    score = np.clip(np.asarray(labels.score, dtype=np.float64), 0.0, 1.0)
    mapped = np.where(score < m, 0.5 * score / m, 0.5 + 0.5 * (score - m) / (1 - m))
    hard = np.asarray(labels.label, dtype=bool)
    return np.where(hard == np.asarray(labels.raw, dtype=bool), mapped, hard.astype(np.float64)).astype(np.float32)


def model_family(names: Sequence[str] | None = None) -> list:
    """The default family's specs, or only the variants named (in that order); None or empty: the whole family."""
    family = list(default_family())
    if not names:
        return family
    by_name = {s.name: s for s in family}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise QueryError(f"unknown specialized-model variants {unknown}", f"choose from: {', '.join(by_name)}")
    return [by_name[n] for n in names]


def train_models(
    store,
    labels: LabelSet,
    out_dir: str | Path,
    specs: Sequence | None = None,
    max_epochs: int = DEFAULT_MAX_EPOCHS,
    seed: int = DEFAULT_SEED,
    logger_factory: Callable | None = None,
    progress: bool = False,
    view: ViewSpec | None = None,
    soft: bool = True,
) -> list:
    """Train the specialized-model family on the train segment and save every variant (state dict + config).

    ``view``: the store's view the models read (default: the query's model view, exactly decoded). ``soft``: fit
    the reference's confidence (:func:`soft_targets`) rather than its 0/1 labels."""
    # Imported here: Lightning costs seconds and ~150 MiB, and every inference path imports this module.
    from noscope_core.models.training import train_models

    check_labels(labels, "train")
    view = view or model_view(labels.query)
    frames = np.asarray(store.frames(view)[labels.segments.train.indices()])
    train = labels.segment("train")
    y = train.label
    targets = soft_targets(train, labels.query.min_score) if soft else None
    va: np.ndarray | None
    tr, va = train_val_split(labels.segments.train)
    if y[tr].all() or not y[tr].any() or y[va].all() or not y[va].any():
        tr, va = np.arange(len(y)), None  # one class only in the hold-out: train on all, no early stopping
    results = train_models(
        list(specs or default_family()),
        frames[tr],
        y[tr],
        frames[va] if va is not None else None,
        y[va] if va is not None else None,
        max_epochs=max_epochs,
        seed=seed,
        logger_factory=logger_factory,
        progress=progress,
        train_targets=targets[tr] if targets is not None else None,
    )
    save_models(results, labels.query, out_dir)
    return results


def save_models(results: Sequence, query: Query, out_dir: str | Path) -> None:
    """Write trained variants (``TrainResult``s) and their index into ``out_dir``, atomically: the folder
    :func:`load_models` reads, whatever frames they were trained on."""
    entries = tuple(
        ModelEntry(
            name=r.model.name,
            spec=r.model.spec.to_dict(),
            file=f"{r.model.name}.pt",
            train_seconds=r.train_seconds,
            epochs=r.epochs,
            val_accuracy=r.val_accuracy,
            val_loss=r.val_loss,
            history=r.history,
        )
        for r in results
    )
    with atomic_dir(Path(out_dir)) as tmp:
        for r in results:
            r.model.save(tmp / f"{r.model.name}.pt")
        ModelIndex(query, entries).save(tmp)


def load_models(models_dir: str | Path, query: Query | None = None) -> list:
    index = ModelIndex.load(models_dir)
    if query is not None and index.query_key != query.key():
        raise ArtifactError(
            f"the specialized models in {models_dir} were trained for another query",
            "re-run training (materialize specialized_models) for this query",
        )
    return [SpecializedModel.load(Path(models_dir) / m.file) for m in index.models]
