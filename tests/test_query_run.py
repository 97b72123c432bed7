"""``test_segment.run_on_segment``: what a query reports, and what it costs to report it."""

from __future__ import annotations

import pytest

from noscope_core.flows import stages, test_segment
from noscope_core.optimizer import cascade_artifact
from noscope_core.reference import label_artifact
from noscope_core.spec.camera import CameraSpec, Targets
from noscope_core.spec.query import Query
from tests.counting_reference import SCENE, CountingReference


@pytest.fixture()
def fallback(tmp_path):
    from noscope_core.footage.synthetic.scene import SyntheticScene
    from noscope_core.footage.synthetic.write import write_synthetic_video
    from noscope_core.reference.detectors.synthetic import SyntheticDetector

    video = write_synthetic_video(tmp_path / "cam.avi", 160, SyntheticScene(**SCENE))
    query = Query("car")
    store = stages.decode(CameraSpec(video, query), tmp_path / "store", progress=False)
    detector = SyntheticDetector(video, cost_ms_per_frame=20.0)
    labels = label_artifact.label_segments(
        store, detector, query, (0.5, 0.25, 0.25), ("train", "threshold", "test"), progress=False
    )
    art = cascade_artifact.reference_only_artifact(labels, store, Targets(), "asked for in a test")
    return video, store, labels, detector, art


def test_a_reference_only_cascade_runs_the_reference_once_over_the_test_segment(fallback):
    video, store, labels, detector, art = fallback
    counting = CountingReference(detector)
    cascade = cascade_artifact.load_cascade(art, counting, None, None)
    segment = labels.segments.test
    truth = labels.segment("test").label

    result = test_segment.run_on_segment(cascade, art, store, segment, video, truth=truth, e2e=True).to_dict()

    assert counting.frames_seen == len(segment)  # not once for the stored frames and again streaming
    assert result["fnr"] == 0.0 and result["fpr"] == 0.0
    assert result["reference_call_fraction"] == 1.0
    assert result["speedup_e2e"] == pytest.approx(1.0)  # the reference is its own end-to-end baseline
    assert result["speedup"] == pytest.approx(1.0)  # and its own baseline decode excluded, timed by the run itself
    assert result["cascade_fps_e2e"] == pytest.approx(result["reference_fps_e2e"])


def test_a_reference_only_answer_is_1x_whatever_a_separate_timing_of_the_reference_says(fallback, monkeypatch):
    # a loaded machine once timed 16 reference frames at 3.5 frames/s minutes after the run did 4: "1.2x" for a
    # cascade that is the reference; the run itself must be the reference's timing
    video, store, labels, detector, art = fallback
    monkeypatch.setattr(test_segment, "measure_cost_ms", lambda *a, **k: 1.0)
    cascade = cascade_artifact.load_cascade(art, detector, None, None)
    result = test_segment.run_on_segment(cascade, art, store, labels.segments.test, video, e2e=False)
    assert result.speedup == pytest.approx(1.0)


def test_a_run_divides_every_speedup_by_the_one_reference_timing_it_is_given(fallback, tmp_path):
    """The pipeline's run measures the reference once (labelling) and hands it on: the query reuses it, with
    its conditions, instead of timing the reference again; a reference-only answer stays 1x."""
    from noscope_core.reference.detect import ReferenceTiming

    video, store, labels, detector, art = fallback
    labels.save(tmp_path / "labels.npz")
    timing = label_artifact.LabelSet.load(tmp_path / "labels.npz").timing()  # kept in the labels artifact
    assert timing.ms_per_frame == labels.reference_ms and timing.how == labels.reference_timing
    assert timing.how == "declared (the camera's reference_fps), not timed"
    given = ReferenceTiming(40.0, "averaged over 80 frames detected while labelling, on host-x")
    cascade = cascade_artifact.load_cascade(art, detector, None, None)
    result = test_segment.run_on_segment(
        cascade, art, store, labels.segments.test, video, e2e=False, reference_timing=given
    ).to_dict()
    assert result["reference_fps"] == pytest.approx(25.0)
    assert result["reference_timing"] == given.how
    assert result["speedup"] == pytest.approx(1.0)  # the fallback is the reference: it runs at its one timing


def test_without_a_timing_the_query_times_the_reference_once_and_says_how(fallback):
    video, store, labels, detector, art = fallback
    cascade = cascade_artifact.load_cascade(art, detector, None, None)
    result = test_segment.run_on_segment(cascade, art, store, labels.segments.test, video, e2e=False)
    assert result.reference_timing.startswith(
        f"the answer itself: the reference on each of the {len(labels.segments.test)} frames"
    )
