"""MLflow tracking for the pipeline: one parent run per training of a camera, a child run per model variant
and difference detector, the frontier, and the registered cascade with its ``champion`` alias.

CONTRACT (the Dagster assets call exactly these methods; the bodies are implemented by the MLflow work):
every method takes explicit run ids, because the stages run in separate Dagster steps (and processes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg


@dataclass(frozen=True)
class Registration:
    model_name: str  # registered model name, e.g. "noscope-cascade-vtest"
    version: int
    champion_moved: bool
    reason: str  # why the alias moved or did not


class MlflowTracker(dg.ConfigurableResource):
    """SQLite tracking store + artifact folder under ``root`` by default; ``MLFLOW_TRACKING_URI`` overrides."""

    root: str = ""  # default: <artifact root>/mlflow, resolved at run time
    tracking_uri: str | None = None
    experiment: str = "noscope"

    def uri(self) -> str: ...

    def start_training(self, camera_id: str, query: dict, tags: dict[str, str]) -> str:
        """Create the parent run of one training of ``camera_id``; return its run id (the run is left open)."""
        ...

    def logger_factory(self, parent_run_id: str) -> Callable[[Any], Any]:
        """For ``noscope_core.specialized.train_models``: spec -> Lightning MLFlowLogger on a nested child run."""
        ...

    def log_variants(self, parent_run_id: str, results: Sequence[Any], fps_by_model: dict[str, float]) -> None:
        """One child run per TrainResult: architecture params, loss curves, val accuracy, frames/s, train time."""
        ...

    def log_difference(
        self, parent_run_id: str, detectors: Sequence[Any], metrics: dict[str, dict[str, float]]
    ) -> None: ...

    def log_cascade(self, parent_run_id: str, cascade_info: dict, frontier_png: Path | None) -> None:
        """Query, targets, split, reference cost, the chosen cascade, threshold-segment FNR/FPR/speed-up, frontier table + plot."""
        ...

    def log_query(self, parent_run_id: str, result: dict, prefix: str = "test") -> None:
        """Measured FNR/FPR/speed-up of the cascade on the test segment (or new footage)."""
        ...

    def register_cascade(
        self,
        parent_run_id: str,
        camera_id: str,
        cascade_json: Path,
        models_dir: Path | None,
        dd_dir: Path | None,
        reference_spec: str,
        force: bool = False,
    ) -> Registration: ...

    def end(self, parent_run_id: str, status: str = "FINISHED") -> None: ...
