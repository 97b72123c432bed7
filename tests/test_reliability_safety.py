"""Safe defaults, and promises that hold on any input.

Servers listen on 127.0.0.1 unless told otherwise; model and array files from disk never run code (each hostile
file here is first shown to run code when loaded the unsafe way, so the refusals are not vacuous); camera ids
and file names from configuration cannot leave the artifact root; and, on random labels, scores and frame
ranges, the optimizer's claims hold when the real executor runs its choice, and the executor never crashes.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from noscope_core.common.errors import ArtifactError, DetectorError, QueryError

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("command", "port"), [("ui", 3000), ("mlflow-ui", 5000)])
def test_cli_servers_default_to_localhost(command, port):
    from noscope_cli.main import build_parser as _parser

    args = _parser().parse_args([command])
    assert (args.host, args.port) == ("127.0.0.1", port)
    assert _parser().parse_args([command, "--host", "0.0.0.0"]).host == "0.0.0.0"  # only when told


class _Launched(Exception):
    """Raised instead of starting a server: carries the command line that would have run."""


def _capture_launch(monkeypatch) -> None:
    """Servers either replace the process (execve) or run a child (subprocess.call): catch both, start neither."""

    def execve(path, argv, env):
        raise _Launched(list(argv))

    def call(cmd, **kwargs):
        raise _Launched(list(cmd))

    monkeypatch.setattr(os, "execve", execve)
    monkeypatch.setattr(subprocess, "call", call)
    monkeypatch.setattr(os, "chdir", lambda path: None)


@pytest.mark.parametrize(
    ("server", "flag"), [("serve_dagster", "-h"), ("serve_mlflow", "--host")], ids=["dagster", "mlflow"]
)
def test_web_servers_bind_localhost_unless_told_otherwise(server, flag, monkeypatch, tmp_path):
    import pipelines.servers as servers

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("NOSCOPE_MLFLOW", str(tmp_path / "mlflow"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _capture_launch(monkeypatch)
    for kwargs, host in (({}, "127.0.0.1"), ({"host": "0.0.0.0"}, "0.0.0.0")):
        with pytest.raises(_Launched) as launched:
            getattr(servers, server)(**kwargs)
        cmd = launched.value.args[0]
        assert cmd[cmd.index(flag) + 1] == host, cmd


class _RunsCode:
    """Unpickling this writes ``marker``: what a hostile model or array file would do instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def _hostile_pt(path: Path, marker: Path) -> Path:
    """A .pt shaped like a specialized model whose state dict unpickles into code."""
    import torch

    torch.save(
        {"config": '{"format": "noscope-specialized-model", "version": 1}', "state_dict": _RunsCode(marker)}, path
    )
    return path


def test_a_pickled_model_file_is_refused_without_running_its_code(tmp_path):
    import torch

    from noscope_core.models.specialized import SpecializedModel

    marker = tmp_path / "pwned"
    path = _hostile_pt(tmp_path / "c1-f16-d32.pt", marker)
    with pytest.raises(ArtifactError, match="cannot read specialized model"):
        SpecializedModel.load(path)
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the control: loaded the unsafe way, the file does run code
    assert marker.exists()


def test_a_models_folder_with_a_pickled_model_is_refused_by_the_stage_loader(tmp_path):
    import json

    from noscope_core.models import model_artifact

    marker = tmp_path / "pwned"
    _hostile_pt(tmp_path / "m.pt", marker)
    (tmp_path / "index.json").write_text(json.dumps({"query_key": None, "models": [{"file": "m.pt"}]}))
    with pytest.raises(ArtifactError):
        model_artifact.load_models(tmp_path)
    assert not marker.exists()


def _control(path: Path, key: str, marker: Path) -> None:
    with np.load(path, allow_pickle=True) as z:
        z[key]
    assert marker.exists()


