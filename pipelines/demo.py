"""``noscope demo``: train every camera in the registry through the Dagster code location, headlessly.

Each run is created from the code location ``noscope`` (``workspace.yaml``) exactly as the UI's "Materialize"
creates it: with the job's snapshot and remote origin, so the run is listed under ``train_camera``, its
"Re-execute" is clean, and the Dagster instance in DAGSTER_HOME keeps its checks and metadata for ``make ui``.
It then runs in this process (no daemon needed, none left behind) while Dagster's own log goes to a file the
terminal names; the terminal shows one progress line per step and the summary.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from noscope_core.present import units
from noscope_core.present.frontier import preview_intervals
from noscope_core.present.timeline import check_ranges, describe_ranges

LOCATION, JOB = "noscope", "train_camera"


def run_demo(camera: str | None = None, log: Callable[[str], None] = print) -> int:
    """Run ``train_camera`` for ``camera`` (default: every camera in the registry); 0 when all succeed."""
    from pipelines.servers import dagster_home

    home = dagster_home()  # before Dagster reads DAGSTER_HOME
    import dagster as dg

    from noscope_core.common.locks import file_lock
    from pipelines.partitions import sync_instance
    from pipelines.resources import CameraRegistry

    registry = CameraRegistry()
    cams = registry.cameras()
    todo = [registry.get(camera).camera_id] if camera else list(cams)
    failed, mlflow_runs = [], []
    # Two demos started together on a fresh DAGSTER_HOME both create its SQLite databases and collide in alembic
    # ("Version table 'alembic_version' has more than one head present"): open the instance under a lock.
    with file_lock(home / ".noscope-demo.lock"):
        instance = dg.DagsterInstance.get()  # a fresh DAGSTER_HOME creates its SQLite databases here
        try:
            plan = sync_instance(instance, cams)
        except BaseException:
            instance.dispose()
            raise
    # not under DAGSTER_HOME/logs: that folder is Dagster's telemetry queue, which the webserver empties (`make ui`
    # during a demo moved the demo's log to .logs_queue and the next camera's step failed to open it)
    log_path = home / "demo.log"
    with instance:
        log(f"Dagster instance {home}: {plan.describe()}")
        log(f"Dagster's own log: {log_path}")
        for cam_id in todo:
            log(f"\n=== camera {cam_id}: decode -> label -> train -> optimize -> query ===")
            outcome = launch_and_wait(instance, cam_id, log_path, log)
            if outcome.success:
                log(summary(outcome))
                if run_id := outcome.output_for_node("optimized_cascade").get("mlflow_run_id"):
                    mlflow_runs.append(run_id)
            else:
                failed.append(cam_id)
                log(f"camera {cam_id}: run {outcome.run_id} FAILED (Dagster's log: {log_path})")
                for ev in outcome.get_step_failure_events():
                    log(f"  step {ev.step_key}: {failure_message(ev)}")
                if not outcome.get_step_failure_events() and outcome.error:
                    log(f"  {outcome.error}")
    log("\nSee the runs, checks and metadata in the Dagster UI: make ui  (MLflow: make mlflow-ui)")
    if len(mlflow_runs) >= 2:
        log(f"Compare the cascades in MLflow (after make mlflow-ui): {_compare_link(mlflow_runs)}")
    if failed:
        print(f"noscope demo: {len(failed)} camera(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _compare_link(run_ids: list[str]) -> str:
    """MLflow's compare page of the training runs this demo made, in the UI's classic view."""
    from pipelines.assets.common import MLFLOW_UI
    from pipelines.mlflow_text import compare_url
    from pipelines.tracking import MlflowTracker

    return compare_url(MLFLOW_UI, run_ids, [MlflowTracker().experiment_id()])


def launch_and_wait(instance, cam_id: str, log_path: Path, log: Callable[[str], None]) -> RunOutcome:
    """Create the camera's run from the code location and execute it here, Dagster's output into ``log_path``."""
    from dagster._core.events import DagsterEventType
    from dagster._core.execution.api import execute_run_iterator
    from dagster._utils.hosted_user_process import recon_job_from_origin

    from pipelines.resources import REPO_ROOT

    tags = {"dagster/partition": cam_id, "noscope/camera": cam_id, "noscope/trigger": "demo"}
    t0 = time.monotonic()
    with _dagster_output_to(log_path):
        with _workspace(instance, REPO_ROOT / "workspace.yaml") as workspace:
            run, n_steps = _create_run(instance, workspace, tags)
        done: list[str] = []
        for event in execute_run_iterator(recon_job_from_origin(run.job_code_origin), run, instance):
            if event.event_type == DagsterEventType.STEP_SUCCESS:
                done.append(event.step_key)
                log(f"  [{len(done)}/{n_steps}] {event.step_key} done ({time.monotonic() - t0:.0f} s)")
            elif event.event_type == DagsterEventType.STEP_FAILURE:
                log(f"  {event.step_key} FAILED ({time.monotonic() - t0:.0f} s)")
    return RunOutcome(instance, run.run_id)


def _create_run(instance, workspace, tags: dict[str, str]):
    """(run, number of steps): the run as the UI (and ``dagster job launch``) creates it: snapshot, execution plan, remote origin."""
    from dagster._core.definitions.selector import JobSubsetSelector

    location = workspace.get_code_location(LOCATION)
    [repo] = location.get_repositories().values()
    remote_job = location.get_job(
        JobSubsetSelector(location_name=LOCATION, repository_name=repo.name, job_name=JOB, op_selection=None)
    )
    plan = location.get_execution_plan(remote_job, {}, step_keys_to_execute=None, known_state=None, instance=instance)
    run = instance.create_run(
        job_name=JOB,
        run_id=None,
        run_config={},
        resolved_op_selection=None,
        step_keys_to_execute=None,
        op_selection=None,
        status=None,
        root_run_id=None,
        parent_run_id=None,
        tags={**remote_job.tags, **tags},
        job_snapshot=remote_job.job_snapshot,
        execution_plan_snapshot=plan.execution_plan_snapshot,
        parent_job_snapshot=remote_job.parent_job_snapshot,
        remote_job_origin=remote_job.get_remote_origin(),
        job_code_origin=remote_job.get_python_origin(),
        asset_selection=None,
        asset_check_selection=None,
        asset_graph=repo.asset_graph,
    )
    return run, len(plan.execution_plan_snapshot.steps)


@contextlib.contextmanager
def _workspace(instance, workspace_yaml: Path) -> Iterator:
    """The code location as ``dagster dev`` loads it from ``workspace.yaml`` (relative paths from its folder)."""
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    cwd = os.getcwd()
    os.chdir(workspace_yaml.parent)
    try:
        with WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(workspace_yaml)])) as ctx:
            request = ctx.create_request_context()
            error = request.get_code_location_error(LOCATION)
            if error is not None:
                raise RuntimeError(f"the code location {LOCATION} did not load: {error.message.strip()}")
            yield request
    finally:
        os.chdir(cwd)


@contextlib.contextmanager
def _dagster_output_to(path: Path) -> Iterator[None]:
    """Send this process's (and its step subprocesses') stdout and stderr to ``path``; ``log`` still reaches the
    terminal through a copy of the original stdout."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved_out), "w", buffering=1)
    real_stdout = sys.stdout
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        sys.stdout = terminal  # print() (the default ``log``) keeps writing to the terminal
        try:
            yield
        finally:
            sys.stdout = real_stdout
            sys.stderr.flush()
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            terminal.close()


