"""Choosing the decoding per camera: the option, a model family per view, the choice recorded in the artifact, the
default kept when the cheaper view's cascade misses the targets, and old specs and artifacts unchanged."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from noscope_core.common.errors import QueryError
from noscope_core.flows import stages, test_segment
from noscope_core.optimizer.cascade_artifact import CascadeArtifact
from noscope_core.optimizer.decoding_choice import DecodingChoice, decide_decoding, price_option
from noscope_core.reference import label_artifact
from noscope_core.spec.camera import CameraSpec, Targets, TrainingOptions
from noscope_core.spec.query import Query
from noscope_core.spec.registry import camera_from_dict
from noscope_core.video.reading_costs import ReadingCost, ReadingCosts
from tests.counting_reference import SCENE

# trains a model family per decoding
pytestmark = pytest.mark.slow

av = pytest.importorskip("av")


def test_the_decodings_option_is_checked_and_round_trips(tmp_path):
    from noscope_cli.main import build_parser
    from noscope_cli.query import options_from_args

    assert TrainingOptions().decodings == ()
    opts = TrainingOptions(decodings=("LR2", "nlf", "exact", "lr2"))
    assert opts.decodings == ("lr2", "nlf")  # checked, exact dropped (it always competes), duplicates once
    assert TrainingOptions.from_dict(opts.to_dict()) == opts
    assert TrainingOptions.from_dict({}) == TrainingOptions()  # a dict written before the field: the defaults
    with pytest.raises(QueryError, match="unknown decoding 'lr4'"):
        TrainingOptions(decodings=("lr4",))
    with pytest.raises(QueryError, match="unknown training options"):
        TrainingOptions.from_dict({"decoding": ["lr2"]})

    video = tmp_path / "cam.avi"
    entry = {"id": "lobby", "video": str(video), "object": "car"}
    assert camera_from_dict({**entry, "training": {"decodings": ["lr2", "nlf"]}}).training.decodings == ("lr2", "nlf")
    assert camera_from_dict({**entry, "training": {"max_epochs": 3}}).training == TrainingOptions(max_epochs=3)
    with pytest.raises(QueryError, match="both at the top and under training"):
        camera_from_dict({**entry, "max_epochs": 2, "training": {"max_epochs": 3}})
    args = build_parser().parse_args(["query", str(video), "--object", "car", "--decodings", "lr2,nlf"])
    spec = options_from_args(args).spec
    assert spec.training.decodings == ("lr2", "nlf") and spec.to_dict()["decodings"] == ["lr2", "nlf"]
    plain = options_from_args(build_parser().parse_args(["query", str(video), "--object", "car"])).spec
    assert "decodings" not in plain.to_dict()  # unchanged without the option
    with pytest.raises(QueryError, match="unknown decoding"):
        options_from_args(build_parser().parse_args(["query", str(video), "--object", "car", "--decodings", "fast"]))


@pytest.fixture(scope="module")
def camera(tmp_path_factory):
    """A small synthetic MPEG-4 camera, labelled by its exact truth, offered the exact and the lr2 decoding."""
    from noscope_core.footage.synthetic.scene import SyntheticScene
    from noscope_core.footage.synthetic.write import write_synthetic_video
    from noscope_core.reference.detectors.synthetic import SyntheticDetector

    root = tmp_path_factory.mktemp("decodings")
    video = write_synthetic_video(root / "cam.avi", 240, SyntheticScene(**{**SCENE, "width": 128, "height": 96}))
    spec = CameraSpec(
        video,
        Query("car"),
        reference="synthetic",
        targets=Targets(0.1, 0.1, None),
        training=TrainingOptions(max_epochs=1, models=("c1-f16-d32-s2",), decodings=("lr2",)),
    )
    store = stages.decode(spec, root / "store", progress=False)
    detector = SyntheticDetector(video, cost_ms_per_frame=20.0)
    labels = label_artifact.label_segments(
        store, detector, spec.query, spec.split.fractions, ("train", "threshold"), progress=False
    )
    prepared = stages.prepare_cascade(spec, store, labels, root / "work")
    return spec, store, labels, detector, prepared, root


def test_each_decoding_trains_its_own_models_and_the_artifact_records_the_choice(camera):
    spec, store, labels, detector, prepared, root = camera
    assert {v.name for v in store.views} >= {"full50", "full50-lr2"}
    work = root / "work"
    exact_index = json.loads((work / "models" / "index.json").read_text())
    lr2_index = json.loads((work / "views" / "full50-lr2" / "models" / "index.json").read_text())
    assert [m["name"] for m in exact_index["models"]] == [m["name"] for m in lr2_index["models"]] == ["c1-f16-d32-s2"]
    assert (work / "views" / "full50-lr2" / "difference" / "index.json").is_file()
    # the two families read different pixels, so their weights differ
    assert (work / "models" / "c1-f16-d32-s2.pt").read_bytes() != (
        work / "views" / "full50-lr2" / "models" / "c1-f16-d32-s2.pt"
    ).read_bytes()

    art = CascadeArtifact.load(prepared.cascade_json)
    assert art == prepared.artifact and art.decoding is not None
    choice = art.decoding
    assert [o.view for o in choice.options] == ["full50", "full50-lr2"]
    assert [o.decoding for o in choice.options] == ["", "lr2"]
    for o in choice.options:
        assert o.reading_ms > 0 and o.cascade_ms > 0 and isinstance(o.meets_targets, bool) and o.cascade
    assert choice.default_view == "full50" and choice.chosen_view in ("full50", "full50-lr2") and choice.reason
    assert art.view.name == choice.chosen_view  # the saved cascade is the chosen view's, reading its pixels
    assert prepared.models_dir == work / choice.folder / "models"
    assert set(choice.reading_costs) == {"full50", "full50-lr2"}
    assert "chosen:" in art.describe() and "ms/frame reading" in art.describe()

    # the query runs with the chosen view: from the stored frames and streamed from the file, alike
    from noscope_core.flows.apply_flow import TrainedCascade

    trained = TrainedCascade.load(prepared.cascade_json)  # finds the chosen view's models by the artifact's folder
    assert trained.models_dir == prepared.models_dir or trained.models_dir is None
    cascade = trained.cascade_for(detector)
    assert cascade.view == art.view
    result = test_segment.run_on_segment(cascade, art, store, labels.segments.test, spec.video, certify=None)
    assert result.to_dict()["decoding"]["chosen_view"] == choice.chosen_view
    if result.labels_agree_e2e is not None:
        assert result.labels_agree_e2e == 1.0


def _costs(ms: dict[str, float]) -> ReadingCosts:
    return ReadingCosts(
        {(v, s): ReadingCost(v, s, m / s, 100, "pyav", 0, False, 0) for v, m in ms.items() for s in (1, 30)}
    )


def test_the_cheaper_decoding_wins_only_when_its_cascade_meets_the_targets(camera):
    spec, store, labels, detector, prepared, root = camera
    exact = stages.optimize(spec, store, labels, prepared.models, prepared.dds, keyframe_first=False)
    cheap = dataclasses.replace(exact, view=dataclasses.replace(exact.view, lowres=2), fell_back=False, reason=None)
    exact = dataclasses.replace(exact, fell_back=False, reason=None)
    costs = _costs({"full50": 1.0, "full50-lr2": 0.4})  # the lr2 view reads at 40 % of the exact one's cost
    options = {"full50": price_option("", exact, costs), "full50-lr2": price_option("lr2", cheap, costs)}
    folders = {"full50": "", "full50-lr2": "views/full50-lr2"}
    won = decide_decoding(options, "full50", folders, costs)
    assert won.chosen_view == "full50-lr2" and won.folder == "views/full50-lr2"
    assert won.describe(Targets(0.01, 0.01, None)).startswith("decoding lr2 chosen: ")
    assert "both meet 1 %/1 %" in won.describe(Targets(0.01, 0.01, None))

    missed = dict(options, **{"full50-lr2": dataclasses.replace(options["full50-lr2"], meets_targets=False)})
    kept = decide_decoding(missed, "full50", folders, costs)
    assert kept.chosen_view == "full50" and kept.folder == ""
    assert "misses the targets" in kept.describe() and "only exact meets the targets" in kept.describe()
    # a cascade that fell back (nothing met the targets, or the bounds at a confidence) does not meet them
    assert price_option("lr2", dataclasses.replace(cheap, fell_back=True, reason="x"), costs).meets_targets is False
    assert DecodingChoice.from_dict(json.loads(json.dumps(kept.to_dict()))) == kept


def test_an_impossible_target_keeps_the_exact_decoding(camera, tmp_path):
    spec, store, labels, detector, prepared, root = camera
    strict = dataclasses.replace(spec, targets=Targets(0.0, 0.0, 0.999))
    again = stages.prepare_cascade(strict, store, labels, root / "work", reuse=True)  # models reused
    choice = again.artifact.decoding
    assert choice is not None and again.train_results == ()
    assert not any(o.meets_targets for o in choice.options)
    assert choice.chosen_view == "full50" and again.artifact.view.name == "full50"
    assert again.models_dir == root / "work" / "models"


def test_artifacts_and_specs_without_decodings_load_unchanged(camera, tmp_path):
    spec, store, labels, detector, prepared, root = camera
    art = prepared.artifact
    old = art.to_dict()
    del old["decoding"]
    back = CascadeArtifact.from_dict(old)
    assert back.decoding is None and back == dataclasses.replace(art, decoding=None)
    assert "decoding" not in back.to_dict()
    assert back.describe() == back.best.describe()
    plain = dataclasses.replace(spec, training=TrainingOptions(max_epochs=1))
    assert stages.candidate_views(plain) == [stages.model_view(spec.query)]
    assert np.asarray(store.frames("full50-lr2")).shape == np.asarray(store.frames("full50")).shape


class ShapeRecorder:
    """A reference that asks for pixels (as SSD does) and records the shape of every frame it is shown."""

    needs_pixels = True

    def __init__(self, inner) -> None:
        self._inner = inner
        self.shapes: set[tuple[int, ...]] = set()

    def detect(self, frames, indices):
        self.shapes.update(np.asarray(f).shape for f in frames)
        return self._inner.detect(frames, indices)

    def __getattr__(self, attr):
        return getattr(self._inner, attr)


def test_a_reduced_resolution_cascade_reads_its_view_and_the_reference_gets_exact_frames(camera):
    from noscope_core.cascade.execute import Cascade
    from noscope_core.optimizer.cascade_artifact import load_cascade

    spec, store, labels, detector, prepared, root = camera
    folder = root / "work" / "views" / "full50-lr2"
    lr2 = next(v for v in store.views if v.name == "full50-lr2")
    models = stages.model_artifact.load_models(folder / "models", spec.query)
    dds = stages.difference_artifact.load_difference(folder / "difference", spec.query)
    art = stages.optimize(
        spec, store, labels, models, dds, models_dir=folder / "models", dd_dir=folder / "difference", view=lr2
    )
    assert art.view == lr2 and art.keyframe_plan is None  # keyframe-first plans are priced for exact views only
    built = load_cascade(art, detector, folder / "models", folder / "difference")
    # every frame the model sees goes on to the reference, so both paths hand it pixels
    config = dataclasses.replace(
        built.config, skip=1, dd_name=None, dd_threshold=0.0, dd_reference=None, c_low=0.0, c_high=1.0
    )
    ref = ShapeRecorder(detector)
    cascade = Cascade(config, ref, spec.query, lr2, model=built.model)
    result = test_segment.run_on_segment(cascade, art, store, labels.segments.test, spec.video, certify=None)
    assert result.reference_call_fraction > 0.5
    assert ref.shapes == {(96, 128, 3)}  # full size, although the view was decoded at a quarter of it
    assert result.labels_agree_e2e == 1.0  # stored and streamed frames of the lr2 view agree


def test_views_compete_by_expected_certified_cost_when_the_answers_are_certified(camera):
    spec, store, labels, detector, prepared, root = camera
    art = stages.optimize(spec, store, labels, prepared.models, prepared.dds, keyframe_first=False)
    costs = _costs({"full50": 1.0})
    assert price_option("", art, costs).cascade_ms == art.best.cost_ms  # the point rule: its stages
    planned = dataclasses.replace(
        art.best, expected_certified_cost_ms=art.best.cost_ms + 7.0, expected_certify_decode_ms=0.5
    )
    certified = dataclasses.replace(art, rule="certified", best=planned)
    option = price_option("", certified, costs)
    assert option.certified and option.cascade_ms == pytest.approx(art.best.cost_ms + 7.5)
    assert "(certified at 0.95)" in decide_decoding({"full50": option}, "full50", {"full50": ""}).describe(
        Targets(0.01, 0.01, 0.95)
    )


def test_the_camera_s_planner_estimate_is_what_the_certified_planner_prices_with(camera):
    spec, store, labels, detector, prepared, root = camera
    certified = dataclasses.replace(spec, targets=Targets(0.1, 0.1, 0.95))
    default = stages.optimize(certified, store, labels, prepared.models, prepared.dds, keyframe_first=False)
    mild = stages.optimize(
        dataclasses.replace(certified, planner_estimate="mild"), store, labels, prepared.models, prepared.dds,
        keyframe_first=False, stage_costs=default.costs,
    )  # fmt: skip
    assert default.estimator == "margin" and mild.estimator == "mild"
    # the same cascades, priced with twice the errors (or more certificate frames) by default
    by_config = {c.config: c for c in mild.frontier}
    pairs = [(c, by_config[c.config]) for c in default.frontier if c.config in by_config and c.answer_shape]
    assert pairs and all(d.answer_shape.missed >= m.answer_shape.missed for d, m in pairs)
    assert any(d.answer_shape.missed > m.answer_shape.missed for d, m in pairs)
