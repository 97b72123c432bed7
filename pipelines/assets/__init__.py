"""The per-camera asset graph and the jobs over it.

decoded_frames → reference_labels → {specialized_models, difference_detectors} → optimized_cascade → query_results
"""

from __future__ import annotations

import dagster as dg

from pipelines.assets.cascade import optimized_cascade
from pipelines.assets.common import GROUP
from pipelines.assets.frames import decoded_frames
from pipelines.assets.labels import reference_labels
from pipelines.assets.models import difference_detectors, specialized_models
from pipelines.assets.results import query_results
from pipelines.partitions import cameras_partitions

ASSETS = [
    decoded_frames,
    reference_labels,
    specialized_models,
    difference_detectors,
    optimized_cascade,
    query_results,
]

#: the whole graph for one camera (checks included): what the nightly schedule and the demo run
train_camera = dg.define_asset_job(
    "train_camera",
    selection=dg.AssetSelection.groups(GROUP),
    partitions_def=cameras_partitions,
    description="Decode, label, train, optimize and query one camera.",
)

#: only the answers: re-run the current cascade over the test segment and any new footage
query_camera = dg.define_asset_job(
    "query_camera",
    selection=dg.AssetSelection.assets(query_results),
    partitions_def=cameras_partitions,
    description="Run the camera's current cascade over its test segment and new footage files.",
)

JOBS = [train_camera, query_camera]

__all__ = ["ASSETS", "JOBS", "query_camera", "train_camera", *[a.key.path[-1] for a in ASSETS]]
