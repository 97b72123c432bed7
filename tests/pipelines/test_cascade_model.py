"""The registered cascade: logged as a pyfunc model from code, it loads by alias in a fresh process and labels
frames exactly as the cascade it was registered from."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipelines.tracking import MlflowTracker

REPO = Path(__file__).resolve().parents[2]
CAMERA = "x"
URI = "models:/noscope-cascade-x@champion"


def sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def train_pieces(video: Path, out: Path) -> tuple[Path, Path, dict]:
    """A tiny specialized model and a background DD fitted on the video's first 200 frames, saved as the pipeline
    saves them (plus a second, unused model file that must not be packed), and a config that uses all stages."""
    import torch

    from noscope_core.cascade.routing import CascadeConfig
    from noscope_core.models.difference import DifferenceDetector, DifferenceSpec
    from noscope_core.models.specialized import ModelSpec
    from noscope_core.models.training import train_models
    from noscope_core.reference.synthetic_truth import load_truth
    from noscope_core.video.readers import iter_views
    from noscope_core.video.views import ViewSpec

    torch.set_num_threads(1)
    # the pixels a frame store holds: shrunk by the reader queries use
    (batch,) = iter_views(video, (ViewSpec(50),), stop=200, batch_size=200, keep_full=False)
    frames = batch.small["full50"]
    y = load_truth(video).presence("person")[:200]
    (model,) = (r.model for r in train_models([ModelSpec(1, 4, 4)], frames, y, max_epochs=1))
    dd = DifferenceDetector(DifferenceSpec("global", "background")).fit(frames, y)
    models_dir, dd_dir = out / "models", out / "difference"
    models_dir.mkdir()
    dd_dir.mkdir()
    model.save(models_dir / f"{model.name}.pt")
    (models_dir / "unused.pt").write_bytes(b"another variant")
    dd.save(dd_dir / f"{dd.name}.npz")
    p = model.predict_proba(frames)
    config = CascadeConfig(
        skip=2,
        dd_name=dd.name,
        dd_threshold=float(np.quantile(dd.score(frames), 0.25)),
        dd_reference="background",
        model_name=model.name,
        c_low=float(np.quantile(p, 0.3)),
        c_high=float(np.quantile(p, 0.7)),
    )
    hashes = {
        "model_files": {f"{model.name}.pt": sha256(models_dir / f"{model.name}.pt")},
        "dd_files": {f"{dd.name}.npz": sha256(dd_dir / f"{dd.name}.npz")},
    }
    return models_dir, dd_dir, {"config": config, **hashes}


def cascade_info(detector, fps: float, config, model_files: dict, dd_files: dict) -> dict:
    """cascade.json of ``config``, built with the engine's own types so its shape is the real one."""
    from noscope_core.cascade.costs import StageCosts
    from noscope_core.optimizer.cascade_artifact import CascadeArtifact
    from noscope_core.optimizer.search import Candidate, OptimizationResult
    from noscope_core.spec.camera import Targets
    from noscope_core.spec.query import Query
    from noscope_core.video.views import ViewSpec

    best = Candidate(config, 0.02, 0.01, 10.0, 0.2, 5.0)
    return CascadeArtifact.from_result(
        OptimizationResult(best=best, frontier=[best], fell_back=False, reason=None, n_evaluated=1),
        costs=StageCosts({config.dd_name: 0.01}, {config.model_name: 0.2}, 50.0),
        query=Query("person"),
        view=ViewSpec(50),
        reference_name=detector.name,
        reference_identity=detector.identity(),
        targets=Targets(0.05, 0.05),
        skips=[1, 2],
        fps=fps,
        model_files=model_files,
        dd_files=dd_files,
    ).to_dict()


@pytest.fixture(scope="module")
def registered(tmp_path_factory, synthetic_video, mlflow_template_db):
    """A store with the cascade registered as champion of camera "x", and the cascade itself."""
    from noscope_core.optimizer import cascade_artifact
    from noscope_core.optimizer.cascade_artifact import CascadeArtifact
    from noscope_core.reference.detectors import make_detector

    root = tmp_path_factory.mktemp("mlflow-model")
    shutil.copy(mlflow_template_db, root / "mlflow.db")
    tracker = MlflowTracker(root=str(root))
    spec = f"synthetic:{synthetic_video}"
    models_dir, dd_dir, pieces = train_pieces(synthetic_video, tmp_path_factory.mktemp("pieces"))
    info = cascade_info(make_detector(spec), 10.0, **pieces)
    path = root / "cascade.json"
    path.write_text(json.dumps(info))
    parent = tracker.start_training(CAMERA, info["query"], {})
    reg = tracker.register_cascade(parent, CAMERA, path, models_dir, dd_dir, spec)
    assert reg.champion_moved
    cascade = cascade_artifact.load_cascade(CascadeArtifact.from_dict(info), make_detector(spec), models_dir, dd_dir)
    return tracker, cascade


@pytest.fixture(scope="module")
def loaded(registered):
    import mlflow

    tracker, _ = registered
    mlflow.set_tracking_uri(tracker.uri())
    try:
        yield mlflow.pyfunc.load_model(URI)
    finally:
        mlflow.set_tracking_uri(None)
        os.environ.pop("MLFLOW_TRACKING_URI", None)


