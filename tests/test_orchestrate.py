"""The engine's one stage chain: the reference-only decision, and the cascade artifact it writes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from noscope_core.common.errors import ArtifactError
from noscope_core.flows.stages import fallback_reason
from noscope_core.reference.label_artifact import LabelSet
from noscope_core.reference.labels import FrameLabels
from noscope_core.spec.query import Query
from noscope_core.spec.split import split_frames


def label_set(label: np.ndarray) -> LabelSet:
    n = len(label)
    labels = FrameLabels(np.arange(n), label.astype(np.float32), label.astype(bool), label.astype(bool))
    return LabelSet(labels, np.ones(n, bool), split_frames(n), "ref", "ref:1", 20.0, Query("car"))


def test_labels_that_come_and_go_in_train_and_threshold_need_no_fallback():
    assert fallback_reason(label_set(np.arange(200) % 7 == 0)) is None


@pytest.mark.parametrize("segment", ["train", "threshold"])
@pytest.mark.parametrize("value", [0, 1])
def test_one_sided_train_or_threshold_labels_fall_back_with_the_reason(segment, value):
    label = np.arange(200) % 7 == 0
    seg = split_frames(200).threshold if segment == "threshold" else split_frames(200).train
    label[seg.indices()] = bool(value)
    reason = fallback_reason(label_set(label))
    assert reason is not None and f"of the {segment} segment" in reason


def test_the_cascade_artifact_round_trips_through_its_json(tmp_path):
    from noscope_core.optimizer.cascade_artifact import CascadeArtifact, reference_only_artifact
    from noscope_core.spec.camera import Targets

    class Store:
        fps = 12.5

    art = reference_only_artifact(label_set(np.arange(200) % 7 == 0), Store(), Targets(0.02, 0.03, 0.9), "asked")
    art.save(tmp_path / "cascade.json")
    back = CascadeArtifact.load(tmp_path / "cascade.json")
    assert back == art
    assert back.fell_back and back.reason == "asked" and back.best.config.is_reference_only
    assert back.targets.max_fpr == 0.03 and back.costs.reference_ms == 20.0
    assert json.loads((tmp_path / "cascade.json").read_text())["targets"] == {
        "max_fnr": 0.02,
        "max_fpr": 0.03,
        "confidence": 0.9,
    }

    mangled = json.loads((tmp_path / "cascade.json").read_text())
    del mangled["best"]
    (tmp_path / "bad.json").write_text(json.dumps(mangled))
    with pytest.raises(ArtifactError, match="best"):
        CascadeArtifact.load(tmp_path / "bad.json")


def test_the_model_index_round_trips_and_a_mangled_one_is_an_artifact_error(tmp_path):
    from noscope_core.models.model_artifact import ModelEntry, ModelIndex

    entry = ModelEntry("c1", {"name": "c1"}, "c1.pt", 1.5, 3, 0.9, 0.2, [{"epoch": 0}])
    index = ModelIndex(Query("car"), (entry,))
    index.save(tmp_path)
    assert ModelIndex.load(tmp_path) == index
    assert json.loads((tmp_path / "index.json").read_text())["query_key"] == Query("car").key()

    (tmp_path / "index.json").write_text(json.dumps({"models": []}))
    with pytest.raises(ArtifactError, match="incomplete"):
        ModelIndex.load(tmp_path)


@pytest.mark.slow  # imports the engine in a fresh process
def test_the_stage_chain_and_the_cascade_artifact_import_without_lightning():
    # Inference paths (the CLI's query run, the pyfunc model, streaming) must not pay for the training stack.
    import subprocess
    import sys

    code = (
        "import sys, noscope_core.flows.stages, noscope_core.optimizer.cascade_artifact; "
        "assert 'pytorch_lightning' not in sys.modules and 'noscope_core.models.training' not in sys.modules; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr
