"""MLflow tracking for the pipeline: one parent run per training of a camera, a child run per model variant
and difference detector, the frontier, and the registered cascade with its ``champion`` alias.

CONTRACT (the Dagster assets call exactly these methods): every method takes explicit run ids and talks to
MLflow through an ``MlflowClient`` bound to :meth:`MlflowTracker.uri`, never through the global active run,
because the stages run in separate Dagster steps (and processes). ``mlflow`` is imported lazily: it takes
seconds to import and the code location must load fast.

Run layout (experiment ``noscope``)::

    train <camera>                       parent: query, targets, split, reference cost, chosen cascade,
    ├── variant <model name>             threshold-segment FNR/FPR/speed-up, frontier (JSON, markdown, PNG),
    ├── variant <model name>             test-segment metrics, the logged pyfunc model "cascade"
    └── difference <dd name>

Children carry the tag ``mlflow.parentRunId`` (the UI nests them) and ``kind`` / ``component``, by which
:meth:`MlflowTracker.log_variants` finds the child that :meth:`MlflowTracker.logger_factory` created during
training, so each variant has exactly one child run.

The ``champion`` alias moves to a registered version when it answers the camera's current question within the
camera's error targets at no higher expected cost than the champion (the policy: ``pipelines.champion``; the
MLflow client and its limits: ``pipelines.mlflow_client``). The pipeline registers the version when it optimizes
(``register_cascade(..., decide=False)``) and decides after the test query (``decide_champion``), so the decision
answers to the test error and the certified bound, and the version carries both.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from noscope_core.common.errors import ArtifactError
from noscope_core.common.paths import safe_name
from pipelines.champion import CHAMPION, MODEL_PREFIX, CascadeSummary, Registration, champion_decision
from pipelines.mlflow_client import (
    _client,
    _finish,
    _finite,
    _json_default,
    _log_batch,
    _now_ms,
    _param_value,
    _quiet_model_logging,
    _quote,
    _sqlite_path,
    _tag_values,
    _use_tracking_uri,
)
from pipelines.mlflow_text import (
    RUN_DESCRIPTION_TAG,
    CascadeFigures,
    classic_view_tags,
    run_description,
    run_url,
    version_description,
)

if TYPE_CHECKING:  # the engine's artifact types load torch: imported where a cascade is actually read
    from noscope_core.optimizer.cascade_artifact import CascadeArtifact

REPO_ROOT = Path(__file__).resolve().parents[1]
PENDING_REASON = "taken after the query on the test segment measures the test error"
MODEL_ARTIFACT = "cascade"  # name of the logged pyfunc model inside the parent run
#: tags copied from a parent run to its children, so child runs can be filtered alone in the UI
_INHERITED_TAGS = ("camera", "query", "query_key", "partition", "dagster_run_id", "reference")


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
        db = _sqlite_path(uri)
        if create_dirs and db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
        return uri

    def artifact_location(self) -> str | None:
        """``<folder of the SQLite file>/artifacts`` for a SQLite store; None (the server decides) otherwise."""
        db = _sqlite_path(self.uri())
        return (db.parent / "artifacts").as_uri() if db is not None else None

    def client(self):
        """An ``MlflowClient`` bound to :meth:`uri` (tracking and registry)."""
        return _client(self.uri())

    def experiment_id(self) -> str:
        """The experiment's id, creating it (with its artifact location) on first use."""
        from mlflow.exceptions import MlflowException

        client = self.client()
        exp = client.get_experiment_by_name(self.experiment)
        if exp is not None and exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp.experiment_id)
        if exp is not None:
            for key, value in classic_view_tags().items():  # an experiment made before the tag existed
                if exp.tags.get(key) != value:
                    client.set_experiment_tag(exp.experiment_id, key, value)
            return exp.experiment_id
        try:
            return client.create_experiment(
                self.experiment, artifact_location=self.artifact_location(), tags=classic_view_tags()
            )
        except MlflowException:  # another step created it in the meantime
            exp = client.get_experiment_by_name(self.experiment)
            if exp is None:
                raise
            return exp.experiment_id

    def start_training(self, camera_id: str, query: dict, tags: dict[str, str]) -> str:
        """Create the parent run of one training of ``camera_id``; return its run id (the run is left open).

        ``query`` is a ``Query.to_dict()`` or a ``CameraSpec.to_dict()`` (which adds targets, split and the
        reference spec). ``tags`` may carry ``partition``, ``dagster_run_id`` and ``reference``; every entry
        becomes a run tag.
        """
        if not self.enabled:
            return ""
        from noscope_core.spec.query import Query

        safe_name(camera_id, "camera id")
        camera = query if isinstance(query.get("query"), dict) else {}
        q = Query.from_dict(camera["query"] if camera else query)
        run_tags = {
            "mlflow.runName": f"train {camera_id} {time.strftime('%Y-%m-%d %H:%M:%S')}",
            "kind": "training",
            "camera": camera_id,
            "query": q.describe(),
            "query_key": q.key(),
            "partition": str(tags.get("partition") or camera_id),
            "reference": str(tags.get("reference") or camera.get("reference") or ""),
            **{str(k): str(v) for k, v in tags.items() if v is not None},
        }
        run = self.client().create_run(self.experiment_id(), tags=_tag_values(run_tags))
        params = {f"query.{k}": v for k, v in q.to_dict().items()}
        params.update({f"camera.{k}": v for k, v in camera.items() if k not in ("query", "camera_id")})
        self._log_params(run.info.run_id, params)
        return run.info.run_id

    def logger_factory(self, parent_run_id: str) -> Callable[[Any], Any] | None:
        """For ``noscope_core.models.specialized.train_models``: spec -> Lightning ``MLFlowLogger`` on a fresh child run.

        The child is the variant's one child run: :meth:`log_variants` later finds it by its tags and fills it.
        A second call for the same variant under the same parent (a retried step) deletes the stale child first.
        Returns None when tracking is disabled.
        """
        if not self.enabled or not parent_run_id:
            return None
        tracker = self

        def make_logger(spec: Any):
            from pytorch_lightning.loggers import MLFlowLogger

            name = _name_of(spec)
            for stale in tracker._children(parent_run_id, "variant", name):
                tracker.client().delete_run(stale.info.run_id)
            run_id = tracker._create_child(parent_run_id, "variant", name)
            # tracking_uri must be explicit: the logger's default is a ./mlruns file store MLflow >= 3.13 refuses
            return MLFlowLogger(experiment_name=tracker.experiment, tracking_uri=tracker.uri(), run_id=run_id)

        return make_logger

    def log_variants(self, parent_run_id: str, results: Sequence[Any], fps_by_model: dict[str, float]) -> None:
        """One child run per TrainResult: architecture params, loss curves, val accuracy, frames/s, train time,
        and the state dict + JSON config as artifacts."""
        if not self.enabled or not parent_run_id:
            return
        from mlflow.entities import Metric

        client = self.client()
        for r in results:
            model = r.model
            name = model.name
            existing = self._children(parent_run_id, "variant", name)
            run_id = existing[0].info.run_id if existing else self._create_child(parent_run_id, "variant", name)
            spec = _as_dict(getattr(model, "spec", None))
            self._log_params(run_id, spec, skip_existing=True)
            now = _now_ms()
            metrics = {
                "final_val_accuracy": getattr(r, "val_accuracy", None),
                "final_val_loss": getattr(r, "val_loss", None),
                "train_seconds": getattr(r, "train_seconds", None),
                "epochs": getattr(r, "epochs", None),
                "frames_per_second": fps_by_model.get(name),
                "cost_ms": 1000.0 / fps_by_model[name] if fps_by_model.get(name) else None,
            }
            info = getattr(model, "info", None) or {}
            metrics.update({k: info.get(k) for k in ("best_epoch", "pos_weight", "train_frames")})
            if hasattr(getattr(model, "spec", None), "approx_mflops"):
                metrics["approx_mflops"] = model.spec.approx_mflops()
            batch = [Metric(k, float(v), now, 0) for k, v in metrics.items() if _finite(v)]
            # Curves Lightning already logged into this run are not logged twice.
            have = set(client.get_run(run_id).data.metrics)
            for key, points in _curves(getattr(r, "history", None)).items():
                if key not in have:
                    batch += [Metric(key, float(v), now, int(step)) for step, v in points if _finite(v)]
            _log_batch(client, run_id, metrics=batch)
            with tempfile.TemporaryDirectory() as tmp:
                tmp_path = Path(tmp)
                if hasattr(model, "save"):
                    model.save(tmp_path / f"{name}.pt")
                config = {
                    "name": name,
                    "spec": spec,
                    **{k: v for k, v in metrics.items() if v is not None},
                    "info": info,
                    "history": getattr(r, "history", None),
                }
                (tmp_path / "config.json").write_text(json.dumps(config, indent=2, default=_json_default))
                client.log_artifacts(run_id, tmp, "model")
            _finish(client, run_id)

    def log_difference(
        self, parent_run_id: str, detectors: Sequence[Any], metrics: dict[str, dict[str, float]]
    ) -> None:
        """One child run per difference detector: its spec as params, ``metrics[name]``, the fitted detector."""
        if not self.enabled or not parent_run_id:
            return
        from mlflow.entities import Metric

        client = self.client()
        for dd in detectors:
            name = _name_of(dd.spec)
            for stale in self._children(parent_run_id, "difference", name):
                client.delete_run(stale.info.run_id)
            run_id = self._create_child(parent_run_id, "difference", name)
            self._log_params(run_id, _as_dict(dd.spec))
            now = _now_ms()
            values = metrics.get(name, {})
            _log_batch(client, run_id, metrics=[Metric(k, float(v), now, 0) for k, v in values.items() if _finite(v)])
            if hasattr(dd, "save"):
                with tempfile.TemporaryDirectory() as tmp:
                    dd.save(Path(tmp) / f"{name}.npz")
                    client.log_artifacts(run_id, tmp, "detector")
            _finish(client, run_id)

    def log_cascade(self, parent_run_id: str, artifact: CascadeArtifact, frontier_png: Path | None) -> None:
        """Query, targets, split, reference cost, the chosen cascade, threshold-segment FNR/FPR/speed-up, frontier
        table (JSON + markdown) + plot (drawn here when ``frontier_png`` is None).

        The choice goes into metrics and tags (not params, which MLflow never lets change), so re-optimizing
        under the same parent run overwrites it instead of failing.
        """
        if not self.enabled or not parent_run_id:
            return
        from mlflow.entities import Metric

        from noscope_core.present import frontier as report

        client = self.client()
        art, cascade_info = artifact, artifact.to_dict()
        best, targets, costs = art.best, art.targets, art.costs
        ref_ms = costs.reference_ms
        frontier = [c.to_dict() for c in art.frontier]
        config = best.config.to_dict()
        now = _now_ms()
        values = {
            "threshold_fnr": best.fnr,
            "threshold_fpr": best.fpr,
            "threshold_fnr_bound": best.fnr_bound,
            "threshold_fpr_bound": best.fpr_bound,
            "confidence": targets.confidence,
            "threshold_speedup": best.speedup,
            "threshold_reference_fraction": best.reference_fraction,
            "expected_cost_ms": best.cost_ms,
            "reference_ms": ref_ms,
            "reference_fps": 1000.0 / ref_ms if ref_ms > 0 else None,
            "target_max_fnr": targets.max_fnr,
            "target_max_fpr": targets.max_fpr,
            "frontier_size": len(frontier),
            "n_evaluated": art.n_evaluated,
            "optimize_seconds": art.optimize_seconds,
            "fell_back": 1.0 if art.fell_back else 0.0,
        }
        values.update({f"model_ms.{k}": v for k, v in costs.model_ms.items()})
        values.update({f"dd_ms.{k}": v for k, v in costs.dd_ms.items()})
        tags = {
            "cascade": best.describe(),
            "cascade.config": json.dumps(config, sort_keys=True),
            **{f"cascade.{k}": "" if v is None else v for k, v in config.items() if k != "view"},
            "fell_back": str(art.fell_back).lower(),
            "fallback_reason": art.reason or "",
            "reference": art.reference_name,
            "reference_identity": art.reference_identity,
            "skips": ",".join(str(s) for s in art.skips),
        }
        from mlflow.entities import RunTag

        _log_batch(
            client,
            parent_run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in values.items() if _finite(v)],
            tags=[RunTag(k, v) for k, v in _tag_values(tags).items()],
        )
        self._log_params(
            parent_run_id,
            {"targets.max_fnr": targets.max_fnr, "targets.max_fpr": targets.max_fpr},
            skip_existing=True,
        )
        camera_id = client.get_run(parent_run_id).data.tags.get("camera", "")
        description = run_description(CascadeFigures.from_cascade(camera_id, cascade_info))
        client.set_tag(parent_run_id, RUN_DESCRIPTION_TAG, description)
        client.log_dict(parent_run_id, cascade_info, "cascade.json")
        if frontier:
            client.log_dict(parent_run_id, {"frontier": frontier}, "frontier/frontier.json")
            client.log_text(
                parent_run_id, report.frontier_table_md(frontier, limit=len(frontier)), "frontier/frontier.md"
            )
            if frontier_png is not None and Path(frontier_png).is_file():
                client.log_artifact(parent_run_id, str(frontier_png), "frontier")
            else:
                with tempfile.TemporaryDirectory() as tmp:
                    png = report.frontier_plot(
                        frontier, Path(tmp) / "frontier.png", values["reference_fps"], best.to_dict()
                    )
                    client.log_artifact(parent_run_id, str(png), "frontier")

    def log_query(self, parent_run_id: str, result: dict, prefix: str = "test") -> None:
        """Measured FNR/FPR/speed-up of the cascade on the test segment (or new footage, with another prefix).

        ``result`` is a ``QueryResult.to_dict()``; the whole result (less the frontier) is kept as an artifact.
        Calling it again with the same prefix appends to each metric's history; the UI shows the latest.
        """
        if not self.enabled or not parent_run_id:
            return
        from mlflow.entities import Metric

        client = self.client()
        keys = {
            "fnr": result.get("fnr"),
            "fpr": result.get("fpr"),
            "speedup": result.get("speedup"),
            "speedup_e2e": result.get("speedup_e2e"),
            "reference_call_fraction": result.get("reference_call_fraction"),
            "cascade_fps": result.get("cascade_fps"),
            "cascade_fps_e2e": result.get("cascade_fps_e2e"),
            "frames": result.get("frames_test"),
            "positive_frames": result.get("positive_frames"),
            "intervals": len(result["intervals"]) if result.get("intervals") is not None else None,
            # the promise: the optimizer's bounds (threshold segment) and the answer's certified bounds
            "threshold_fnr_bound": result.get("threshold_fnr_bound"),
            "threshold_fpr_bound": result.get("threshold_fpr_bound"),
            "fnr_bound": result.get("fnr_bound"),
            "fpr_bound": result.get("fpr_bound"),
            "certified": None if result.get("certified") is None else float(bool(result.get("certified"))),
            "certify_frames": result.get("certify_frames"),
        }
        now = _now_ms()
        _log_batch(
            client,
            parent_run_id,
            metrics=[Metric(f"{prefix}_{k}", float(v), now, 0) for k, v in keys.items() if _finite(v)],
        )
        slim = {k: v for k, v in result.items() if k != "frontier"}
        client.log_dict(parent_run_id, slim, f"query/{re.sub(r'[^A-Za-z0-9_.-]', '_', prefix)}.json")

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
        """Log the cascade as a pyfunc model in the parent run, register it as ``noscope-cascade-<camera_id>``
        and move the ``champion`` alias when :func:`champion_decision` says so (reason kept as a version tag).

        ``decide=False`` registers the version and leaves the decision to :meth:`decide_champion` after the test
        query (what the pipeline does); the version's tag ``champion_moved`` is then ``pending``.

        Only the pieces the cascade uses are packed (cascade.json, its model's .pt, its DD's .npz), so the
        registered model loads with ``mlflow.pyfunc.load_model("models:/noscope-cascade-<camera>@champion")``
        wherever this project is installed. ``reference_fps`` (the declared reference speed) and ``frame_size``
        ((W, H) of the camera) are what ``make_detector`` was given: the model rebuilds the reference with them,
        and a precomputed-detections reference in pixels needs ``frame_size`` to keep its identity.
        """
        name = MODEL_PREFIX + safe_name(camera_id, "camera id")
        if not self.enabled or not parent_run_id:
            return Registration(name, 0, False, "tracking disabled")
        from mlflow.exceptions import MlflowException

        from noscope_core.optimizer.cascade_artifact import CascadeArtifact

        art = CascadeArtifact.load(cascade_json)
        summary = CascadeSummary.from_cascade(art)
        client = self.client()
        champion = None
        try:
            current = client.get_model_version_by_alias(name, CHAMPION)
            champion = CascadeSummary.from_tags(current.tags)
        except MlflowException:
            current = None  # no registered model or no champion yet
        if decide:
            moved, reason = champion_decision(summary, champion, force=force)
            if current is not None and champion is None and not force:
                moved, reason = True, "the champion's tags are unreadable (not registered by noscope)"
        else:
            moved, reason = False, PENDING_REASON

        with tempfile.TemporaryDirectory() as tmp:
            artifacts = _stage_artifacts(art, Path(cascade_json), models_dir, dd_dir, Path(tmp))
            # MLflow also logs model_config as params of the run: unset entries are left out, not logged as "None"
            model_config = {
                k: v
                for k, v in {
                    "camera_id": camera_id,
                    "reference_spec": reference_spec,
                    "reference_fps": reference_fps,
                    "frame_size": list(frame_size) if frame_size else None,
                }.items()
                if v is not None
            }
            model_info = self._log_pyfunc(parent_run_id, camera_id, artifacts, model_config)
        best = art.best
        tags = {
            "camera": camera_id,
            "query": art.query.describe(),
            "query_key": summary.query_key,
            "reference": art.reference_name,
            "reference_identity": summary.reference_identity,
            "reference_spec": reference_spec,
            "threshold_fnr": repr(summary.fnr),
            "threshold_fpr": repr(summary.fpr),
            "threshold_fnr_bound": repr(summary.fnr_bound),
            "threshold_fpr_bound": repr(summary.fpr_bound),
            "confidence": repr(art.targets.confidence),
            "threshold_speedup": repr(float(best.speedup)),
            "threshold_reference_fraction": repr(float(best.reference_fraction)),
            "expected_cost_ms": repr(summary.cost_ms),
            "reference_ms": repr(float(art.costs.reference_ms)),
            "max_fnr": repr(summary.max_fnr),
            "max_fpr": repr(summary.max_fpr),
            "fell_back": str(art.fell_back).lower(),
            "cascade": best.describe(),
            "parent_run_id": parent_run_id,
            "champion_decision": reason,
            "champion_moved": str(moved).lower() if decide else "pending",
            **(summary.shares.to_tags() if summary.shares is not None else {}),
        }
        with contextlib.suppress(MlflowException):
            client.create_registered_model(
                name, description=f"NoScope cascade of camera {camera_id}: {art.query.describe()}"
            )
        figures = CascadeFigures.from_cascade(camera_id, art.to_dict())
        champion_version = None if current is None else int(current.version)
        version = client.create_model_version(
            name,
            # the storage location itself: a models:/ source makes the SQLite registry look the logged model up
            # through the global tracking URI, not this client's
            source=client.get_logged_model(model_info.model_id).artifact_location,
            run_id=parent_run_id,
            tags=_tag_values({**tags, "model_id": model_info.model_id}),
            model_id=model_info.model_id,
            description=version_description(figures, moved if decide else None, reason, champion_version),
        )
        # the SQLite registry does not keep model_id: this tag is what links the logged model to it in the UI
        client.set_logged_model_tags(
            model_info.model_id, {"mlflow.modelVersions": json.dumps([{"name": name, "version": version.version}])}
        )
        if moved:
            client.set_registered_model_alias(name, CHAMPION, version.version)
        client.set_tag(parent_run_id, "registered_version", f"{name}/{version.version}")
        return Registration(name, int(version.version), moved, reason)

    def describe_tested(self, parent_run_id: str, figures: CascadeFigures) -> None:
        """After the test query: the run's description carries the test error next to the threshold figures."""
        if not self.enabled or not parent_run_id:
            return
        self.client().set_tag(parent_run_id, RUN_DESCRIPTION_TAG, run_description(figures))

    def decide_champion(
        self,
        registered: tuple[str, int],
        summary: CascadeSummary,
        figures: CascadeFigures,
        force: bool = False,
    ) -> Registration:
        """The champion decision for a version registered with ``decide=False``, taken once the test query ran:
        ``summary`` carries the version's held-out answer (``CascadeSummary.with_held_out``), so the rule answers
        to the measured and certified test error. Moves the alias when the rule says so and writes the test
        figures and the decision to the version's tags and description. Taken once: a version already decided
        keeps its decision (and returns it) unless ``force``."""
        name, version = registered
        if not self.enabled or not version:
            return Registration(name, 0, False, "tracking disabled")
        from mlflow.exceptions import MlflowException

        client = self.client()
        own = client.get_model_version(name, str(version)).tags
        if own.get("champion_moved") in ("true", "false") and not force:
            # decided by an earlier query of this version (the query re-ran, e.g. for new footage): it stands
            return Registration(name, int(version), own["champion_moved"] == "true", own.get("champion_decision", ""))
        champion, champion_version = None, None
        with contextlib.suppress(MlflowException):
            current = client.get_model_version_by_alias(name, CHAMPION)
            champion_version = int(current.version)
            champion = CascadeSummary.from_tags(current.tags)
        if champion_version == int(version):
            champion, champion_version = None, None  # the alias was put on it by hand: judged on its own
        moved, reason = champion_decision(summary, champion, force=force)
        if champion_version is not None and champion is None and not force and moved:
            reason = "the champion's tags are unreadable (not registered by noscope); " + reason
        tags = {
            **(summary.held_out.to_tags() if summary.held_out is not None else {}),
            "test_speedup": repr(figures.test_speedup),
            "meets_targets_on_test": str(figures.meets_on_test()).lower(),
            "champion_decision": reason,
            "champion_moved": str(moved).lower(),
        }
        for key, value in tags.items():
            client.set_model_version_tag(name, str(version), key, value)
        if moved:
            client.set_registered_model_alias(name, CHAMPION, str(version))
        client.update_model_version(
            name, str(version), description=version_description(figures, moved, reason, champion_version)
        )
        return Registration(name, int(version), moved, reason)

    def log_figure(self, parent_run_id: str, path: Path, folder: str) -> None:
        """A picture (the results timeline) as an artifact of the training run."""
        if not self.enabled or not parent_run_id:
            return
        self.client().log_artifact(parent_run_id, str(path), folder)

    def run_link(self, run_id: str, ui: str) -> str:
        """The run's page in the MLflow UI at ``ui``, on the classic training view."""
        return run_url(ui, self.client().get_run(run_id).info.experiment_id, run_id)

    def end(self, parent_run_id: str, status: str = "FINISHED") -> None:
        """Close the parent run (FINISHED, FAILED or KILLED)."""
        if not self.enabled or not parent_run_id:
            return
        self.client().set_terminated(parent_run_id, status)

    def _create_child(self, parent_run_id: str, kind: str, name: str) -> str:
        client = self.client()
        parent = client.get_run(parent_run_id)
        tags = {k: parent.data.tags[k] for k in _INHERITED_TAGS if k in parent.data.tags}
        tags.update(
            {"mlflow.parentRunId": parent_run_id, "mlflow.runName": f"{kind} {name}", "kind": kind, "component": name}
        )
        return client.create_run(parent.info.experiment_id, tags=_tag_values(tags)).info.run_id

    def _children(self, parent_run_id: str, kind: str, name: str | None = None) -> list:
        """Live (not deleted) child runs of ``parent_run_id`` of one kind (and component name), oldest first."""
        client = self.client()
        parent = client.get_run(parent_run_id)
        flt = f"tags.mlflow.parentRunId = '{parent_run_id}' and tags.kind = '{kind}'"
        if name is not None:
            flt += f" and tags.component = '{_quote(name)}'"
        return list(
            client.search_runs(
                [parent.info.experiment_id], flt, max_results=1000, order_by=["attributes.start_time ASC"]
            )
        )

    def _log_params(self, run_id: str, params: Mapping[str, Any], skip_existing: bool = False) -> None:
        from mlflow.entities import Param

        if skip_existing:
            have = self.client().get_run(run_id).data.params
            params = {k: v for k, v in params.items() if k not in have}
        items = [Param(str(k), _param_value(v)) for k, v in params.items()]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            _log_batch(self.client(), run_id, params=items[i : i + 100])

    def _log_pyfunc(self, parent_run_id: str, camera_id: str, artifacts: dict[str, str], model_config: dict):
        import mlflow

        from pipelines import cascade_model

        client = self.client()
        # Created here, in the parent's experiment: left to itself Model.log files the model under the active
        # experiment, which without a global active run is "Default" with artifacts in ./mlruns.
        logged = client.create_logged_model(
            experiment_id=client.get_run(parent_run_id).info.experiment_id,
            name=MODEL_ARTIFACT,
            source_run_id=parent_run_id,
            tags={"camera": camera_id},
            model_type="noscope-cascade",
        )
        with _use_tracking_uri(self.uri()), _quiet_model_logging():
            return mlflow.models.Model.log(
                artifact_path=None,  # positional in Model.log; ``name`` is its replacement
                name=MODEL_ARTIFACT,
                flavor=mlflow.pyfunc,
                run_id=parent_run_id,
                model_id=logged.model_id,
                # models from code: the loader runs this file, so no pickled class ties a version to today's code
                python_model=cascade_model.__file__,
                artifacts=artifacts,
                model_config=model_config,
                pip_requirements=cascade_model.pip_requirements(),
            )


