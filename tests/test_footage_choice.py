"""Planning for the footage answered: the priced frontier re-priced for a file's own length, the cheapest expected
certified answer run (the reference alone on a short file, saying from what length a cascade pays), only among
candidates whose pieces exist, and ``noscope apply`` recording which candidate ran and why."""

from __future__ import annotations

import dataclasses
import json

import pytest

from noscope_core.cascade.routing import CascadeConfig
from noscope_core.flows.apply_flow import TrainedCascade, apply_to_video
from noscope_core.guarantees.certify_answer import CertifyOptions
from noscope_core.optimizer import cascade_artifact
from noscope_core.optimizer.candidate import Candidate
from noscope_core.optimizer.cascade_artifact import CascadeArtifact
from noscope_core.optimizer.certified_cost import AnswerShape, certified_estimate
from noscope_core.optimizer.footage_choice import choose_for_footage, price_for_footage
from noscope_core.spec.camera import Targets
from tests.counting_reference import SCENE

REF_MS = 20.0
TARGETS = Targets(0.05, 0.05, 0.95)


def _reference_only() -> Candidate:
    shape = AnswerShape.of_counts(1_000, 300, 0, 0, n_ref=1_000, ref_positive=300)
    return Candidate(CascadeConfig.reference_only(), 0.0, 0.0, REF_MS, 1.0, 1.0, answer_shape=shape)


