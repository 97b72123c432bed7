"""The model-variant benchmark's held-out figures on hand-made scores."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import specialized_variants as sv


def test_recall_at_fpr_counts_positives_above_the_negatives_quantile():
    neg = np.linspace(0.0, 0.5, 1000)  # 1 % of them (10) above 0.495
    pos = np.array([0.2, 0.49, 0.496, 0.6, 0.9])
    scores = np.concatenate([neg, pos])
    truth = np.concatenate([np.zeros(1000, bool), np.ones(5, bool)])
    assert sv.recall_at_fpr(scores, truth, 0.01) == pytest.approx(3 / 5)
    assert np.isnan(sv.recall_at_fpr(neg, np.zeros(1000, bool)))


def test_reference_share_is_the_band_between_the_two_thresholds():
    rng = np.random.default_rng(0)
    neg, pos = rng.uniform(0.0, 0.6, 900), rng.uniform(0.4, 1.0, 100)
    scores, truth = np.concatenate([neg, pos]), np.concatenate([np.zeros(900, bool), np.ones(100, bool)])
    share = sv.reference_share(scores, truth, 0.0, 0.0)  # no error allowed: everything in [min pos, max neg]
    assert share == pytest.approx(np.mean((scores >= pos.min()) & (scores <= neg.max())))
    # separable scores send nothing to the reference; a looser target never sends more
    assert sv.reference_share(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1], bool), 0.0, 0.0) == 0.0
    assert sv.reference_share(scores, truth, 0.05, 0.05) <= share


def test_variants_differ_from_the_base_in_named_ways():
    names = [v.name for v in sv.VARIANTS]
    assert len(set(names)) == len(names) and names[0] == "base"
    for v in sv.VARIANTS:
        assert v.model_spec().input_size == v.view().size  # a model reads its own view