@pytest.mark.slow  # loads the model in a fresh process
def test_champion_loads_in_a_fresh_process_and_reproduces_the_cascade_labels(registered, synthetic_video, tmp_path):
    tracker, cascade = registered
    out = tmp_path / "labels.json"
    code = (
        "import json, sys, mlflow\n"
        f"df = mlflow.pyfunc.load_model({URI!r}).predict(sys.argv[1])\n"
        "json.dump({'frame': df['frame'].tolist(), 'label': df['label'].astype(bool).tolist(),"
        " 'video': sorted(set(df['video']))}, open(sys.argv[2], 'w'))\n"
    )
    # PYTHONPATH stands for the installed project (``pip install -e .``) where it is run from a checkout
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracker.uri(), "OMP_NUM_THREADS": "1", "PYTHONPATH": path}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(synthetic_video), str(out)],
        env=env,
        cwd=tmp_path,  # nothing may come from the working directory (no ./mlruns, no repo-relative imports)
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (tmp_path / "mlruns").exists()
    got = json.loads(out.read_text())
    expected = cascade.run_video(synthetic_video)
    assert got["video"] == [str(synthetic_video)]
    assert got["frame"] == expected.frame_index.tolist()
    assert got["label"] == expected.labels.tolist()
    assert 0 < sum(got["label"]) < len(got["label"])  # the object comes and goes: a real check, not all-False
    routes = expected.route_counts()  # every stage decided some frames, so every packed piece was exercised
    assert min(routes["dd_absent"], routes["model_absent"] + routes["model_present"], routes["reference"]) > 0


def test_only_the_pieces_the_cascade_uses_are_packed(registered, tmp_path):
    import mlflow.artifacts

    tracker, cascade = registered
    version = tracker.client().get_model_version_by_alias("noscope-cascade-x", "champion")
    root = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=version.source, dst_path=str(tmp_path), tracking_uri=tracker.uri()
        )
    )
    files = sorted(p.relative_to(root / "artifacts").as_posix() for p in (root / "artifacts").rglob("*") if p.is_file())
    assert files == ["cascade.json", f"difference/{cascade.dd.name}.npz", f"models/{cascade.model.name}.pt"]
    assert (root / "cascade_model.py").is_file()  # logged from code: the loader runs this copy


def test_dataframe_input_labels_the_requested_frame_range(loaded, registered, synthetic_video):
    import pandas as pd

    _, cascade = registered
    df = loaded.predict(pd.DataFrame({"video": [str(synthetic_video)], "start": [30], "stop": [90]}))
    expected = cascade.run_video(synthetic_video, start=30, stop=90)
    assert df["frame"].tolist() == list(range(30, 90))
    assert df["label"].tolist() == expected.labels.tolist()


def test_frames_array_input_is_labelled_like_the_same_frames_of_the_video(loaded, registered, synthetic_video):
    from noscope_core.video.frames import read_frames
    from noscope_core.video.readers import shrink_decoded

    _, cascade = registered
    frames = np.stack(read_frames(synthetic_video, range(60)))
    df = loaded.predict(frames)
    # shrunk the way the frame store was (the reader's path), not by OpenCV's preprocess; the pixels' closeness to
    # the reader's own is pinned in tests/test_readers.py (a one-epoch model's labels flip on a grey level either way)
    small = shrink_decoded(list(frames), cascade.view)
    expected = cascade.run_frames(small, np.arange(60), lambda ii: frames[ii])
    assert df["frame"].tolist() == list(range(60))
    assert df["label"].tolist() == expected.labels.tolist()


def test_a_model_config_naming_the_opencv_reader_shrinks_arrays_as_opencv_did(loaded, registered, synthetic_video):
    import copy

    from noscope_core.video.frames import read_frames
    from noscope_core.video.shrink import preprocess

    _, cascade = registered
    # MLflow drops model_config keys the registration did not log, so the loaded model's attribute stands in
    model = copy.copy(loaded.unwrap_python_model())
    model.reader = "opencv"
    frames = np.stack(read_frames(synthetic_video, range(60)))
    expected = cascade.run_frames(preprocess(list(frames), cascade.view), np.arange(60), lambda ii: frames[ii])
    assert model.predict(None, frames)["label"].tolist() == expected.labels.tolist()


def test_a_synthetic_reference_follows_the_video_it_is_asked_about(loaded, registered, footage_video):
    from noscope_core.cascade.execute import Cascade
    from noscope_core.reference.detectors import make_detector

    _, c = registered
    df = loaded.predict(str(footage_video))
    reference = make_detector(f"synthetic:{footage_video}")
    own = Cascade(c.config, reference, c.query, c.view, dd=c.dd, model=c.model).run_video(footage_video)
    assert df["label"].tolist() == own.labels.tolist()


def test_unreadable_inputs_raise_clear_errors(loaded):
    from noscope_core.common.errors import QueryError, VideoError

    with pytest.raises(QueryError, match="cannot read int"):
        loaded.predict(3)
    with pytest.raises(VideoError, match="uint8"):
        loaded.predict(np.zeros((2, 8, 8), dtype=np.float32))