def test_difference_detector_file_with_pickled_arrays_is_refused(tmp_path):
    from noscope_core.models.difference import DifferenceDetector

    marker = tmp_path / "pwned"
    obj = np.empty(1, dtype=object)
    obj[0] = _RunsCode(marker)
    np.savez(tmp_path / "dd.npz", config=obj)
    with pytest.raises(ArtifactError, match="cannot read difference detector"):
        DifferenceDetector.load(tmp_path / "dd.npz")
    assert not marker.exists()
    _control(tmp_path / "dd.npz", "config", marker)


def test_reference_labels_file_with_pickled_arrays_is_refused(tmp_path):
    from noscope_core.reference.label_artifact import LabelSet

    marker = tmp_path / "pwned"
    obj = np.empty(1, dtype=object)
    obj[0] = _RunsCode(marker)
    np.savez(tmp_path / "labels.npz", meta=obj, frame_index=np.arange(3))
    with pytest.raises(ArtifactError, match="are unreadable"):
        LabelSet.load(tmp_path / "labels.npz")
    assert not marker.exists()
    _control(tmp_path / "labels.npz", "meta", marker)


def test_truncated_reference_labels_file_is_an_artifact_error(tmp_path):
    from noscope_core.reference.label_artifact import LabelSet

    (tmp_path / "labels.npz").write_bytes(b"PK\x03\x04 truncated download")
    with pytest.raises(ArtifactError, match="are unreadable"):
        LabelSet.load(tmp_path / "labels.npz")


def test_detection_cache_ignores_a_pickled_or_truncated_chunk_and_detects_those_frames_again(tmp_path):
    from noscope_core.reference.detection_cache import DetectionCache
    from noscope_core.reference.detectors.base import Detection

    cache = DetectionCache(tmp_path, "video", "detector")
    cache.add([0, 1], [[Detection("person", 0.9, 0.1, 0.1, 0.2, 0.2)], []])
    cache.flush()
    marker = tmp_path / "pwned"
    obj = np.empty(1, dtype=object)
    obj[0] = _RunsCode(marker)
    np.savez(cache.root / "chunk-000000002-000000003-1-2.npz", frames=np.array([2, 3]), classes=obj)
    (cache.root / "chunk-000000004-000000004-1-1.npz").write_bytes(b"PK\x03\x04 cut short by a full disk")
    fresh = DetectionCache(tmp_path, "video", "detector")
    assert fresh.missing(range(5)) == [2, 3, 4]
    assert fresh.get([0])[0][0].class_name == "person"
    assert not marker.exists()
    _control(cache.root / "chunk-000000002-000000003-1-2.npz", "classes", marker)


def test_frame_store_with_a_pickled_array_is_refused(tmp_path):
    from noscope_core.footage.synthetic.scene import SyntheticScene
    from noscope_core.footage.synthetic.write import write_synthetic_video
    from noscope_core.video.framestore import FrameStore, build_frame_store

    video = write_synthetic_video(tmp_path / "cam.avi", 30, SyntheticScene(width=64, height=48))
    store = build_frame_store(video, tmp_path / "store", progress=False)
    marker = tmp_path / "pwned"
    obj = np.empty(store.n_frames, dtype=object)
    obj[:] = [_RunsCode(marker)] * store.n_frames
    np.save(tmp_path / "store" / "decoded_ok.npy", obj, allow_pickle=True)
    with pytest.raises(ArtifactError, match="unreadable"):
        FrameStore.open(tmp_path / "store")
    assert not marker.exists()
    np.load(tmp_path / "store" / "decoded_ok.npy", allow_pickle=True)
    assert marker.exists()


def test_synthetic_truth_with_pickled_arrays_is_refused(tmp_path):
    from noscope_core.reference.detectors.synthetic import SyntheticDetector
    from noscope_core.reference.synthetic_truth import truth_path

    video = tmp_path / "cam.avi"
    video.write_bytes(b"not needed: the truth is read first")
    marker = tmp_path / "pwned"
    obj = np.empty(1, dtype=object)
    obj[0] = _RunsCode(marker)
    np.savez(truth_path(video), format=np.array(1), scene_json=obj)
    with pytest.raises(DetectorError, match="unreadable"):
        _ = SyntheticDetector(video).class_names  # the truth is read on first use
    assert not marker.exists()


