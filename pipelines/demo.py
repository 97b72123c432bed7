"""``noscope demo``: run the whole asset graph for the registry's cameras headlessly, through the Dagster instance
in DAGSTER_HOME, so the runs, checks and metadata are in the UI afterwards (``make ui``)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from noscope_core.report import preview_intervals


def run_demo(camera: str | None = None, log: Callable[[str], None] = print) -> int:
    """Materialize ``train_camera`` for ``camera`` (default: every camera in the registry); 0 when all succeed."""
    from pipelines.servers import dagster_home

    home = dagster_home()  # before Dagster reads DAGSTER_HOME
    import dagster as dg

    from noscope_core.locks import file_lock
    from pipelines.definitions import defs
    from pipelines.partitions import sync_instance
    from pipelines.resources import CameraRegistry

    registry = CameraRegistry()
    cams = registry.cameras()
    todo = [registry.get(camera).camera_id] if camera else list(cams)
    job = defs.resolve_job_def("train_camera")
    failed = []
    # Two demos started together on a fresh DAGSTER_HOME both create its SQLite databases and collide in alembic
    # ("Version table 'alembic_version' has more than one head present"): open the instance under a lock.
    with file_lock(home / ".noscope-demo.lock"):
        instance = dg.DagsterInstance.get()  # a fresh DAGSTER_HOME creates its SQLite databases here
        try:
            plan = sync_instance(instance, cams)
        except BaseException:
            instance.dispose()
            raise
    with instance:
        log(f"Dagster instance {home}: {plan.describe()}")
        for cam_id in todo:
            log(f"\n=== camera {cam_id}: decode -> label -> train -> optimize -> query ===")
            result = job.execute_in_process(
                instance=instance,
                partition_key=cam_id,
                raise_on_error=False,
                tags={"noscope/camera": cam_id, "noscope/trigger": "demo"},
            )
            if result.success:
                log(summary(result))
            else:
                failed.append(cam_id)
                log(f"camera {cam_id}: run {result.run_id} FAILED")
                for ev in result.get_step_failure_events():
                    log(f"  step {ev.step_key}: {failure_message(ev)}")
    log("\nSee the runs, checks and metadata in the Dagster UI: make ui  (MLflow: make mlflow-ui)")
    if failed:
        print(f"noscope demo: {len(failed)} camera(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def failure_message(event) -> str:
    """What went wrong in a failed step: the engine's own error (e.g. ``video file not found: ...``), not
    Dagster's "Error occurred while executing op" wrapper around it."""
    err = event.step_failure_data.error
    while err is not None and err.cause is not None:
        err = err.cause
    return err.message.strip() if err is not None else "failed"


def _promise_line(test: dict) -> str:
    """The certified bounds beside the measured error, and whether the promise is kept, in words."""
    if test.get("fnr_bound") is None:
        return f"promise          none: {test.get('certify_reason')}"
    verdict = "KEPT" if test.get("certified") else "NOT MET"
    return (
        f"promise          {verdict}: FNR <= {100 * test['fnr_bound']:.2f}%  FPR <= {100 * test['fpr_bound']:.2f}% "
        f"at {test.get('confidence')} confidence ({test.get('certify_frames')} reference frames checked)"
    )


def summary(result) -> str:
    """Where a finished run put its artifacts, what the cascade answers and how the checks came out."""
    frames = result.output_for_node("decoded_frames")
    labels = result.output_for_node("reference_labels")
    cascade = result.output_for_node("optimized_cascade")
    query = result.output_for_node("query_results")
    test, targets = query["test"], query["targets"]
    checks = [
        f"{ev.check_name}: {'passed' if ev.passed else ('WARN' if ev.severity.value == 'WARN' else 'FAILED')}"
        for ev in result.get_asset_check_evaluations()
    ]
    iv = test["intervals"]
    shown = preview_intervals(iv)
    rates = ", ".join(f"{k} {100 * v:.1f}%" for k, v in labels["positive_rates"].items())
    lines = [
        f"run              {result.run_id}",
        f"video            {frames['video']} ({frames['width']}x{frames['height']}, {frames['fps']:g} fps)",
        f"frames           {frames['n_frames']} decoded at {frames['decode_fps']:.0f} frames/s"
        + (f", {frames['n_corrupt']} corrupt" if frames.get("n_corrupt") else ""),
        f"query            {labels['query_text']}",
        f"reference        {labels['reference']} at {labels['reference_fps']:.1f} frames/s",
        f"positive rate    {rates}",
        f"cascade          {query['cascade']}"
        + (f"  [FELL BACK: {cascade['reason']}]" if cascade["fell_back"] else ""),
        f"cascade.json     {cascade['cascade_json']}",
        f"frontier plot    {cascade['frontier_png']}",
        f"test results     {query['test_json']}",
        f"speed-up         {test['speedup']:.1f}x over the reference ({test['cascade_fps']:.0f} vs "
        f"{test['reference_fps']:.1f} frames/s, decode excluded)"
        + (f"; {test['speedup_e2e']:.1f}x end to end" if test.get("speedup_e2e") else ""),
        f"test error       FNR {100 * test['fnr']:.2f}%  FPR {100 * test['fpr']:.2f}%  "
        f"(targets {100 * targets['max_fnr']:g}% / {100 * targets['max_fpr']:g}%)",
        _promise_line(test),
        f"intervals        {len(iv)} positive in frames {test['test_segment'][0]}-{test['test_segment'][1] - 1}: {shown}",
        f"footage files    {len(query['footage'])}",
        f"MLflow run       {cascade['mlflow_run_id'] or '(tracking disabled)'}",
        f"checks           {'; '.join(checks)}",
    ]
    return "\n".join(lines)