def _stage_artifacts(
    art: CascadeArtifact, cascade_json: Path, models_dir: Path | None, dd_dir: Path | None, tmp: Path
) -> dict:
    """Copy what the chosen cascade uses into ``tmp``: its model and DD files, with a one-entry index each."""
    import shutil

    config = art.best.config
    artifacts = {"cascade": str(cascade_json)}
    for key, folder, fname, what in (
        ("models", models_dir, f"{config.model_name}.pt" if config.model_name else None, "model"),
        ("difference", dd_dir, f"{config.dd_name}.npz" if config.dd_name else None, "detector"),
    ):
        if fname is None:
            continue
        if folder is None or not (Path(folder) / fname).is_file():
            raise ArtifactError(
                f"the cascade uses the {what} {fname} but it is not in {folder}",
                "pass the models / difference folders the cascade was optimized with",
            )
        dest = tmp / key
        dest.mkdir()
        shutil.copy2(Path(folder) / fname, dest / fname)
        if (Path(folder) / "index.json").is_file():
            shutil.copy2(Path(folder) / "index.json", dest / "index.json")
        artifacts[key] = str(dest)
    return artifacts


def _name_of(spec: Any) -> str:
    name = getattr(spec, "name", None)
    if not name:
        raise ArtifactError(f"{type(spec).__name__} has no name", "model and detector specs need a .name")
    return str(name)


def _as_dict(obj: Any) -> dict:
    if obj is None:
        return {}
    if hasattr(obj, "to_dict"):
        return dict(obj.to_dict())
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    return dict(obj) if isinstance(obj, Mapping) else {}


def _curves(history: Any) -> dict[str, list[tuple[int, float]]]:
    """Per-epoch curves from a TrainResult history: a list of per-epoch dicts, or a dict of per-epoch lists."""
    curves: dict[str, list[tuple[int, float]]] = {}
    if isinstance(history, Mapping):
        for key, values in history.items():
            if key != "epoch" and isinstance(values, Sequence) and not isinstance(values, str):
                epochs = history.get("epoch")
                steps = epochs if isinstance(epochs, Sequence) and len(epochs) == len(values) else range(len(values))
                curves[str(key)] = [(int(s), v) for s, v in zip(steps, values, strict=False)]
    elif isinstance(history, Sequence):
        for i, row in enumerate(history):
            if isinstance(row, Mapping):
                step = int(row.get("epoch", i))
                for key, v in row.items():
                    if key != "epoch":
                        curves.setdefault(str(key), []).append((step, v))
    return curves
