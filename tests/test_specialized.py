"""Specialized models: the family, learning a synthetic object, reproducibility, logging hooks, artifacts."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from noscope_core.common.errors import ArtifactError, DegenerateLabelsError
from noscope_core.models.difference import FrameShapeError
from noscope_core.models.specialized import ModelSpec, SpecializedModel, default_family, measure_fps
from noscope_core.models.training import TrainResult, train_models

TINY = ModelSpec(conv_blocks=2, filters=8, dense=16, stem_stride=2)  # ~2 MFLOPs: trains in about two seconds


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy 50×50 frames of one fixed scene; half of them hold a bright 6×6 square somewhere."""
    rng = np.random.default_rng(seed)
    background = np.random.default_rng(99).integers(60, 180, (50, 50, 3))
    frames = np.clip(background[None] + rng.normal(0, 12, (n, 50, 50, 3)), 0, 255).astype(np.uint8)
    labels = rng.random(n) < 0.5
    for i in np.flatnonzero(labels):
        r, c = rng.integers(0, 44, 2)
        frames[i, r : r + 6, c : c + 6] = 240
    return frames, labels


@pytest.fixture(scope="module")
def data():
    (xt, yt), (xv, yv) = synthetic(192, 0), synthetic(96, 1)
    return xt, yt, xv, yv


@pytest.fixture(scope="module")
def trained(data) -> TrainResult:
    xt, yt, xv, yv = data
    with torch.random.fork_rng():
        torch.set_num_threads(1)
        return train_models([TINY], xt, yt, xv, yv, max_epochs=10, batch_size=32, lr=3e-3, seed=0)[0]


def test_spec_names_and_dict_round_trip():
    assert ModelSpec().name == "c1-f32-d32"
    spec = ModelSpec(conv_blocks=2, filters=32, dense=128, stem_stride=2, double_filters=True, input_size=64)
    assert spec.name == "c2-f32x2-d128-s2-i64"
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ValueError, match="conv_blocks"):
        ModelSpec(conv_blocks=0)


def test_default_family_spans_noscope_space_with_distinct_affordable_variants():
    family = default_family()
    assert 4 <= len(family) <= 6
    assert len({s.name for s in family}) == len(family)
    assert {s.conv_blocks for s in family} >= {1, 2}
    assert all(s.input_size == 50 and s.approx_mflops() < 40 for s in family)


def test_network_output_shape_for_every_family_member():
    frames, _ = synthetic(3, 0)
    for spec in default_family():
        assert SpecializedModel(spec, backend="torch").predict_proba(frames).shape == (3,)


def test_small_model_learns_a_bright_square(trained, data):
    _, _, xv, yv = data
    assert trained.val_accuracy > 0.9
    proba = trained.model.predict_proba(xv)
    assert proba.dtype == np.float32 and proba.shape == (len(xv),)
    assert ((proba > 0.5) == yv).mean() > 0.9
    assert len(trained.history["train_loss"]) == len(trained.history["val_loss"]) == trained.epochs
    assert trained.val_loss == pytest.approx(min(trained.history["val_loss"]))  # best epoch restored
    assert trained.train_seconds > 0


def test_save_load_round_trip_gives_identical_probabilities_via_weights_only(trained, data, tmp_path, monkeypatch):
    _, _, xv, _ = data
    path = tmp_path / f"{trained.model.name}.pt"
    trained.model.query_key = "q1"
    trained.model.save(path)
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    loaded = SpecializedModel.load(path, spec=TINY, query_key="q1")
    assert calls == [True]
    np.testing.assert_array_equal(loaded.predict_proba(xv), trained.model.predict_proba(xv))
    assert loaded.name == TINY.name and loaded.info["epochs"] == trained.epochs
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # one file, no temporary left behind


def test_load_refuses_another_spec_another_query_a_missing_or_corrupt_file(trained, tmp_path):
    path = tmp_path / "m.pt"
    trained.model.query_key = "q1"
    trained.model.save(path)
    with pytest.raises(ArtifactError, match="not c1-f32-d32"):
        SpecializedModel.load(path, spec=ModelSpec())
    with pytest.raises(ArtifactError, match="another query"):
        SpecializedModel.load(path, query_key="q2")
    with pytest.raises(ArtifactError, match="missing"):
        SpecializedModel.load(tmp_path / "nope.pt")
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(ArtifactError, match="cannot read"):
        SpecializedModel.load(tmp_path / "bad.pt")


def test_all_positive_or_all_negative_labels_raise_degenerate_labels_error(data):
    xt, yt, _, _ = data
    for value in (True, False):
        with pytest.raises(DegenerateLabelsError, match="region of interest"):
            train_models([TINY], xt, np.full(len(yt), value), max_epochs=1)


def test_seeded_training_is_reproducible_and_the_seed_matters(data):
    xt, yt, xv, yv = data
    kw = dict(max_epochs=2, batch_size=32, num_threads=1)
    a = train_models([TINY], xt, yt, xv, yv, seed=7, **kw)[0].model.predict_proba(xv)
    b = train_models([TINY], xt, yt, xv, yv, seed=7, **kw)[0].model.predict_proba(xv)
    c = train_models([TINY], xt, yt, xv, yv, seed=8, **kw)[0].model.predict_proba(xv)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_logger_factory_is_called_once_per_spec_and_receives_the_curves(data, tmp_path):
    from pytorch_lightning.loggers import CSVLogger

    xt, yt, xv, yv = data
    specs = [TINY, ModelSpec(conv_blocks=1, filters=4, dense=8, stem_stride=2)]
    seen = []

    def factory(spec):
        seen.append(spec)
        return CSVLogger(tmp_path, name=spec.name)

    results = train_models(specs, xt, yt, xv, yv, max_epochs=2, logger_factory=factory)
    assert seen == specs
    assert [r.model.spec for r in results] == specs
    for spec in specs:
        (metrics,) = (tmp_path / spec.name).rglob("metrics.csv")
        header = metrics.read_text().splitlines()[0]
        assert "val_loss" in header and "train_loss" in header