class RunOutcome:
    """A finished run read back from the instance: what ``summary`` and the failure report need."""

    def __init__(self, instance, run_id: str) -> None:
        import dagster as dg

        self.instance, self.run_id = instance, run_id
        run = instance.get_run_by_id(run_id)
        self.success = run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        self.error = None
        if not self.success:
            records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
            if records:
                self.error = records[-1].event_log_entry.dagster_event.message
        self._partition = run.tags.get("dagster/partition") if run is not None else None

    def _events(self, event_type) -> list:
        records = self.instance.get_records_for_run(self.run_id, of_type=event_type).records
        return [r.event_log_entry.dagster_event for r in records]

    def get_step_failure_events(self) -> list:
        import dagster as dg

        return self._events(dg.DagsterEventType.STEP_FAILURE)

    def get_asset_check_evaluations(self) -> list:
        import dagster as dg

        return [ev.event_specific_data for ev in self._events(dg.DagsterEventType.ASSET_CHECK_EVALUATION)]

    def output_for_node(self, asset: str) -> dict:
        """The asset's manifest (its output, as the IO manager stored it for the downstream steps)."""
        import json

        from pipelines.resources import ArtifactStore

        return json.loads(ArtifactStore().path(self._partition, asset, "manifest.json").read_text())


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
        f"promise          {verdict}: FNR <= {units.pct(test['fnr_bound'])}  FPR <= {units.pct(test['fpr_bound'])} "
        f"at {test.get('confidence')} confidence ({test.get('certify_frames')} reference frames checked)"
    )


def footage_line(f: dict) -> str:
    """One footage answer: its certified speed-up (certificate frames charged at the reference's measured rate),
    its bounds and the certificate's frames."""
    head = f"  {Path(f['file']).name}: {f['frames']:,} frames"
    if f.get("speedup") is None:  # an answer cached before these fields were kept
        return head
    charged = f" at {units.fps(f['reference_fps'])} measured" if f.get("reference_fps") else ""
    e2e = f", {units.times(f['speedup_e2e'])} end to end" if f.get("speedup_e2e") else ""
    if f.get("fnr_bound") is None:
        return f"{head}, {units.times(f['speedup'])} over the reference{charged}{e2e}; not certified: {f.get('certify_reason')}"
    verdict = "certified" if f.get("certified") else "NOT certified"
    return (
        f"{head}, {units.times(f['speedup'])} {verdict} over the reference{charged}{e2e}; FNR <= "
        f"{units.pct(f['fnr_bound'])}  FPR <= {units.pct(f['fpr_bound'])} at {f.get('confidence')} confidence "
        f"({f.get('certify_frames'):,} reference frames checked)"
    )


def _champion_line(champion: dict | None) -> str:
    """The registry's decision, taken after the test query, with its reason."""
    if not champion:
        return "champion         (tracking disabled)"
    verdict = "became champion" if champion["champion_moved"] else "not champion"
    return f"champion         {champion['model_name']} v{champion['version']} {verdict}: {champion['reason']}"


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
    rates = ", ".join(f"{k} {units.pct(v)}" for k, v in labels["positive_rates"].items())
    ranges = test.get("test_ranges") or [test["test_segment"]]
    lines = [
        f"decision         {query.get('decision') or cascade.get('decision') or query['cascade']}",
        f"run              {result.run_id}",
        f"video            {frames['video']} ({frames['width']}x{frames['height']}, {frames['fps']:g} fps)",
        f"frames           {frames['n_frames']} decoded at {frames['decode_fps']:.0f} frames/s"
        + (f", {frames['n_corrupt']} corrupt" if frames.get("n_corrupt") else ""),
        f"query            {labels['query_text']}",
        f"reference        {labels['reference']} at {units.fps(labels['reference_fps'])} "
        f"({labels.get('reference_timing') or 'timed when labelling'}); every speed-up below divides by it",
        f"positive rate    {rates}",
        f"cascade          {query['cascade']}"
        + (f"  [FELL BACK: {cascade['reason']}]" if cascade["fell_back"] else ""),
        f"cascade.json     {cascade['cascade_json']}",
        f"frontier plot    {cascade['frontier_png']}",
        f"test results     {query['test_json']}",
        f"speed-up         {units.times(test['speedup'])} over the reference ({units.fps(test['cascade_fps'])} vs "
        f"{units.fps(test['reference_fps'])}, decode excluded)"
        + (f"; {units.times(test['speedup_e2e'])} end to end" if test.get("speedup_e2e") else ""),
        f"test error       FNR {units.pct(test['fnr'])}  FPR {units.pct(test['fpr'])}  "
        f"(targets {units.pct(targets['max_fnr'])} / {units.pct(targets['max_fpr'])})",
        _promise_line(test),
        f"intervals        {len(iv)} positive in {describe_ranges(check_ranges(ranges))}: {shown}",
        f"footage files    {len(query['footage'])}",
        *(footage_line(f) for f in query["footage"]),
        f"MLflow run       {cascade['mlflow_run_id'] or '(tracking disabled)'}",
        _champion_line(query.get("champion")),
        f"checks           {'; '.join(checks)}",
    ]
    return "\n".join(lines)
