"""The promise end to end: an answer certified on its own frames, its bounds in the JSON, its reference frames in
the speed-up, and ``noscope apply`` on new footage (arguments checked before any work)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from noscope_core.cascade.routing import CascadeConfig
from noscope_core.flows import stages, test_segment
from noscope_core.flows.apply_flow import TrainedCascade, apply_to_video
from noscope_core.guarantees.certify_answer import CertifyOptions
from noscope_core.optimizer import cascade_artifact
from noscope_core.optimizer.search import Candidate
from noscope_core.reference import label_artifact
from noscope_core.spec.camera import CameraSpec, Targets
from noscope_core.spec.query import Query
from tests.counting_reference import SCENE, CountingReference

PROMISE_KEYS = {
    "confidence", "fnr_bound", "fpr_bound", "threshold_fnr_bound", "threshold_fpr_bound", "certified",
    "certify_frames", "tighten_frames", "certify_seed", "certify_reason", "fell_back", "fallback_reason", "fnr",
    "fpr", "speedup", "speedup_e2e",
}  # fmt: skip


def skipping(art, skip: int, targets: Targets):
    """A cheap cascade without trained parts: every ``skip``-th frame to the reference, the rest carry its label
    (it errs where the object comes or goes between two evaluated frames)."""
    config = CascadeConfig(skip=skip)
    best = Candidate(config, 0.0, 0.0, art.costs.reference_ms / skip, 1.0 / skip, float(skip), 0.01, 0.02)
    return dataclasses.replace(art, best=best, frontier=(best,), fell_back=False, reason=None, targets=targets)


@pytest.fixture(scope="module")
def camera(tmp_path_factory):
    from noscope_core.footage.synthetic.scene import SyntheticScene
    from noscope_core.footage.synthetic.write import write_synthetic_video
    from noscope_core.reference.detectors.synthetic import SyntheticDetector

    root = tmp_path_factory.mktemp("promise")
    video = write_synthetic_video(root / "cam.avi", 400, SyntheticScene(**SCENE))
    query = Query("car")
    store = stages.decode(CameraSpec(video, query), root / "store", progress=False)
    detector = SyntheticDetector(video, cost_ms_per_frame=20.0)
    labels = label_artifact.label_segments(
        store, detector, query, (0.25, 0.25, 0.5), ("train", "threshold", "test"), progress=False
    )
    art = cascade_artifact.reference_only_artifact(labels, store, Targets(), "asked for in a test")
    return root, video, store, labels, detector, art


def _run(camera, targets: Targets, certify: CertifyOptions, skip: int = 8):
    root, video, store, labels, detector, art = camera
    art = skipping(art, skip, targets)
    counting = CountingReference(detector)
    cascade = cascade_artifact.load_cascade(art, counting, None, None)
    truth = labels.segment("test").label
    result = test_segment.run_on_segment(cascade, art, store, labels.segments.test, video, truth=truth, certify=certify)
    return result, counting


def test_a_certified_answer_reports_its_bounds_and_they_cover_the_measured_error(camera):
    result, counting = _run(camera, Targets(0.3, 0.3, 0.95), CertifyOptions(budget_frames=150))
    data = result.to_dict()
    assert PROMISE_KEYS <= set(data)
    assert data["confidence"] == 0.95 and data["threshold_fnr_bound"] == 0.01
    assert data["fnr"] <= data["fnr_bound"] and data["fpr"] <= data["fpr_bound"]
    assert 0 < data["certify_frames"] + data["tighten_frames"] <= 150
    if data["certified"]:
        assert data["fnr_bound"] <= 0.3 and data["fpr_bound"] <= 0.3
    else:
        assert "could not certify" in data["certify_reason"]
    # the certification's frames went to the reference, and were charged to the speed-up
    checked = data["certify_frames"] + data["tighten_frames"]  # random draws and frames chosen: both paid for
    assert counting.frames_seen >= data["reference_calls"] + checked
    assert data["certify_seconds"] == pytest.approx(checked / data["reference_fps"])
    assert isinstance(data["certify_seed"], int)


def test_certification_corrects_the_answer_and_costs_speed(camera):
    plain, _ = _run(camera, Targets(0.3, 0.3, 0.95), CertifyOptions(enabled=False))
    checked, _ = _run(camera, Targets(0.3, 0.3, 0.95), CertifyOptions(budget_frames=150))
    assert plain.certificate is None and not plain.to_dict()["certified"]
    assert plain.to_dict()["fnr_bound"] is None and "--no-certify" in plain.certify_reason
    assert checked.fnr + checked.fpr <= plain.fnr + plain.fpr  # reference labels replace the cascade's
    assert checked.speedup < plain.speedup


def test_a_broken_promise_says_so(camera):
    result, _ = _run(camera, Targets(0.0, 0.0, 0.95), CertifyOptions(budget_frames=10), skip=20)
    assert not result.certified
    assert result.certify_reason.startswith("could not certify")


def test_the_point_rule_certifies_nothing(camera):
    result, counting = _run(camera, Targets(0.3, 0.3, None), CertifyOptions())
    assert result.certificate is None and "point rule" in result.certify_reason
    assert counting.frames_seen == 2 * result.reference_calls  # the stored-frame run and the streaming one, no more


def test_a_reference_only_answer_is_exact_and_spends_nothing_to_certify(camera):
    root, video, store, labels, detector, art = camera
    cascade = cascade_artifact.load_cascade(art, detector, None, None)
    result = test_segment.run_on_segment(
        cascade, art, store, labels.segments.test, video, truth=labels.segment("test").label
    )
    data = result.to_dict()
    assert data["certified"] and data["fnr_bound"] == 0.0 and data["certify_frames"] == 0
    assert data["fell_back"] and data["fallback_reason"] == "asked for in a test"


@pytest.fixture(scope="module")
def trained(camera):
    root, video, store, labels, detector, art = camera
    path = root / "trained" / "cascade.json"
    skipping(art, 6, Targets(0.3, 0.3, 0.95)).save(path)
    return path


@pytest.fixture(scope="module")
def new_video(camera):
    from noscope_core.footage.synthetic.scene import SyntheticScene
    from noscope_core.footage.synthetic.write import write_synthetic_video

    return write_synthetic_video(camera[0] / "later.avi", 160, SyntheticScene(**{**SCENE, "seed": 5}))


def test_apply_answers_new_footage_with_a_certificate(trained, new_video):
    from noscope_core.reference.detectors.synthetic import SyntheticDetector

    result = apply_to_video(TrainedCascade.load(trained), new_video, SyntheticDetector(new_video, 20.0))
    data = result.to_dict()
    assert PROMISE_KEYS <= set(data) and data["frames_test"] == 160
    assert data["certify_frames"] > 0 and data["certify_reason"]
    assert all(0 <= a < b <= 160 for a, b in data["intervals"])


def test_noscope_apply_writes_the_same_json_per_video(trained, new_video, tmp_path, capsys):
    from noscope_cli.main import main

    out = tmp_path / "answers.json"
    argv = ["apply", str(trained), str(new_video), str(new_video), "--certify-budget", "60", "--json", str(out)]
    assert main([*argv, "--quiet"]) == 0
    answers = json.loads(out.read_text())
    assert len(answers) == 2 and all(PROMISE_KEYS <= set(a) for a in answers)
    assert all(a["certify_frames"] + a["tighten_frames"] <= 60 for a in answers)
    assert answers[0]["certify_seed"] != answers[1]["certify_seed"]  # fresh draws for every answer
    printed = capsys.readouterr().out
    assert "bound, this test" in printed and ("PROMISE KEPT" in printed or "PROMISE NOT MET" in printed)


def test_noscope_apply_fixes_the_seed_only_when_asked(trained, new_video, tmp_path, capsys):
    from noscope_cli.main import main

    out = tmp_path / "seeded.json"
    assert main(["apply", str(trained), str(new_video), "--certify-seed", "7", "--json", str(out), "--quiet"]) == 0
    data = json.loads(out.read_text())
    assert data["certify_seed"] == 7 and data["certify_budget"] is None and data["certified"]
    assert "draws seeded 7" in capsys.readouterr().out


def test_noscope_apply_keeps_the_certificates_labels_in_the_files_cache(trained, new_video, tmp_path, monkeypatch):
    """A killed long answer must not lose what its certificate paid the reference for: every frame it checked is in
    the file's detection cache under $NOSCOPE_HOME, and a second answer reads them instead of labelling again."""
    from noscope_cli.main import main
    from noscope_core.reference.detection_cache import home_detection_cache
    from noscope_core.reference.detectors.synthetic import SyntheticDetector
    from noscope_core.video.probe import probe_video

    monkeypatch.setenv("NOSCOPE_HOME", str(tmp_path / "home"))
    out = tmp_path / "cached.json"
    assert main(["apply", str(trained), str(new_video), "--certify-seed", "3", "--json", str(out), "--quiet"]) == 0
    data = json.loads(out.read_text())
    checked = data["certify_frames"] + data["tighten_frames"]
    assert checked > 0
    info = probe_video(new_video)
    cache = home_detection_cache(info.fingerprint, SyntheticDetector(new_video, 20.0))
    labelled = info.frame_count - len(cache.missing(range(info.frame_count)))
    assert labelled >= checked
    assert main(["apply", str(trained), str(new_video), "--certify-seed", "3", "--json", str(out), "--quiet"]) == 0
    again = json.loads(out.read_text())
    assert (again["fnr_bound"], again["fpr_bound"], again["certify_frames"]) == (
        data["fnr_bound"], data["fpr_bound"], data["certify_frames"],
    )  # fmt: skip


