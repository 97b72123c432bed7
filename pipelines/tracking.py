"""MLflow tracking for the pipeline, as the Dagster resource the assets use: where the store is, and one method
per thing an asset records. Each method hands its work to the module whose one job it is:

- ``pipelines.mlflow_client``: the client per store and the limits MLflow imposes on values;
- ``pipelines.mlflow_runs``: the experiment (opened on the classic view), parent and child runs, params;
- ``pipelines.mlflow_training``: the variants' and difference detectors' child runs;
- ``pipelines.mlflow_cascade``: the chosen cascade and the answered queries (headline metrics, decision);
- ``pipelines.mlflow_registry``: the registered versions, their pyfunc model and the ``champion`` alias;
- ``pipelines.mlflow_text``: what MLflow shows a person (descriptions, links).

CONTRACT: every method takes explicit run ids and talks to MLflow through an ``MlflowClient`` bound to
:meth:`MlflowTracker.uri`, never through the global active run, because the stages run in separate Dagster steps
(and processes). ``mlflow`` is imported lazily: it takes seconds to import and the code location must load fast.

Run layout (experiment ``noscope``)::

    train <camera>            parent: the decision, a handful of headline metrics, cascade.json, the frontier,
    ├── variant <model>       the logged pyfunc model "cascade"
    ├── difference <dd>       each stage's figures and fitted files
    ├── query test            every figure of the test-segment answer
    └── query footage <file>  every figure of a footage file's answer
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from pipelines import mlflow_cascade, mlflow_duel, mlflow_registry, mlflow_runs, mlflow_training
from pipelines.champion import MODEL_PREFIX, CascadeSummary, Registration
from pipelines.mlflow_client import client_for, sqlite_path
from pipelines.mlflow_text import RUN_DESCRIPTION_TAG, CascadeFigures, run_description, run_url

if TYPE_CHECKING:
    from noscope_core.optimizer.cascade_artifact import CascadeArtifact

REPO_ROOT = Path(__file__).resolve().parents[1]


class MlflowTracker(dg.ConfigurableResource):
    """SQLite tracking store + artifact folder under ``root`` by default; ``MLFLOW_TRACKING_URI`` overrides.

    ``enabled=False`` turns every method into a no-op (``start_training`` returns ``""``, ``logger_factory``
    returns ``None``, ``register_cascade`` returns version 0), so the pipeline runs without MLflow.
    """

    root: str = ""  # default: $NOSCOPE_MLFLOW_ROOT, $NOSCOPE_MLFLOW, else <repo>/.noscope/mlflow
    tracking_uri: str | None = None
    experiment: str = "noscope"
    enabled: bool = True

    def resolved_root(self) -> Path:
        root = self.root or os.environ.get("NOSCOPE_MLFLOW_ROOT") or os.environ.get("NOSCOPE_MLFLOW")
        return Path(root or REPO_ROOT / ".noscope" / "mlflow").expanduser().resolve()

    def uri(self, create_dirs: bool = True) -> str:
        """MLFLOW_TRACKING_URI if set, else ``tracking_uri``, else ``sqlite:///<root>/mlflow.db``.

        ``create_dirs`` creates the SQLite file's folder (readers such as ``noscope compare`` pass False).
        """
        uri = (
            os.environ.get("MLFLOW_TRACKING_URI")
            or self.tracking_uri
            or f"sqlite:///{self.resolved_root() / 'mlflow.db'}"
        )
        db = sqlite_path(uri)
        if create_dirs and db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
        return uri

    def artifact_location(self) -> str | None:
        """``<folder of the SQLite file>/artifacts`` for a SQLite store; None (the server decides) otherwise."""
        db = sqlite_path(self.uri())
        return (db.parent / "artifacts").as_uri() if db is not None else None

    def client(self):
        """An ``MlflowClient`` bound to :meth:`uri` (tracking and registry)."""
        return client_for(self.uri())

    def experiment_id(self) -> str:
        """The experiment's id, creating it on first use (with the settings that open it on the classic view)."""
        return mlflow_runs.ensure_experiment(self.client(), self.experiment, self.artifact_location())

    def _on(self, run_id: str | None) -> bool:
        return self.enabled and bool(run_id)

    def start_training(self, camera_id: str, query: dict, tags: dict[str, str]) -> str:
        """The parent run of one training of ``camera_id`` (left open); see ``mlflow_runs.start_training_run``."""
        if not self.enabled:
            return ""
        return mlflow_runs.start_training_run(self.client(), self.experiment_id(), camera_id, query, tags)

    def logger_factory(self, parent_run_id: str) -> Callable[[Any], Any] | None:
        """For ``train_models``: spec -> Lightning ``MLFlowLogger`` on the variant's one child run; None when off."""
        if not self._on(parent_run_id):
            return None
        return mlflow_training.variant_logger_factory(self.client(), self.uri(), self.experiment, parent_run_id)

    def log_variants(self, parent_run_id: str, results: Sequence[Any], fps_by_model: dict[str, float]) -> None:
        if self._on(parent_run_id):
            mlflow_training.log_variants(self.client(), parent_run_id, results, fps_by_model)

    def log_difference(self, parent_run_id: str, detectors: Sequence[Any], costs_ms: dict[str, float]) -> None:
        if self._on(parent_run_id):
            mlflow_training.log_difference(self.client(), parent_run_id, detectors, costs_ms)

    def log_cascade(
        self,
        parent_run_id: str,
        artifact: CascadeArtifact,
        frontier_png: Path | None,
        reference_timing: str | None = None,
    ) -> None:
        if self._on(parent_run_id):
            mlflow_cascade.log_cascade(self.client(), parent_run_id, artifact, frontier_png, reference_timing)

    def log_query(self, parent_run_id: str, result: dict, name: str = "test") -> None:
        if self._on(parent_run_id):
            mlflow_cascade.log_query(self.client(), parent_run_id, result, name)

    def register_cascade(
        self,
        parent_run_id: str,
        camera_id: str,
        cascade_json: Path,
        models_dir: Path | None,
        dd_dir: Path | None,
        reference_spec: str,
        force: bool = False,
        reference_fps: float | None = None,
        frame_size: tuple[int, int] | None = None,
        decide: bool = True,
    ) -> Registration:
        """See ``mlflow_registry.register_cascade``; version 0 when tracking is off."""
        if not self._on(parent_run_id):
            return Registration(MODEL_PREFIX + camera_id, 0, False, "tracking disabled")
        return mlflow_registry.register_cascade(
            self.client(), self.uri(), parent_run_id, camera_id, cascade_json, models_dir, dd_dir, reference_spec,
            force=force, reference_fps=reference_fps, frame_size=frame_size, decide=decide,
        )  # fmt: skip

    def decide_champion(
        self, registered: tuple[str, int], summary: CascadeSummary, figures: CascadeFigures, force: bool = False
    ) -> Registration:
        """See ``mlflow_registry.decide_champion``."""
        name, version = registered
        if not self.enabled or not version:
            return Registration(name, 0, False, "tracking disabled")
        return mlflow_registry.decide_champion(self.client(), registered, summary, figures, force=force)

    def record_duel(self, registered: tuple[str, int], duel: dict, champion_version: int | None) -> None:
        """See ``mlflow_duel.record_duel``: a nightly challenger's version says which won and why."""
        name, version = registered
        if self.enabled and version:
            mlflow_duel.record_duel(self.client(), name, version, duel, champion_version)

    def describe_tested(self, parent_run_id: str, figures: CascadeFigures, decision: str | None = None) -> None:
        """After the test query: the run's description (decision first) carries the test figures; the
        ``decision`` tag the line that includes them."""
        if not self._on(parent_run_id):
            return
        client = self.client()
        client.set_tag(parent_run_id, RUN_DESCRIPTION_TAG, run_description(figures, decision))
        if decision:
            client.set_tag(parent_run_id, mlflow_cascade.DECISION_TAG, decision)

    def log_figure(self, parent_run_id: str, path: Path, folder: str) -> None:
        """A picture (the results timeline) as an artifact of the training run."""
        if self._on(parent_run_id):
            self.client().log_artifact(parent_run_id, str(path), folder)

    def run_link(self, run_id: str, ui: str) -> str:
        """The run's page in the MLflow UI at ``ui``, on the classic training view."""
        return run_url(ui, self.client().get_run(run_id).info.experiment_id, run_id)

    def children(self, parent_run_id: str, kind: str, name: str | None = None) -> list:
        """Live child runs of one kind (and component), oldest first."""
        return mlflow_runs.find_children(self.client(), parent_run_id, kind, name)

    def create_child(self, parent_run_id: str, kind: str, name: str) -> str:
        return mlflow_runs.create_child(self.client(), parent_run_id, kind, name)

    def end(self, parent_run_id: str, status: str = "FINISHED") -> None:
        """Close the parent run (FINISHED, FAILED or KILLED)."""
        if self._on(parent_run_id):
            self.client().set_terminated(parent_run_id, status)
