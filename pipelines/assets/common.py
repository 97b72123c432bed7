"""What every asset shares: the group and partitions, reopening upstream artifacts, tracker guards, metadata helpers.

Nothing here computes anything NoScope-specific; the engine's stages (``noscope_core.flows.stages``) do that.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from pipelines.partitions import cameras_partitions

GROUP = "noscope"

#: shared by every asset: partitioned by camera, in one group, manifests through the default IO manager
ASSET_KW: dict[str, Any] = {"partitions_def": cameras_partitions, "group_name": GROUP}

#: where ``noscope mlflow-ui`` serves; the link on each materialization points there
MLFLOW_UI = os.environ.get("NOSCOPE_MLFLOW_UI", "http://127.0.0.1:5000").rstrip("/")


def open_store(decoded: dict):
    """Reopen the frame store a ``decoded_frames`` manifest names (memory-mapped, nothing copied)."""
    from noscope_core.video.framestore import FrameStore

    return FrameStore.open(decoded["store"])


def footage_files(camera) -> list[Path]:
    """The camera's new footage, less hidden files: copy tools write ``.name.avi`` until a file is complete."""
    from noscope_core.spec.registry import new_footage

    return [p for p in new_footage(camera) if not p.name.startswith(".")]


def load_labels(labels: dict):
    from noscope_core.reference.label_artifact import LabelSet

    return LabelSet.load(labels["labels"])


def tracking(tracker) -> bool:
    """False when the tracker is switched off (``enabled: false``): the assets then run without MLflow."""
    return bool(getattr(tracker, "enabled", True))


def mlflow_link(run_id: str | None, tracker=None) -> dict[str, dg.MetadataValue]:
    """The run id and a link to the run's page, on MLflow's classic training view when the tracker is given."""
    if not run_id:
        return {"mlflow_run_id": dg.MetadataValue.text("(MLflow tracking disabled)")}
    url = f"{MLFLOW_UI}/#/runs/{run_id}"
    if tracker is not None:
        try:
            url = tracker.run_link(run_id, MLFLOW_UI)
        except Exception:  # noqa: BLE001 - a link is not worth failing the step over
            pass
    return {"mlflow_run_id": dg.MetadataValue.text(run_id), "mlflow_run": dg.MetadataValue.url(url)}


def end_failed(tracker, run_id: str | None) -> None:
    """Mark the training run FAILED when a step dies, so MLflow shows no run left open forever."""
    if run_id and tracking(tracker):
        try:
            tracker.end(run_id, status="FAILED")
        except Exception:  # noqa: BLE001 - the step's own error is the one to report
            pass


def md_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """A markdown table of ``rows``; ``columns`` are (key, heading); floats are shown with 3 significant digits."""

    def cell(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v).replace("|", "\\|")

    head = "| " + " | ".join(h for _, h in columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(cell(r.get(k)) for k, _ in columns) + " |" for r in rows]
    return "\n".join([head, sep, *body]) + "\n"
