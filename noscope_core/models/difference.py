"""NoScope's difference detectors: cheap per-frame "has anything changed?" scores that let the cascade skip frames.

Four detectors (:func:`default_difference_specs`), the combinations of

* ``kind="global"``: the mean squared error (MSE) over the whole frame; the score *is* the MSE, so thresholds
  stay interpretable and the score is monotone in it.
* ``kind="blocked"``: the MSE of each of ``blocks × blocks`` tiles, weighted by a ``class_weight="balanced"``
  logistic regression fitted on the train labels; the score is the regression's logit (higher = more likely a
  change that matters). It learns *where* changes matter (a road, not the swaying trees) — NoScope's blocked DD.

and

* ``reference="background"``: compare against a background image, the per-pixel median of object-free train
  frames. A score below the optimizer's threshold means "looks like the empty scene": the object is **absent**.
* ``reference="previous"``: compare frame t against frame t−k (``previous[i]`` is the frame k steps before
  ``frames[i]``; the caller picks k = the frame skip). A score below the threshold means "nothing changed": the
  **label of frame t−k carries over** to frame t.

Thresholds are not chosen here; the cost-based optimizer picks them on held-out frames.

Scoring is vectorised over the batch (chunks of ~1M pixels so they stay in cache, no Python loop per frame): the
global MSE runs at roughly 100k+ 50×50 frames/s on one CPU core, the blocked one at roughly half that.

Artifacts are a single ``.npz`` file (background, regression weights, a JSON config string), written atomically
and read with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from noscope_core.common.atomic import write_npz
from noscope_core.common.errors import ArtifactError, DegenerateLabelsError, NoScopeError

FORMAT = "noscope-difference-detector"
FORMAT_VERSION = 1
MAX_BACKGROUND_FRAMES = 300  # the median of a few hundred empty frames is as good as of thousands, and cheap
MAX_PAIRS_PER_K = 5000  # frame pairs per k for the "previous" regression; more adds time, not accuracy
CHUNK_PIXELS = 1 << 18  # pixels (×3 channels, float32: 3 MiB) per scoring chunk, so each chunk stays in L2/L3

DDKind = Literal["global", "blocked"]
DDReference = Literal["background", "previous"]


class FrameShapeError(NoScopeError, ValueError):
    """Frames are not a (N, H, W, 3) uint8 array of the size a detector or model was fitted for."""


def check_frames(frames: Any, what: str = "frames", size: tuple[int, int] | None = None) -> np.ndarray:
    """Return ``frames`` as a (N, H, W, 3) uint8 array (no copy), or raise a clear :class:`FrameShapeError`."""
    if not isinstance(frames, np.ndarray):
        raise FrameShapeError(f"{what} must be a numpy array, got {type(frames).__name__}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise FrameShapeError(
            f"{what} must have shape (N, H, W, 3), got {frames.shape}", "pass a batch of RGB frames, e.g. frames[None]"
        )
    if frames.dtype != np.uint8:
        raise FrameShapeError(f"{what} must be uint8, got {frames.dtype}", "pass frames straight from the frame store")
    if size is not None and tuple(frames.shape[1:3]) != tuple(size):
        raise FrameShapeError(
            f"{what} are {frames.shape[1]}×{frames.shape[2]} but this was fitted on {size[0]}×{size[1]} frames",
            "re-fit on frames from the same frame-store view",
        )
    return frames


def _check_labels(labels: Any, n: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise FrameShapeError(f"labels must have shape ({n},) to match the frames, got {labels.shape}")
    return labels.astype(bool)


@dataclass(frozen=True)
class DifferenceSpec:
    """Which difference detector: global or blocked MSE, against the background or against frame t−k."""

    kind: DDKind
    reference: DDReference
    blocks: int = 5  # tiles per side for "blocked" (ignored by "global")

    def __post_init__(self) -> None:
        if self.kind not in ("global", "blocked"):
            raise ValueError(f"difference detector kind must be 'global' or 'blocked', got {self.kind!r}")
        if self.reference not in ("background", "previous"):
            raise ValueError(
                f"difference detector reference must be 'background' or 'previous', got {self.reference!r}"
            )
        if not (1 <= int(self.blocks) <= 64):
            raise ValueError(f"blocks must lie in [1, 64], got {self.blocks}")

    @property
    def name(self) -> str:
        """``global-background``, ``blocked-previous``; a non-default block count shows (``blocked8-previous``)."""
        kind = f"blocked{self.blocks}" if self.kind == "blocked" and self.blocks != 5 else self.kind
        return f"{kind}-{self.reference}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DifferenceSpec:
        return cls(kind=d["kind"], reference=d["reference"], blocks=int(d.get("blocks", 5)))


def default_difference_specs() -> list[DifferenceSpec]:
    """NoScope's four difference detectors: {global, blocked} × {background, previous}."""
    return [DifferenceSpec(kind, ref) for ref in ("background", "previous") for kind in ("global", "blocked")]


