"""Registered cascade versions: the cascade logged as a pyfunc model (with its signature), a version per
optimization of a camera, and the ``champion`` alias moved by ``pipelines.champion``'s policy.

The pipeline registers the version when it optimizes (``register_cascade(..., decide=False)``) and decides after
the test query (:func:`decide_champion`), so the decision answers to the test error and the certified bound,
and the version carries both. A version's tags are what the policy reads back (full precision, for the rule) plus
the decision in words; its description is the page a person reads.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from noscope_core.common.errors import ArtifactError
from noscope_core.common.paths import safe_name
from noscope_core.present import units
from noscope_core.present.decision import decision_line
from pipelines.champion import CHAMPION, MODEL_PREFIX, CascadeSummary, Registration, champion_decision
from pipelines.mlflow_client import quiet_model_logging, tag_values, use_tracking_uri
from pipelines.mlflow_text import CascadeFigures, version_description

if TYPE_CHECKING:
    from noscope_core.optimizer.cascade_artifact import CascadeArtifact

PENDING_REASON = "taken after the query on the test segment measures the test error"
MODEL_ARTIFACT = "cascade"  # name of the logged pyfunc model inside the parent run


def register_cascade(
    client,
    uri: str,
    parent_run_id: str,
    camera_id: str,
    cascade_json: Path,
    models_dir: Path | None,
    dd_dir: Path | None,
    reference_spec: str,
    *,
    force: bool = False,
    reference_fps: float | None = None,
    frame_size: tuple[int, int] | None = None,
    decide: bool = True,
) -> Registration:
    """Log the cascade as a pyfunc model in the parent run, register it as ``noscope-cascade-<camera_id>`` and
    move the ``champion`` alias when :func:`champion_decision` says so (``decide=False``: the decision waits for
    :func:`decide_champion`; the version's tag ``champion_moved`` is then ``pending``).

    Only the pieces the cascade uses are packed (cascade.json, its model's .pt, its DD's .npz), so the registered
    model loads with ``mlflow.pyfunc.load_model("models:/noscope-cascade-<camera>@champion")`` wherever this
    project is installed. ``reference_fps`` (the declared reference speed) and ``frame_size`` ((W, H) of the
    camera) are what ``make_detector`` was given: the model rebuilds the reference with them."""
    from mlflow.exceptions import MlflowException

    from noscope_core.optimizer.cascade_artifact import CascadeArtifact

    name = MODEL_PREFIX + safe_name(camera_id, "camera id")
    art = CascadeArtifact.load(cascade_json)
    summary = CascadeSummary.from_cascade(art)
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
        artifacts = stage_artifacts(art, Path(cascade_json), models_dir, dd_dir, Path(tmp))
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
        model_info = log_pyfunc(client, uri, parent_run_id, camera_id, artifacts, model_config)
    info = art.to_dict()
    tags = {
        # read back by the policy (CascadeSummary.from_tags): exact values, not for reading
        "camera": camera_id,
        **summary.to_tags(),
        # for people
        "decision": decision_line(info),
        "query": art.query.describe(),
        "reference": art.reference_name,
        "reference_spec": reference_spec,
        "expected_speedup": units.times(art.best.speedup),
        "fell_back": str(art.fell_back).lower(),
        "parent_run_id": parent_run_id,
        "champion_decision": reason,
        "champion_moved": str(moved).lower() if decide else "pending",
    }
    with contextlib.suppress(MlflowException):
        client.create_registered_model(
            name, description=f"NoScope cascade of camera {camera_id}: {art.query.describe()}"
        )
    figures = CascadeFigures.from_cascade(camera_id, info)
    champion_version = None if current is None else int(current.version)
    version = client.create_model_version(
        name,
        # the storage location itself: a models:/ source makes the SQLite registry look the logged model up
        # through the global tracking URI, not this client's
        source=client.get_logged_model(model_info.model_id).artifact_location,
        run_id=parent_run_id,
        tags=tag_values({**tags, "model_id": model_info.model_id}),
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


def decide_champion(
    client, registered: tuple[str, int], summary: CascadeSummary, figures: CascadeFigures, force: bool = False
) -> Registration:
    """The champion decision for a version registered with ``decide=False``, taken once the test query ran:
    ``summary`` carries the version's held-out answer (``CascadeSummary.with_held_out``). Moves the alias when the
    rule says so and writes the test figures and the decision to the version's tags and description. Taken once:
    a version already decided keeps its decision (and returns it) unless ``force``."""
    from mlflow.exceptions import MlflowException

    name, version = registered
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
        "test_speedup": units.times(figures.test_speedup),
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


def cascade_signature():
    """The pyfunc's signature: its output, one row per frame (``video``, ``frame``, ``label``).

    No input schema: MLflow validates inputs against one (``pyfunc._validate_prediction_input``) and would then
    refuse the forms the model accepts besides a table of videos (a path, a list of paths, a frame array), so
    the inputs are described in ``pipelines.cascade_model.CascadeModel.predict`` and in docs/ui.md instead."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    outputs = Schema(
        [ColSpec("string", "video", required=False), ColSpec("long", "frame"), ColSpec("boolean", "label")]
    )
    return ModelSignature(inputs=None, outputs=outputs)


def log_pyfunc(client, uri: str, parent_run_id: str, camera_id: str, artifacts: dict[str, str], model_config: dict):
    """The cascade as a models-from-code pyfunc in the parent run's experiment, with :func:`cascade_signature`."""
    import mlflow

    from pipelines import cascade_model

    # Created here, in the parent's experiment: left to itself Model.log files the model under the active
    # experiment, which without a global active run is "Default" with artifacts in ./mlruns.
    logged = client.create_logged_model(
        experiment_id=client.get_run(parent_run_id).info.experiment_id,
        name=MODEL_ARTIFACT,
        source_run_id=parent_run_id,
        tags={"camera": camera_id},
        model_type="noscope-cascade",
    )
    with use_tracking_uri(uri), quiet_model_logging():
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
            signature=cascade_signature(),
        )


def stage_artifacts(
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
