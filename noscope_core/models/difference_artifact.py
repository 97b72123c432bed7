"""The difference-detector folder: every detector fitted on the train segment, saved with its index, loaded back."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from noscope_core.common.artifacts import read_index
from noscope_core.common.atomic import atomic_dir, write_json
from noscope_core.common.errors import ArtifactError
from noscope_core.models.difference import DifferenceDetector, default_difference_specs
from noscope_core.reference.label_artifact import LabelSet
from noscope_core.spec.query import Query
from noscope_core.video.views import ViewSpec, model_view


def fit_difference(
    store, labels: LabelSet, out_dir: str | Path, specs: Sequence | None = None, view: ViewSpec | None = None
) -> list:
    """Fit every difference detector on the train segment (of ``view``, default the query's model view), save them."""
    view = view or model_view(labels.query)
    frames = np.asarray(store.frames(view)[labels.segments.train.indices()])
    y = labels.segment("train").label
    dds = [DifferenceDetector(spec).fit(frames, y) for spec in (specs or default_difference_specs())]
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        for dd in dds:
            dd.save(tmp / f"{dd.spec.name}.npz")
        write_json(
            tmp / "index.json",
            {
                "query_key": labels.query.key(),
                "detectors": [{"name": dd.spec.name, "file": f"{dd.spec.name}.npz"} for dd in dds],
            },
        )
    return dds


def load_difference(dd_dir: str | Path, query: Query | None = None) -> list:
    index = read_index(Path(dd_dir) / "index.json", "difference detectors")
    if query is not None and index.get("query_key") != query.key():
        raise ArtifactError(f"the difference detectors in {dd_dir} were fitted for another query", "re-fit them")
    return [DifferenceDetector.load(Path(dd_dir) / d["file"]) for d in index["detectors"]]