class DifferenceDetector:
    """A fitted difference detector (see the module docstring). ``fit`` then ``score``; ``save``/``load``.

    Fitted attributes: ``background_`` (H, W, 3) float32 or None, ``coef_`` (blocks²,) and ``intercept_`` of the
    regression on log1p block-MSE features (blocked only), ``frame_size_``, ``train_auc_`` (how well the score
    separates the train targets; NaN when they are all one value) and ``query_key`` (which query it was fitted for).
    """

    def __init__(self, spec: DifferenceSpec, query_key: str | None = None) -> None:
        self.spec = spec
        self.query_key = query_key
        self.background_: np.ndarray | None = None
        self.coef_: np.ndarray | None = None
        self.intercept_: float = 0.0
        self.frame_size_: tuple[int, int] | None = None
        self.train_auc_: float = float("nan")

    @property
    def name(self) -> str:
        return self.spec.name

    def __repr__(self) -> str:
        return f"DifferenceDetector({self.spec.name}, fitted={self.frame_size_ is not None})"

    def fit(self, frames: np.ndarray, labels: np.ndarray, ks: Sequence[int] = (1, 5, 10, 30)) -> DifferenceDetector:
        """Fit on consecutive train ``frames`` (N, H, W, 3) uint8 and their reference ``labels`` (N,) bool.

        ``background``: the background is the median of up to 300 evenly spaced label-False frames (all frames
        if none is False). ``blocked``: a balanced logistic regression on log1p per-block MSE, target = the label
        (background) or "the label changed", ``labels[t] != labels[t−k]`` over the given ``ks`` (previous).
        """
        frames = check_frames(frames)
        labels = _check_labels(labels, len(frames))
        if len(frames) < 2:
            raise FrameShapeError(f"need at least 2 train frames to fit a difference detector, got {len(frames)}")
        if labels.all() or not labels.any():
            raise DegenerateLabelsError(
                f"all {len(labels)} train labels are {'positive' if labels.all() else 'negative'}",
                "change the query (object class, confidence) or the region of interest so both cases occur",
            )
        self.frame_size_ = (int(frames.shape[1]), int(frames.shape[2]))
        if self.spec.reference == "background":
            self.background_ = _median_background(frames, labels)
            if self.spec.kind == "blocked":
                self._fit_regression(self._block_mse(frames, self.background_), labels)
            scores, targets = self.score(frames), labels
        else:
            ks = sorted({int(k) for k in ks if 0 < int(k) < len(frames)})
            if not ks:
                raise FrameShapeError(f"no frame distance k in the given ks is shorter than the {len(frames)} frames")
            cur, prev, targets = _pairs(len(frames), labels, ks)
            if self.spec.kind == "blocked":
                feats = np.concatenate([self._block_mse(frames[c], frames[p]) for c, p in _batches(cur, prev)])
                if targets.all() or not targets.any():
                    raise DegenerateLabelsError(
                        f"the label never changes within {ks} frames in the train segment",
                        "use a longer train segment, or change the query or the region of interest",
                    )
                self._fit_regression(feats, targets)
            scores = np.concatenate([self.score(frames[c], frames[p]) for c, p in _batches(cur, prev)])
        self.train_auc_ = _auc(scores, targets)
        return self

    def _fit_regression(self, block_mse: np.ndarray, targets: np.ndarray) -> None:
        from sklearn.linear_model import LogisticRegression

        # Features share one unit (log MSE), so they are centred but not scaled: the L2 penalty then treats
        # every tile alike, and a tile that is merely quiet in training gets no inflated weight.
        x = np.log1p(block_mse.astype(np.float64))
        mean = x.mean(axis=0)
        lr = LogisticRegression(class_weight="balanced", C=1.0, max_iter=5000)
        lr.fit(x - mean, targets)
        self.coef_ = lr.coef_[0].astype(np.float32)
        self.intercept_ = float(lr.intercept_[0] - mean @ lr.coef_[0])

    def score(self, frames: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray:
        """(N,) float32 change scores, higher = more changed / more likely relevant.

        ``previous`` (same shape as ``frames``; ``previous[i]`` is frame t−k of ``frames[i]``) is required for
        ``reference="previous"`` and ignored for ``"background"``.
        """
        if self.frame_size_ is None:
            raise ArtifactError(f"difference detector {self.spec.name} is not fitted", "call fit() or load() first")
        frames = check_frames(frames, size=self.frame_size_)
        if self.spec.reference == "background":
            ref: np.ndarray = self.background_  # type: ignore[assignment]
        else:
            if previous is None:
                raise FrameShapeError(
                    f"difference detector {self.spec.name} needs the previous frames",
                    "pass previous=frames k steps earlier, e.g. score(frames[k:], frames[:-k])",
                )
            ref = check_frames(previous, "previous frames", size=self.frame_size_)
            if len(ref) != len(frames):
                raise FrameShapeError(f"got {len(frames)} frames but {len(ref)} previous frames; they must pair up")
        if self.spec.kind == "global":
            return self._global_mse(frames, ref)
        feats = self._block_mse(frames, ref)
        return (np.log1p(feats) @ self.coef_ + np.float32(self.intercept_)).astype(np.float32)

    def _global_mse(self, frames: np.ndarray, ref: np.ndarray) -> np.ndarray:
        n, h, w, _ = frames.shape
        dim = h * w * 3
        out = np.empty(n, dtype=np.float32)
        per_ref = ref.ndim == 4
        ref_flat = ref.reshape(n if per_ref else 1, dim)
        for a, b in _chunks(n, h * w):
            d = frames[a:b].reshape(b - a, dim).astype(np.float32)
            d -= ref_flat[a:b] if per_ref else ref_flat
            out[a:b] = np.einsum("ij,ij->i", d, d)  # row-wise dot: one pass, no temporary for d²
        out /= dim
        return out

    def _block_mse(self, frames: np.ndarray, ref: np.ndarray) -> np.ndarray:
        """(N, blocks²) float32 mean squared error per tile (tiles split the rows/columns as evenly as possible)."""
        n, h, w, _ = frames.shape
        rows, cols, counts = _tiling(h, w, self.spec.blocks)
        out = np.empty((n, len(counts)), dtype=np.float32)
        per_ref = ref.ndim == 4
        for a, b in _chunks(n, h * w):
            d = frames[a:b].astype(np.float32)
            d -= ref[a:b] if per_ref else ref
            d *= d
            # Sum rows into tile rows, channels and pixels into tile columns: two small matmuls (BLAS).
            r = np.matmul(rows, d.reshape(b - a, h, w * 3))  # (n, B, W*3)
            out[a:b] = (r.reshape(b - a, -1, w * 3) @ cols).reshape(b - a, -1)
        out /= counts
        return out

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write one ``.npz`` file atomically: arrays plus a JSON config string (no pickle)."""
        if self.frame_size_ is None:
            raise ArtifactError(f"difference detector {self.spec.name} is not fitted; nothing to save")
        config = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "spec": self.spec.to_dict(),
            "query_key": self.query_key,
            "frame_size": list(self.frame_size_),
            "intercept": self.intercept_,
            "train_auc": None if np.isnan(self.train_auc_) else self.train_auc_,
        }
        arrays = {"config": np.array(json.dumps(config))}
        if self.background_ is not None:
            arrays["background"] = self.background_
        if self.coef_ is not None:
            arrays["coef"] = self.coef_
        write_npz(path, **arrays)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, spec: DifferenceSpec | None = None, query_key: str | None = None
    ) -> DifferenceDetector:
        """Read a detector written by :meth:`save`; refuse a file for another ``spec`` or ``query_key`` if given."""
        path = Path(path)
        if not path.is_file():
            raise ArtifactError(f"difference detector {path} is missing", "re-fit the difference detectors")
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            config = json.loads(str(arrays["config"]))
            if config.get("format") != FORMAT or config.get("version") != FORMAT_VERSION:
                raise ValueError(f"not a {FORMAT} v{FORMAT_VERSION} file")
            dd = cls(DifferenceSpec.from_dict(config["spec"]), query_key=config.get("query_key"))
            dd.frame_size_ = (int(config["frame_size"][0]), int(config["frame_size"][1]))
            dd.intercept_ = float(config["intercept"])
            dd.train_auc_ = float("nan") if config.get("train_auc") is None else float(config["train_auc"])
            dd.background_ = arrays["background"].astype(np.float32) if "background" in arrays else None
            dd.coef_ = arrays["coef"].astype(np.float32) if "coef" in arrays else None
        except (OSError, ValueError, KeyError, TypeError, IndexError, EOFError, zipfile.BadZipFile) as exc:
            raise ArtifactError(
                f"cannot read difference detector {path}: {exc}", "re-fit the difference detectors"
            ) from None
        need_bg = dd.spec.reference == "background"
        if need_bg != (dd.background_ is not None) or (dd.spec.kind == "blocked") != (dd.coef_ is not None):
            raise ArtifactError(f"difference detector {path} is incomplete for {dd.spec.name}", "re-fit it")
        if spec is not None and spec != dd.spec:
            raise ArtifactError(f"{path} holds difference detector {dd.spec.name}, not {spec.name}", "re-fit it")
        if query_key is not None and dd.query_key != query_key:
            raise ArtifactError(f"difference detector {path} was fitted for another query", "re-fit it for this query")
        return dd


def _chunks(n: int, pixels_per_frame: int) -> list[tuple[int, int]]:
    step = max(1, CHUNK_PIXELS // max(1, pixels_per_frame))
    return [(a, min(a + step, n)) for a in range(0, n, step)]


def _tiling(h: int, w: int, blocks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indicator matrices summing rows into tile rows (B, H) and channel-interleaved columns into tile columns
    (W*3, B), and the pixel-value count of each tile (B*B,)."""
    if blocks > min(h, w):
        raise FrameShapeError(f"{blocks} blocks per side do not fit {h}×{w} frames", "use fewer blocks")
    r_edges = np.linspace(0, h, blocks + 1).round().astype(int)
    c_edges = np.linspace(0, w, blocks + 1).round().astype(int)
    rows = np.zeros((blocks, h), dtype=np.float32)
    cols = np.zeros((w * 3, blocks), dtype=np.float32)
    for i in range(blocks):
        rows[i, r_edges[i] : r_edges[i + 1]] = 1.0
        cols[c_edges[i] * 3 : c_edges[i + 1] * 3, i] = 1.0
    counts = (np.diff(r_edges)[:, None] * np.diff(c_edges)[None, :] * 3).astype(np.float32).reshape(-1)
    return rows, cols, counts


def _median_background(frames: np.ndarray, labels: np.ndarray) -> np.ndarray:
    idx = np.flatnonzero(~labels)
    if len(idx) == 0:  # no object-free frame: the median of all frames still removes moving objects
        idx = np.arange(len(frames))
    if len(idx) > MAX_BACKGROUND_FRAMES:
        idx = idx[np.linspace(0, len(idx) - 1, MAX_BACKGROUND_FRAMES).round().astype(int)]
    return np.median(frames[idx], axis=0).astype(np.float32)


def _pairs(n: int, labels: np.ndarray, ks: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(current, previous, changed) index pairs t, t−k for every k, evenly thinned to MAX_PAIRS_PER_K per k."""
    cur, prev = [], []
    for k in ks:
        t = np.arange(k, n)
        if len(t) > MAX_PAIRS_PER_K:
            t = t[np.linspace(0, len(t) - 1, MAX_PAIRS_PER_K).round().astype(int)]
        cur.append(t)
        prev.append(t - k)
    c, p = np.concatenate(cur), np.concatenate(prev)
    return c, p, labels[c] != labels[p]


def _batches(cur: np.ndarray, prev: np.ndarray, size: int = 2048) -> list[tuple[np.ndarray, np.ndarray]]:
    # Gather pairs in batches so fitting on a memory-mapped store never materialises all pairs at once.
    return [(cur[a : a + size], prev[a : a + size]) for a in range(0, len(cur), size)]


def _auc(scores: np.ndarray, targets: np.ndarray) -> float:
    if targets.all() or not targets.any():
        return float("nan")
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(targets, scores))