def _skipping(skip: int, fnr: float) -> Candidate:
    """Every ``skip``-th frame to the reference: the rest carry its label (misses ``fnr`` of the positives)."""
    n, positives = 1_000, 300
    shape = AnswerShape.of_counts(n, positives, fnr * positives, 0.0, n_ref=n // skip, ref_positive=positives // skip)
    return Candidate(CascadeConfig(skip=skip), fnr, 0.0, REF_MS / skip, 1.0 / skip, float(skip), answer_shape=shape)


def _expected_ms(c: Candidate, n: int) -> float:
    return certified_estimate(c.answer_shape, c.cost_ms, REF_MS, n, 0.05, 0.05, 0.95).cost_ms


def test_a_short_answer_goes_to_the_reference_and_says_from_what_length_a_cascade_pays():
    ref, cheap = _reference_only(), _skipping(6, 0.01)
    assert _expected_ms(cheap, 160) > REF_MS > _expected_ms(cheap, 20_000)  # the premise: length decides
    short = choose_for_footage([cheap, ref], cheap, footage_frames=160, reference_ms=REF_MS, targets=TARGETS, fps=10)
    assert short.chosen.config.is_reference_only and short.changed
    assert short.chosen.expected_certify_frames == 0.0 and short.chosen.footage_frames == 160
    assert "the reference on every frame" in short.reason and "pays from about" in short.reason
    assert "planned: " + cheap.describe() in short.reason

    long = choose_for_footage([cheap, ref], ref, footage_frames=20_000, reference_ms=REF_MS, targets=TARGETS)
    assert long.chosen.config == cheap.config and long.chosen.footage_frames == 20_000
    assert long.chosen.expected_certified_cost_ms == pytest.approx(_expected_ms(cheap, 20_000))
    assert f"expected {long.chosen.expected_speedup_certified:.3g}x certified" in long.reason


def test_the_longer_the_footage_the_cheaper_and_riskier_the_cascade_it_pays_to_certify():
    ref, safe, risky = _reference_only(), _skipping(3, 0.0), _skipping(30, 0.02)
    chosen = {}
    for n in (500, 5_000, 5_000_000):
        c = choose_for_footage([ref, safe, risky], ref, footage_frames=n, reference_ms=REF_MS, targets=TARGETS)
        priced = [price_for_footage(x, n, REF_MS, TARGETS, None) for x in (ref, safe, risky)]
        assert c.chosen.certified_total_ms == min(x.certified_total_ms for x in priced)  # the argmin, no other
        chosen[n] = c.chosen.config.skip
    assert chosen[500] <= chosen[5_000] <= chosen[5_000_000] and chosen[5_000_000] == 30


def test_only_candidates_with_their_pieces_or_a_shape_compete():
    ref, cheap = _reference_only(), _skipping(6, 0.01)
    absent = choose_for_footage(
        [cheap, ref], cheap, footage_frames=20_000, reference_ms=REF_MS, targets=TARGETS,
        available=lambda c: c.config.is_reference_only,
    )  # fmt: skip
    assert absent.chosen.config.is_reference_only and absent.considered == 1
    unshaped = dataclasses.replace(cheap, answer_shape=None)
    assert choose_for_footage([unshaped], unshaped, footage_frames=100, reference_ms=REF_MS, targets=TARGETS) is None
    point = Targets(0.05, 0.05, None)  # NoScope's point rule certifies nothing: nothing to price
    assert choose_for_footage([cheap, ref], cheap, footage_frames=100, reference_ms=REF_MS, targets=point) is None


def test_the_certificates_frames_are_decoded_too():
    cheap = _skipping(6, 0.01)
    plain = price_for_footage(cheap, 5_000, REF_MS, TARGETS, None)
    decoded = price_for_footage(cheap, 5_000, REF_MS, TARGETS, 2.0)
    assert plain.expected_certify_decode_ms is None
    assert decoded.expected_certify_decode_ms == pytest.approx(2.0 * decoded.expected_certify_frames / 5_000)
    assert decoded.certified_total_ms == pytest.approx(plain.certified_total_ms + decoded.expected_certify_decode_ms)


# --- the artifact and noscope apply ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A cascade artifact planned (for an hour) with the skip-6 cascade and the reference priced on its frontier."""
    from noscope_core.flows import stages
    from noscope_core.footage.synthetic.scene import SyntheticScene
    from noscope_core.footage.synthetic.write import write_synthetic_video
    from noscope_core.reference import label_artifact
    from noscope_core.reference.detectors.synthetic import SyntheticDetector
    from noscope_core.spec.camera import CameraSpec
    from noscope_core.spec.query import Query

    root = tmp_path_factory.mktemp("footage")
    video = write_synthetic_video(root / "cam.avi", 200, SyntheticScene(**SCENE))
    store = stages.decode(CameraSpec(video, Query("car")), root / "store", progress=False)
    labels = label_artifact.label_segments(
        store, SyntheticDetector(video, REF_MS), Query("car"), (0.25, 0.25, 0.5), ("train", "threshold"), progress=False
    )
    base = cascade_artifact.reference_only_artifact(labels, store, TARGETS, "asked for in a test")
    ref = dataclasses.replace(_reference_only(), cost_ms=base.costs.reference_ms)
    cheap = _skipping(6, 0.01)
    cheap = dataclasses.replace(cheap, cost_ms=base.costs.reference_ms / 6)
    art = dataclasses.replace(
        base, best=cheap, frontier=(cheap, ref), fell_back=False, reason=None, rule="certified", footage_frames=36_000
    )
    path = root / "trained" / "cascade.json"
    art.save(path)
    short = write_synthetic_video(root / "short.avi", 120, SyntheticScene(**{**SCENE, "seed": 5}))
    long = write_synthetic_video(root / "long.avi", 3_000, SyntheticScene(**{**SCENE, "seed": 6}))
    return path, short, long


def test_the_artifact_re_planned_for_a_footage_round_trips(trained):
    path, *_ = trained
    art = CascadeArtifact.load(path)
    short = art.for_footage(120)
    assert short.fell_back and short.best.config.is_reference_only and short.footage_frames == 120
    assert short.reason == short.footage_choice.reason and "pays from about" in short.reason
    assert CascadeArtifact.from_dict(json.loads(json.dumps(short.to_dict()))) == short
    assert art.footage_choice is None and "footage_choice" not in art.to_dict()  # planned artifacts keep their shape


def test_apply_runs_the_cascade_planned_for_the_files_length(trained):
    from noscope_core.reference.detectors.synthetic import SyntheticDetector

    path, short, long = trained
    cascade = TrainedCascade.load(path)
    on_short = apply_to_video(cascade, short, SyntheticDetector(short, REF_MS)).to_dict()
    assert on_short["cascade"]["config"]["skip"] == 1 and on_short["fell_back"] and on_short["certified"]
    assert on_short["footage_choice"]["changed"] and on_short["footage_choice"]["footage_frames"] == 120
    assert "pays from about" in on_short["fallback_reason"] and on_short["certify_frames"] == 0

    on_long = apply_to_video(cascade, long, SyntheticDetector(long, REF_MS)).to_dict()
    assert on_long["cascade"]["config"]["skip"] == 6 and not on_long["fell_back"]
    choice = on_long["footage_choice"]
    assert not choice["changed"] and choice["footage_frames"] == 3_000
    assert "certified on this answer of 3,000 frames" in choice["reason"]
    assert on_long["cascade"]["expected_speedup_certified"] == choice["expected_speedup_certified"]

    # switched off, the planned cascade runs whatever the length: nothing is certified, nothing to price
    plain = apply_to_video(cascade, short, SyntheticDetector(short, REF_MS), certify=CertifyOptions(enabled=False))
    assert plain.artifact.best.config.skip == 6 and plain.artifact.footage_choice is None


def test_noscope_apply_prints_the_choice(trained, tmp_path, capsys):
    from noscope_cli.main import main

    path, short, _ = trained
    out = tmp_path / "answer.json"
    assert main(["apply", str(path), str(short), "--json", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "planned for it   the reference on every frame" in printed and "pays from about" in printed
    assert json.loads(out.read_text())["footage_choice"]["chosen"]["config"]["skip"] == 1


def test_a_declared_reference_labels_the_route_once_across_answers(trained, tmp_path):
    """The reference's own route (here: every frame of a short file) lands in the file's detection cache like the
    certificate's draws, so a killed or repeated answer does not pay the reference for those frames again; read
    back, each frame is still charged the reference's declared cost."""
    from noscope_core.reference.detection_cache import DetectionCache
    from noscope_core.reference.detectors.synthetic import SyntheticDetector

    path, short, _ = trained
    cascade = TrainedCascade.load(path)
    answers, calls = [], []
    for _ in range(2):
        detector = SyntheticDetector(short, REF_MS)
        cache = DetectionCache(tmp_path / "detections", "short", detector.identity())
        answers.append(apply_to_video(cascade, short, detector, cache=cache, route_cache=True).to_dict())
        calls.append(detector._frames_timed)
    assert answers[0]["cascade"]["config"]["skip"] == 1 and calls == [120, 0]
    assert answers[1]["intervals"] == answers[0]["intervals"]
    assert answers[1]["cascade_fps"] == pytest.approx(answers[0]["cascade_fps"], rel=0.05)
