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


def mlflow_template(tmp_path_factory) -> Path:
    """An empty, migrated MLflow SQLite database, made once per session."""
    db = tmp_path_factory.getbasetemp() / "mlflow-template" / "mlflow.db"
    if not db.is_file():
        from mlflow import MlflowClient

        db.parent.mkdir(parents=True, exist_ok=True)
        MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


def cascade_info(detector, fps: float) -> dict:
    """A cascade that evaluates every third frame and asks the reference there, in the engine's own types."""
    from noscope_core.cascade import CascadeConfig
    from noscope_core.costs import StageCosts
    from noscope_core.optimizer import Candidate, OptimizationResult
    from noscope_core.query import Query
    from noscope_core.video import ViewSpec
    from noscope_core.workflow import CascadeArtifact

    best = Candidate(CascadeConfig(skip=3), 0.02, 0.01, 50.0 / 3, 1 / 3, 3.0)
    return CascadeArtifact(
        result=OptimizationResult(best=best, frontier=[best], fell_back=False, reason=None, n_evaluated=1),
        costs=StageCosts({}, {}, 50.0),
        query=Query("person"),
        view=ViewSpec(50).to_dict(),
        reference_name=detector.name,
        reference_identity=detector.identity(),
        max_fnr=0.05,
        max_fpr=0.05,
        skips=[1, 3],
        fps=fps,
    ).to_dict()


@pytest.fixture(scope="module")
def registered(tmp_path_factory, synthetic_video):
    """A store with the cascade registered as champion of camera "x", and the cascade itself."""
    from noscope_core import workflow
    from noscope_core.detectors import make_detector

    root = tmp_path_factory.mktemp("mlflow-model")
    shutil.copy(mlflow_template(tmp_path_factory), root / "mlflow.db")
    tracker = MlflowTracker(root=str(root))
    spec = f"synthetic:{synthetic_video}"
    info = cascade_info(make_detector(spec), 10.0)
    path = root / "cascade.json"
    path.write_text(json.dumps(info))
    parent = tracker.start_training(CAMERA, info["query"], {})
    reg = tracker.register_cascade(parent, CAMERA, path, None, None, spec)
    assert reg.champion_moved
    cascade = workflow.build_cascade(info, make_detector(spec), None, None)
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


def test_dataframe_input_labels_the_requested_frame_range(loaded, registered, synthetic_video):
    import pandas as pd

    _, cascade = registered
    df = loaded.predict(pd.DataFrame({"video": [str(synthetic_video)], "start": [30], "stop": [90]}))
    expected = cascade.run_video(synthetic_video, start=30, stop=90)
    assert df["frame"].tolist() == list(range(30, 90))
    assert df["label"].tolist() == expected.labels.tolist()


def test_frames_array_input_is_labelled_like_the_same_frames_of_the_video(loaded, registered, synthetic_video):
    from noscope_core.video import preprocess, read_frames

    _, cascade = registered
    frames = np.stack(read_frames(synthetic_video, range(60)))
    df = loaded.predict(frames)
    expected = cascade.run_frames(preprocess(list(frames), cascade.view), np.arange(60), lambda ii: frames[ii])
    assert df["frame"].tolist() == list(range(60))
    assert df["label"].tolist() == expected.labels.tolist()


def test_a_synthetic_reference_follows_the_video_it_is_asked_about(loaded, registered, footage_video):
    from noscope_core.cascade import Cascade
    from noscope_core.detectors import make_detector

    _, c = registered
    df = loaded.predict(str(footage_video))
    own = Cascade(c.config, make_detector(f"synthetic:{footage_video}"), c.query, c.view).run_video(footage_video)
    assert df["label"].tolist() == own.labels.tolist()


def test_unreadable_inputs_raise_clear_errors(loaded):
    from noscope_core.errors import QueryError, VideoError

    with pytest.raises(QueryError, match="cannot read int"):
        loaded.predict(3)
    with pytest.raises(VideoError, match="uint8"):
        loaded.predict(np.zeros((2, 8, 8), dtype=np.float32))