def test_apply_of_a_reference_only_cascade_is_timed_by_its_own_run(camera, new_video):
    """Found on review: the reference timed on 16 frames after the run printed 1.4x for the reference itself."""
    root, video, store, labels, detector, art = camera
    path = root / "fallback" / "cascade.json"
    art.save(path)
    result = apply_to_video(TrainedCascade.load(path), new_video, detector)
    assert result.certificate.reason.startswith("exact")
    assert result.speedup == pytest.approx(1.0, abs=1e-9) and result.speedup_e2e == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (lambda t, v, tmp: [str(t), str(tmp / "missing.avi")], "missing.avi"),
        (lambda t, v, tmp: [str(t), str(tmp)], "is a folder"),
        (lambda t, v, tmp: [str(t), str(v), "--json", str(tmp)], "--json"),
        (lambda t, v, tmp: [str(t), str(v), "--json", str(tmp / "no" / "a.json")], "does not exist"),
        (lambda t, v, tmp: [str(t), str(v), "--certify-budget", "-5"], "--certify-budget"),
        (lambda t, v, tmp: [str(t), str(v), "--certify-seed", "-1"], "--certify-seed"),
        (lambda t, v, tmp: [str(tmp / "nope.json"), str(v)], "nope.json"),
        (lambda t, v, tmp: [str(t), str(v), "--confidence", "2"], "confidence"),
    ],
)
def test_apply_checks_every_argument_before_any_work(trained, new_video, tmp_path, capsys, args, fragment):
    from noscope_cli.main import main

    code = main(["apply", *args(trained, new_video, tmp_path), "--quiet"])
    captured = capsys.readouterr()
    assert code != 0 and captured.out == ""
    lines = [ln for ln in captured.err.splitlines() if ln.startswith("noscope: error:")]
    assert len(lines) == 1 and fragment in lines[0], captured.err


