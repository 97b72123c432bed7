"""The registered NoScope cascade as an MLflow pyfunc model: a video (or frames) in, per-frame labels out.

Logged "from code" (``python_model=<this file>``): MLflow copies this file into the model and runs it on load,
so no pickled class ties a model version to the code of the day. It needs only MLflow and the installed
``noscope_core`` engine (not Dagster). Artifacts: ``cascade`` (cascade.json), ``models`` and ``difference``
(the chosen model's .pt and DD's .npz, when the cascade uses them); ``model_config`` holds the reference
detector's spec (``reference_spec``, ``reference_fps``, ``frame_size``) and may name the ``reader`` that built the
models' frame store ("pyav" or "opencv"; without it videos are read as ``auto`` reads them, PyAV where it can).

Videos and frame arrays both reach the cheap models through that reader's shrink (``Cascade.run_video``,
``readers.shrink_decoded``), so the registered model sees the pixels its models were trained on.

Usage, wherever the project is installed::

    model = mlflow.pyfunc.load_model("models:/noscope-cascade-vtest@champion")
    model.predict("/path/video.avi")                                  # DataFrame: video, frame, label
    model.predict(pd.DataFrame({"video": [path], "start": [0], "stop": [500]}))
    model.predict(frames)                                              # (N, H, W, 3) uint8 BGR: frame, label
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import mlflow.models
import mlflow.pyfunc
import pandas as pd

#: distributions the model needs at run time (besides the noscope project itself), pinned to this environment
RUNTIME_PACKAGES = (
    "mlflow",
    "numpy",
    "pandas",
    "torch",
    "pytorch-lightning",
    "scikit-learn",
    "opencv-python-headless",
    "onnxruntime",  # optional: the specialized models run on it when present, else on torch
    "pyarrow",
)


def pip_requirements() -> list[str]:
    """Explicit requirements (MLflow would otherwise spend ~10 s inferring them by loading the model)."""
    reqs = []
    for dist in RUNTIME_PACKAGES:
        try:
            reqs.append(f"{dist}=={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return reqs


class NoScopeCascadeModel(mlflow.pyfunc.PythonModel):
    """Rebuilds the cascade with ``stages.load_cascade`` and answers "which frames contain the object"."""

    def load_context(self, context) -> None:
        from noscope_core.optimizer import cascade_artifact
        from noscope_core.optimizer.cascade_artifact import CascadeArtifact
        from noscope_core.reference.detectors import make_detector

        config = dict(context.model_config or {})
        spec = config.get("reference_spec")
        if not spec:
            from noscope_core.common.errors import ArtifactError

            raise ArtifactError("the model has no reference_spec in its model_config", "register it again")
        artifacts = context.artifacts
        self.info = CascadeArtifact.load(artifacts["cascade"])
        self.reference_spec = str(spec)
        self.reference_fps = config.get("reference_fps")
        self.reader = config.get("reader")
        frame_size = config.get("frame_size")
        detector = make_detector(
            self.reference_spec,
            reference_fps=self.reference_fps,
            frame_size=tuple(frame_size) if frame_size else None,
        )
        # load_cascade refuses a reference other than the one the cascade was optimized with, and stale files
        self.cascade = cascade_artifact.load_cascade(
            self.info, detector, artifacts.get("models"), artifacts.get("difference")
        )

    # The hint is a DataFrame because MLflow neither infers a schema from nor validates that type: the input
    # reaches predict untouched, whichever of the accepted forms it is.
    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Per-frame labels: ``video, frame, label`` for videos, ``frame, label`` for a frames array.

        Accepts a video path (str or Path), a list of paths, a DataFrame with a ``video`` column and optional
        ``start`` / ``stop`` columns (frame numbers, stop exclusive), or a (N, H, W, 3) uint8 BGR array of
        full-resolution frames (frame numbers 0..N-1).
        """
        import numpy as np

        from noscope_core.common.errors import QueryError

        if isinstance(model_input, np.ndarray):
            return self._predict_frames(model_input)
        if isinstance(model_input, str | Path):
            model_input = pd.DataFrame({"video": [str(model_input)]})
        elif isinstance(model_input, list) and all(isinstance(v, str | Path) for v in model_input):
            model_input = pd.DataFrame({"video": [str(v) for v in model_input]})
        elif isinstance(model_input, dict) and "video" in model_input:
            model_input = pd.DataFrame({k: [v] if not isinstance(v, list) else v for k, v in model_input.items()})
        if not isinstance(model_input, pd.DataFrame) or "video" not in model_input.columns:
            raise QueryError(
                f"cannot read {type(model_input).__name__} as cascade input",
                "pass a video path, a DataFrame with a 'video' column, or a (N, H, W, 3) uint8 frame array",
            )
        parts = []
        for row in model_input.to_dict("records"):
            start = _frame_number(row.get("start"), 0)
            stop = _frame_number(row.get("stop"), None)
            run = self._cascade_for(str(row["video"])).run_video(
                str(row["video"]), start=start, stop=stop, reader=self.reader or "auto"
            )
            parts.append(pd.DataFrame({"video": str(row["video"]), "frame": run.frame_index, "label": run.labels}))
        if not parts:
            return pd.DataFrame({"video": [], "frame": np.zeros(0, np.int64), "label": np.zeros(0, bool)})
        return pd.concat(parts, ignore_index=True)

    def _cascade_for(self, video: str):
        """The cascade, with a synthetic reference re-bound to ``video``'s own ground truth.

        A synthetic reference is the exact truth of one synthetic video (its identity is that video's), so on
        another synthetic video the same cheap stages defer to that video's truth; real references are unchanged.
        """
        from noscope_core.cascade.execute import Cascade
        from noscope_core.reference.detectors import make_detector

        kind, sep, bound = self.reference_spec.partition(":")
        if kind.strip().lower() != "synthetic" or (sep and Path(bound).expanduser().resolve() == Path(video).resolve()):
            return self.cascade
        c = self.cascade
        reference = make_detector(f"synthetic:{video}", reference_fps=self.reference_fps)
        return Cascade(c.config, reference, c.query, c.view, dd=c.dd, model=c.model)

    def _predict_frames(self, frames):
        import numpy as np

        from noscope_core.common.errors import VideoError
        from noscope_core.video.readers import shrink_decoded

        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise VideoError(
                f"frames array has shape {frames.shape} and dtype {frames.dtype}",
                "pass full-resolution BGR frames as a (N, H, W, 3) uint8 array",
            )
        small = shrink_decoded(list(frames), self.cascade.view, reader=self.reader or "pyav")
        index = np.arange(len(frames), dtype=np.int64)
        run = self.cascade.run_frames(small, index, fetch_full=lambda ii: [frames[int(i)] for i in ii])
        return pd.DataFrame({"frame": run.frame_index, "label": run.labels})


def _frame_number(value: Any, default: int | None) -> int | None:
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return default
    return int(value)


mlflow.models.set_model(NoScopeCascadeModel())