def test_no_engine_or_pipeline_module_loads_pickles():
    """Belt and braces beside the behaviour tests above: no pickle, no allow_pickle=True, no weights_only=False."""
    risky = ("pickle.load", "allow_pickle=True", "weights_only=False", "joblib.load", "cloudpickle")
    found = [
        f"{path.relative_to(REPO_ROOT)}: {needle}"
        for package in ("noscope_core", "pipelines", "noscope_cli")
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
        for needle in risky
        if needle in path.read_text()
    ]
    assert found == []


@pytest.mark.parametrize("camera_id", ["../other", "..", ".", "a/b", "/etc", "", "cam id", ".hidden", "x" * 65])
def test_camera_ids_that_could_leave_the_artifact_root_are_refused(camera_id, tmp_path):
    from pipelines.resources import ArtifactStore

    with pytest.raises(QueryError, match="invalid camera id"):
        ArtifactStore(root=str(tmp_path)).path(camera_id, "decoded_frames", "store")


@pytest.mark.parametrize("part", ["../../elsewhere", "/etc/passwd", "../decoded_frames"])
def test_file_names_that_climb_out_of_the_camera_folder_are_refused(part, tmp_path):
    from pipelines.resources import ArtifactStore

    store = ArtifactStore(root=str(tmp_path / "artifacts"))
    with pytest.raises(QueryError, match="escapes the artifact root"):
        store.path("cam", "..", "..", part)


def test_a_symlink_out_of_the_artifact_root_is_refused(tmp_path):
    from pipelines.resources import ArtifactStore

    root, outside = tmp_path / "artifacts", tmp_path / "outside"
    outside.mkdir()
    root.mkdir()
    (root / "cam").symlink_to(outside)
    with pytest.raises(QueryError, match="escapes the artifact root"):
        ArtifactStore(root=str(root)).path("cam", "decoded_frames", "store")


def test_registry_with_an_unsafe_camera_id_is_refused_with_the_id_named(tmp_path):
    import yaml

    from noscope_core.spec.registry import load_cameras

    registry = tmp_path / "cameras.yaml"
    registry.write_text(yaml.safe_dump({"cameras": [{"id": "../../tmp/x", "video": "v.avi", "object": "car"}]}))
    with pytest.raises(QueryError, match=r"invalid camera id '\.\./\.\./tmp/x'"):
        load_cameras(registry)


def test_footage_file_names_become_safe_artifact_names():
    from pipelines.mlflow_cascade import artifact_name

    for name in ("footage ../../x.avi", "footage a b;rm -rf.mp4", "footage über/..\\evil.mkv"):
        safe = artifact_name(name)
        assert safe.startswith("footage_") and "/" not in safe and "\\" not in safe
        assert all(c.isascii() and (c.isalnum() or c in "_.-") for c in safe), safe


class _Model:
    name = "m"

    def predict_proba(self, frames: np.ndarray) -> np.ndarray:
        return frames[:, 0, 0, 0].astype(np.float32) / 255