def test_apply_refuses_a_file_that_is_not_a_video(trained, tmp_path, capsys):
    from noscope_cli.main import main

    fake = tmp_path / "fake.avi"
    fake.write_bytes(b"not a video at all")
    assert main(["apply", str(trained), str(fake), "--quiet"]) != 0
    assert "fake.avi" in capsys.readouterr().err


def test_apply_certified_bounds_cover_the_error_on_new_footage(trained, new_video):
    from noscope_core.reference.detectors.synthetic import SyntheticDetector
    from noscope_core.reference.labels import label_frames

    detector = SyntheticDetector(new_video, 20.0)
    result = apply_to_video(TrainedCascade.load(trained), new_video, detector, certify=CertifyOptions(budget_frames=80))
    idx = np.arange(160)
    truth = label_frames(idx, detector.detect([], idx.tolist()), Query("car")).label
    labels = np.zeros(160, dtype=bool)
    for a, b in result.intervals:
        labels[a:b] = True
    fn = np.sum(truth & ~labels) / max(1, truth.sum())
    fp = np.sum(~truth & labels) / max(1, (~truth).sum())
    assert fn <= result.certificate.fnr_bound + 1e-12 and fp <= result.certificate.fpr_bound + 1e-12


def test_apply_finds_a_registry_cameras_dagster_artifacts(trained, new_video, tmp_path, monkeypatch, capsys):
    import yaml

    from noscope_cli.main import main

    artifacts = tmp_path / "artifacts"
    (artifacts / "lobby" / "optimized_cascade").mkdir(parents=True)
    (artifacts / "lobby" / "optimized_cascade" / "cascade.json").write_bytes(trained.read_bytes())
    registry = tmp_path / "cameras.yaml"
    entry = {"id": "lobby", "video": str(new_video), "object": "car", "reference": "synthetic"}
    registry.write_text(yaml.safe_dump({"cameras": [entry]}))
    monkeypatch.setenv("NOSCOPE_CAMERAS", str(registry))
    monkeypatch.setenv("NOSCOPE_ARTIFACTS", str(artifacts))
    out = tmp_path / "a.json"
    assert main(["apply", "lobby", str(new_video), "--quiet", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["certify_frames"] > 0
    capsys.readouterr()
    assert main(["apply", "hall", str(new_video), "--quiet"]) != 0
    assert "neither a cascade.json nor a camera" in capsys.readouterr().err
