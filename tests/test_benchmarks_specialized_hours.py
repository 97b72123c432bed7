"""``benchmarks.specialized_hours``: thresholds set on hour 1's threshold segment are read on the later hours, and
the table splits false positives by the score SSD gave the frame."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import specialized_hours as sh


def _judged(shift: float = 0.0) -> sh.Judged:
    """Threshold segment: negatives 0.00..0.99, positives 1.00..1.99 (100 each); the sample the same, shifted."""
    scores = np.concatenate([np.arange(100) / 100, 1 + np.arange(100) / 100])
    truth = np.arange(200) >= 100
    return sh.Judged(scores, truth, scores + shift, truth)


def test_thresholds_come_from_the_threshold_segment_and_are_read_on_the_sample():
    same = sh.as_the_cascade_runs(_judged(), 0.06)  # separable: one threshold (0.995) between 1.01 and 0.98
    assert same == {"to_reference": 0.0, "fnr": 0.0, "fpr": 0.0}
    drifted = sh.as_the_cascade_runs(_judged(shift=0.5), 0.06)  # later hours score higher: FPR grows, FNR stays 0
    assert drifted["fnr"] == 0.0 and drifted["fpr"] == pytest.approx(0.50)
    scores = np.concatenate([np.arange(100) / 100, 0.5 + np.arange(100) / 100])  # overlapping on [0.5, 1)
    truth = np.arange(200) >= 100
    band = sh.as_the_cascade_runs(sh.Judged(scores, truth, scores, truth), 0.06)  # low = 0.51, high = 0.98
    assert band["to_reference"] == pytest.approx(0.48)  # 48 negatives and 48 positives in [0.51, 0.98]
    assert band["fnr"] == pytest.approx(0.01) and band["fpr"] == pytest.approx(0.01)


def test_false_positives_are_split_by_ssds_score():
    j = _judged(shift=0.5)
    ssd = np.zeros(200)
    ssd[90:100] = 0.45  # SSD saw someone, below the query's 0.5
    ssd[80:85] = 0.35
    split = sh.false_positive_scores(j, ssd, 0.06)
    assert split["false_positives"] == 51
    assert (split["ssd_0.4_0.5"], split["ssd_0.3_0.4"], split["ssd_none"]) == (10, 5, 36)


def test_render_names_every_variant_and_the_aim():
    j = _judged()
    row = {"name": "base", **sh.measures(j), "fps": 1000.0, "train_seconds": 12.0, "note": "x"}
    row["false_positives_0.05"] = sh.false_positive_scores(j, np.zeros(200), 0.05)
    meta = {
        "date_utc": "today", "commit": "abc", "machine": "m", "split": "0.6/0.39/0.01", "train_frames": 10,
        "hours": "2-7", "sample_frames": 200, "sample_positive_share": 0.5,
    }  # fmt: skip
    text = sh.render({"meta": meta, "variants": [row]})
    assert "| base | 1.0000 |" in text and "0.33 % at 1 %" in text


def test_the_base_variant_reads_the_pipelines_model_view():
    """The rows are compared with the models the pipeline trains: the base must see exactly their input."""
    from noscope_core.spec.query import ROI, Query
    from noscope_core.video.views import model_view

    query = Query("person", ROI(0.0, 0.5, 0.5, 1.0))
    base = next(v for v in sh.VARIANTS if v.name == "base")
    assert base.view() == model_view(query) and base.model_spec().name == "c1-f32-d32-s2"
