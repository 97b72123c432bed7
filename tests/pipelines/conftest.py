"""A small synthetic camera and isolated Dagster / artifact / cache folders for the pipeline tests.

Helpers reach the tests as fixtures (not imports): this folder is deliberately not a package, because a
``tests/pipelines`` package would shadow the real ``pipelines`` package under pytest's default import mode.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

#: 40 s of a 160x120 synthetic camera at 10 fps: a person comes and goes in every segment (rates ~0.6/0.56/0.52)
SCENE = {"width": 160, "height": 120, "fps": 10.0, "seed": 0, "mean_gap_s": 4.0, "mean_stay_s": 3.0}
N_FRAMES = 400


@pytest.fixture(scope="session")
def mlflow_template_db(tmp_path_factory) -> Path:
    """An empty, migrated MLflow SQLite database, made once per session (creating one costs 5-15 s here)."""
    from mlflow import MlflowClient

    db = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture(scope="session")
def synthetic_video(tmp_path_factory) -> Path:
    from noscope_core.footage.synthetic.scene import SyntheticScene
    from noscope_core.footage.synthetic.write import write_synthetic_video

    path = tmp_path_factory.mktemp("videos") / "synth.avi"
    return write_synthetic_video(path, N_FRAMES, SyntheticScene(**SCENE))


@pytest.fixture(scope="session")
def footage_video(tmp_path_factory) -> Path:
    """A second, shorter recording of the same scene, as new footage would arrive (kept outside footage_dir)."""
    from noscope_core.footage.synthetic.scene import SyntheticScene
    from noscope_core.footage.synthetic.write import write_synthetic_video

    path = tmp_path_factory.mktemp("incoming") / "later.avi"
    return write_synthetic_video(path, 120, SyntheticScene(**{**SCENE, "seed": 7}))


def camera_entry(camera_id: str, video: Path, footage_dir: Path | None = None, **extra) -> dict:
    entry = {
        "id": camera_id,
        "video": str(video),
        "object": "person",
        "reference": "synthetic",
        "max_fnr": 0.05,
        "max_fpr": 0.05,
        "split": [0.5, 0.25, 0.25],
        "max_epochs": 2,  # few epochs and one small variant: the tests pin the wiring, not the accuracy
        "models": ["c1-f16-d32"],
        # NoScope's point rule: 400 frames cannot prove a cheap cascade at a confidence, and these tests pin the
        # wiring of a cheap one (a test about the promise passes its own confidence)
        "confidence": None,
        **extra,
    }
    if footage_dir is not None:
        entry["footage_dir"] = str(footage_dir)
    return entry


def write_registry(path: Path, entries: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({"cameras": entries}))
    return path


@pytest.fixture
def isolated(tmp_path, monkeypatch) -> Path:
    """DAGSTER_HOME, NOSCOPE_HOME (detection cache) and the artifact root under ``tmp_path``."""
    for name in ("dagster_home", "noscope_home", "artifacts"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("NOSCOPE_HOME", str(tmp_path / "noscope_home"))
    monkeypatch.setenv("NOSCOPE_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return tmp_path


def make_resources(registry: Path, artifact_root: Path, mlflow_root: Path | None = None) -> dict:
    """The code location's resources, pointed at test folders; MLflow off unless ``mlflow_root`` is given."""
    from pipelines.resources import ArtifactStore, CameraRegistry, ManifestIOManager, ReferenceDetectorResource
    from pipelines.tracking import MlflowTracker

    store = ArtifactStore(root=str(artifact_root))
    tracker = MlflowTracker(root=str(mlflow_root)) if mlflow_root else MlflowTracker(enabled=False)
    return {
        "cameras": CameraRegistry(path=str(registry)),
        "artifacts": store,
        "reference": ReferenceDetectorResource(),
        "mlflow": tracker,
        "io_manager": ManifestIOManager(store=store),
    }


def bind_truth(source: Path, video: Path) -> None:
    """``source``'s ground truth, bound to ``video`` (a copy or a truncated copy of it): the synthetic reference
    reads each video's truth beside it, checked against the video's fingerprint."""
    import numpy as np

    from noscope_core.video.probe import file_fingerprint

    with np.load(f"{source}.truth.npz", allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    data["video_fingerprint"] = np.array(file_fingerprint(video))
    np.savez(f"{video}.truth.npz", **data)


@pytest.fixture(name="bind_truth", scope="session")
def _bind_truth():
    return bind_truth


@pytest.fixture(name="camera_entry", scope="session")
def _camera_entry():
    return camera_entry


@pytest.fixture(name="write_registry", scope="session")
def _write_registry():
    return write_registry


@pytest.fixture(name="make_resources", scope="session")
def _make_resources():
    return make_resources