class _DD:
    def __init__(self, name: str, reference: str) -> None:
        self.spec = SimpleNamespace(name=name, reference=reference)

    def score(self, frames: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray:
        act = frames[:, 0, 0, 1].astype(np.float32) / 255
        return act if previous is None else np.abs(act - previous[:, 0, 0, 1].astype(np.float32) / 255)


def _reference(truth: dict[int, bool]):
    from noscope_core.reference.detectors.base import Detection, ReferenceDetector

    class Lookup(ReferenceDetector):
        name = "lookup"
        needs_pixels = False

        @property
        def class_names(self):
            return ("person",)

        def identity(self):
            return "lookup"

        def _detect(self, frames, frame_indices):
            return [[Detection("person", 0.9, 0.4, 0.4, 0.1, 0.1)] if truth[int(i)] else [] for i in frame_indices]

    ref = Lookup()
    ref.declare_cost(50.0)
    return ref


@st.composite
def _threshold_segments(draw):
    """Random runs of labels, and small frames whose pixels are the model's and the DDs' scores."""
    n = draw(st.integers(8, 150))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    truth = np.repeat(rng.random(n) < draw(st.floats(0.1, 0.9)), rng.integers(1, 15, n))[:n]
    assume(0 < truth.sum() < n)
    strength = draw(st.floats(0, 1))
    small = np.zeros((n, 2, 2, 3), np.uint8)
    small[..., 0] = np.clip((truth * strength + rng.random(n) * (1 - strength / 2)) * 255, 0, 255)[:, None, None]
    small[..., 1] = np.clip(np.cumsum(rng.random(n) < 0.3) * 37 % 256, 0, 255)[:, None, None]
    return truth, small


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seg=_threshold_segments(),
    max_fnr=st.floats(0, 0.3),
    max_fpr=st.floats(0, 0.3),
    batch_size=st.integers(1, 64),
)
def test_the_real_executor_reproduces_what_the_optimizer_claims_for_its_choice(seg, max_fnr, max_fpr, batch_size):
    """tests/test_optimizer_properties.py checks claims against the simulator; this runs the actual Cascade."""
    from noscope_core.cascade.costs import StageCosts
    from noscope_core.cascade.evaluate import error_rates
    from noscope_core.cascade.execute import Cascade
    from noscope_core.optimizer.options import SearchOptions
    from noscope_core.optimizer.search import search_cascades
    from noscope_core.spec.query import Query

    truth, small = seg
    model, dds = _Model(), {"bg": _DD("bg", "background"), "prev": _DD("prev", "previous")}

    def dd_scores(name: str, skip: int) -> np.ndarray:
        if name == "bg":
            return dds["bg"].score(small).astype(np.float64)
        out = np.full(len(small), np.nan)
        out[skip:] = dds["prev"].score(small[skip:], small[:-skip])
        return out

    costs = StageCosts({"bg": 0.01, "prev": 0.01}, {"m": 0.5}, 50.0)
    res = search_cascades(
        truth,
        {"m": model.predict_proba(small).astype(np.float64)},
        dd_scores,
        {"bg": "background", "prev": "previous"},
        costs,
        SearchOptions.point(max_fnr, max_fpr, skips=(1, 2, 3, 5)),
    )
    best = res.best
    config = best.config
    cascade = Cascade(
        config,
        _reference({i: bool(t) for i, t in enumerate(truth)}),
        Query("person"),
        view=None,
        dd=dds[config.dd_name] if config.dd_name else None,
        model=model if config.model_name else None,
    )
    run = cascade.run_frames(small, np.arange(len(truth)), fetch_full=lambda idx: [], batch_size=batch_size)
    rates = error_rates(run.labels, truth)
    assert (rates.fnr, rates.fpr) == (best.fnr, best.fpr)
    assert run.reference_calls / len(truth) == pytest.approx(best.reference_fraction, abs=1e-12)
    assert res.fell_back or (best.fnr <= max_fnr and best.fpr <= max_fpr)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, tuple[Path, int]]:
    """A 30-frame clip and a truncated copy of a longer one: (path, frames the container claims)."""
    from noscope_core.footage.synthetic.scene import SyntheticScene
    from noscope_core.footage.synthetic.write import write_synthetic_video

    folder = tmp_path_factory.mktemp("clips")
    whole = write_synthetic_video(folder / "whole.avi", 30, SyntheticScene(width=64, height=48))
    long = write_synthetic_video(folder / "long.avi", 60, SyntheticScene(width=64, height=48, seed=2))
    cut = folder / "cut.avi"
    cut.write_bytes(long.read_bytes()[: long.stat().st_size // 2])
    return {"whole": (whole, 30), "cut": (cut, 60)}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    which=st.sampled_from(["whole", "cut"]),
    start=st.integers(0, 70),
    length=st.one_of(st.none(), st.integers(0, 70)),
    skip=st.integers(1, 7),
    batch_size=st.integers(1, 9),
    with_dd=st.booleans(),
)
def test_streaming_any_frame_range_of_a_file_never_crashes(clips, which, start, length, skip, batch_size, with_dd):
    from noscope_core.cascade.execute import Cascade
    from noscope_core.cascade.routing import CascadeConfig
    from noscope_core.spec.query import Query
    from noscope_core.video.views import ViewSpec

    path, claimed = clips[which]
    stop = None if length is None else start + length
    config = CascadeConfig(
        skip=skip,
        dd_name="prev" if with_dd else None,
        dd_threshold=0.05,
        dd_reference="previous" if with_dd else None,
        model_name="m",
        c_low=0.3,
        c_high=0.7,
    )
    cascade = Cascade(
        config,
        _reference({i: i % 3 == 0 for i in range(100)}),
        Query("person"),
        ViewSpec(4),
        dd=_DD("prev", "previous") if with_dd else None,
        model=_Model(),
    )
    run = cascade.run_video(path, start=start, stop=stop, batch_size=batch_size)
    n = len(run.frame_index)
    assert len(run.labels) == len(run.routes) == n
    end = claimed if stop is None else min(stop, claimed)
    if start >= end:
        assert n == 0
    elif n:
        np.testing.assert_array_equal(run.frame_index, np.arange(start, start + n))
        assert start + n <= end
    if which == "whole" and start < end:
        assert start + n == end  # an intact file is covered to the end of the range


@pytest.mark.xfail(
    strict=True,
    reason="known weakness (docs/reliability.md): with zero-error targets the optimizer accepts a cheap stage that "
    "decides a handful of threshold frames correctly by luck, so its error on fresh frames is far above the target",
)
def test_zero_error_targets_on_unpredictable_labels_fall_back_or_hold_on_fresh_frames():
    from noscope_core.cascade.costs import StageCosts
    from noscope_core.cascade.evaluate import error_rates
    from noscope_core.cascade.routing import simulate
    from noscope_core.optimizer.options import SearchOptions
    from noscope_core.optimizer.search import search_cascades

    rng = np.random.default_rng(0)
    costs = StageCosts({}, {"m": 0.5}, 50.0)
    for _ in range(5):
        truth, fresh_truth = rng.random(60) < 0.5, rng.random(600) < 0.5  # labels a model cannot predict
        scores, fresh_scores = rng.random(60), rng.random(600)
        res = search_cascades(truth, {"m": scores}, {}, {}, costs, SearchOptions.point(0.0, 0.0, skips=(1,)))
        if res.fell_back:
            continue
        labels, _ = simulate(res.best.config, fresh_truth, None, fresh_scores)
        fresh = error_rates(labels, fresh_truth)
        assert fresh.fnr == 0.0 and fresh.fpr == 0.0, (res.best.config.describe(), fresh)


def test_zero_error_targets_at_a_confidence_always_fall_back_to_the_reference():
    # the scenario of the xfail above, with --confidence: no finite segment proves a zero error rate
    from noscope_core.cascade.costs import StageCosts
    from noscope_core.optimizer.options import SearchOptions
    from noscope_core.optimizer.search import search_cascades
    from noscope_core.spec.camera import Targets

    rng = np.random.default_rng(0)
    costs = StageCosts({}, {"m": 0.5}, 50.0)
    for _ in range(5):
        truth, scores = rng.random(60) < 0.5, rng.random(60)
        res = search_cascades(
            truth, {"m": scores}, {}, {}, costs, SearchOptions(Targets(0.0, 0.0, 0.95), certify=False, skips=(1,))
        )
        assert res.fell_back and res.best.reference_fraction == 1.0
        assert "no amount of footage can prove fnr <= 0" in res.reason and "-1" not in res.reason