def test_training_without_validation_set_runs_all_epochs_and_reports_nan(data):
    xt, yt, _, _ = data
    r = train_models([TINY], xt, yt, max_epochs=2)[0]
    assert r.epochs == 2 and r.history["val_loss"] == []
    assert np.isnan(r.val_accuracy) and np.isnan(r.val_loss)


def test_num_threads_applies_during_training_only(data):
    xt, yt, _, _ = data
    torch.set_num_threads(1)
    train_models([TINY], xt[:32], yt[:32], max_epochs=1, num_threads=2)
    assert torch.get_num_threads() == 1


def test_frame_shape_errors_are_clear(data):
    xt, yt, _, _ = data
    model = SpecializedModel(TINY, backend="torch")
    with pytest.raises(FrameShapeError, match="fitted on 50×50"):
        model.predict_proba(np.zeros((2, 40, 40, 3), np.uint8))
    with pytest.raises(FrameShapeError, match="uint8"):
        model.predict_proba(np.zeros((2, 50, 50, 3), np.float32))
    with pytest.raises(FrameShapeError, match="labels must have shape"):
        train_models([TINY], xt, yt[:-1])
    assert model.predict_proba(np.zeros((0, 50, 50, 3), np.uint8)).shape == (0,)


def test_onnx_runtime_backend_matches_torch(trained, data):
    pytest.importorskip("onnx", reason="the ONNX export needs the onnx package")
    _, _, xv, _ = data
    ort_model = SpecializedModel(TINY, trained.model.net, backend="onnxruntime")
    torch_model = SpecializedModel(TINY, trained.model.net, backend="torch")
    assert ort_model.active_backend == "onnxruntime"
    np.testing.assert_allclose(ort_model.predict_proba(xv), torch_model.predict_proba(xv), atol=1e-5)


def test_auto_backend_falls_back_to_torch_without_onnx(trained, data, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` fail inside the exporter
    _, _, xv, _ = data
    model = SpecializedModel(TINY, trained.model.net)
    assert model.active_backend == "torch"
    np.testing.assert_array_equal(
        model.predict_proba(xv), SpecializedModel(TINY, trained.model.net, backend="torch").predict_proba(xv)
    )


def test_measure_fps_reports_a_positive_rate(trained, data):
    _, _, xv, _ = data
    assert measure_fps(trained.model, xv, batch_size=32, repeats=1) > 0


def test_inference_import_does_not_load_lightning_or_the_training_module():
    code = (
        "import sys, noscope_core.models.specialized as s; "
        "assert 'pytorch_lightning' not in sys.modules and 'noscope_core.models.training' not in sys.modules; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


def test_read_only_memory_mapped_frames_are_accepted(trained, data, tmp_path):
    _, _, xv, _ = data
    np.save(tmp_path / "frames.npy", xv)
    mapped = np.load(tmp_path / "frames.npy", mmap_mode="r")
    for backend in ("torch", "auto"):
        model = SpecializedModel(TINY, trained.model.net, backend=backend)
        np.testing.assert_array_equal(model.predict_proba(mapped), model.predict_proba(xv))


def test_training_options_noise_balance_and_soft_targets(data):
    xt, yt, xv, yv = data
    kw = dict(max_epochs=1, batch_size=32, seed=0)
    plain = train_models([TINY], xt, yt, **kw)[0]
    unbalanced = train_models([TINY], xt, yt, balance=False, **kw)[0]
    assert plain.model.info["pos_weight"] != 1.0 and unbalanced.model.info["pos_weight"] == 1.0
    noisy = train_models([TINY], xt, yt, noise_sigma=8.0, **kw)[0]
    assert noisy.model.info["noise_sigma"] == 8.0
    assert not np.allclose(noisy.model.predict_proba(xv), plain.model.predict_proba(xv))  # the noise was used
    soft = train_models([TINY], xt, yt, train_targets=np.where(yt, 0.9, 0.1), **kw)[0]
    assert soft.model.info["soft_targets"] and not np.allclose(
        soft.model.predict_proba(xv), plain.model.predict_proba(xv)
    )
    with pytest.raises(ValueError, match="train_targets"):
        train_models([TINY], xt, yt, train_targets=np.full(len(yt), 2.0), **kw)


def test_jitter_noise_is_gaussian_on_top_of_light_and_stays_in_range():
    from noscope_core.models.training import augment

    torch.manual_seed(0)
    x = torch.full((64, 8, 8, 3), 128.0)
    light = augment(x)
    assert torch.all(light.std(dim=(1, 2, 3)) < 1e-4)  # one gain and bias per frame, no noise
    noisy = augment(x, noise_sigma=5.0)
    assert 4.0 < float(noisy.std(dim=(1, 2, 3)).mean()) < 6.0 and noisy.min() >= 0 and noisy.max() <= 255


def test_soft_targets_put_the_query_threshold_at_one_half_and_keep_smoothed_flips_hard():
    from noscope_core.models.model_artifact import soft_targets
    from noscope_core.reference.labels import FrameLabels

    score = np.array([0.0, 0.15, 0.3, 0.65, 1.0, 0.2], dtype=np.float32)
    raw = score >= 0.3
    label = raw.copy()
    label[5] = True  # smoothing made this frame positive: its target stays 1
    labels = FrameLabels(np.arange(6), score, raw, label)
    np.testing.assert_allclose(soft_targets(labels, 0.3), [0.0, 0.25, 0.5, 0.75, 1.0, 1.0], atol=1e-6)
