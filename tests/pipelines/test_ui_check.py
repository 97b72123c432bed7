"""The real UIs after a demo-like run: what a person sees in Dagster and MLflow, checked through their APIs.

``dagster dev`` (webserver + daemon, the repository's dagster.yaml) and ``mlflow server`` run on 127.0.0.1 free
ports over temporary homes. Two synthetic cameras are added and trained from the webserver's GraphQL API, the
way the UI's "Materialize" does, so the runs go through the code location and the instance's run queue. Then:
the runs belong to their job, the asset's figures are typed, the frontier is a table, MLflow holds two
registered cascades to compare, and headless Chromium screenshots the pages (skipped without Chromium).

Run with ``make ui-check`` (``pytest -m ui``); deselected from the default run (it trains two cameras and
starts three servers). Screenshots go to $NOSCOPE_UI_SHOTS (default: the test's temporary folder).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.pipelines.conftest import N_FRAMES
from tests.ui_browser import (
    CHROMEDRIVER,
    CHROMIUM,
    JOB,
    LOCATION,
    REPO,
    REPOSITORY,
    Browser,
    Server,
    free_port,
    mlflow_server_cmd,
    open_run_request,
    preview_schedule_tick,
)
from tests.ui_browser import http_json as _http

CAMS = ("synth-a", "synth-b")
SELENIUM = importlib.util.find_spec("selenium") is not None

pytestmark = [pytest.mark.ui, pytest.mark.slow]


class Dagster:
    def __init__(self, server: Server, base: str) -> None:
        self.server, self.base = server, base

    def gql(self, query: str, variables: dict | None = None) -> dict:
        out = _http(f"{self.base}/graphql", {"query": query, "variables": variables or {}})
        assert "errors" not in out, out["errors"]
        return out["data"]

    def wait_loaded(self, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.server.alive()
            try:
                data = self.gql("{ assetNodes { id } }")
                if data["assetNodes"]:  # empty while the code location still loads
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(1)
        pytest.fail(f"the Dagster webserver did not serve the code location:\n{self.server.tail()}")

    def add_camera(self, cam: str) -> None:
        data = self.gql(
            """mutation($sel: RepositorySelector!, $key: String!) {
                 addDynamicPartition(repositorySelector: $sel, partitionsDefName: "cameras", partitionKey: $key) {
                   __typename ... on PythonError { message } ... on DuplicateDynamicPartitionError { partitionName }
                 } }""",
            {"sel": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}, "key": cam},
        )
        assert data["addDynamicPartition"]["__typename"] in (
            "AddDynamicPartitionSuccess",
            "DuplicateDynamicPartitionError",
        ), data

    def launch(self, cam: str, job: str = JOB, dimensions: dict[str, str] | None = None) -> str:
        """What the UI's "Materialize" on a job does: a run of ``job`` (default ``train_camera``) for one partition:
        a camera, or with ``dimensions`` a multi-partition key (its string and one tag per dimension, as the UI)."""
        tags = {"dagster/partition": cam, "noscope/trigger": "ui-check"}
        if dimensions:
            tags["dagster/partition"] = "|".join(dimensions[d] for d in sorted(dimensions))
            tags.update({f"dagster/partition/{d}": v for d, v in dimensions.items()})
        params = {
            "selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": job},
            "mode": "default",
            "runConfigData": {},
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
        }
        data = self.gql(
            """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
                 __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
                 ... on RunConfigValidationInvalid { errors { message } } ... on InvalidSubsetError { message } } }""",
            {"p": params},
        )
        assert data["launchRun"]["__typename"] == "LaunchRunSuccess", data
        return data["launchRun"]["run"]["runId"]

    def sensor_runs(self, job: str, n: int, timeout_s: float = 300) -> list[str]:
        """The ids of the first ``n`` runs of ``job`` a sensor launched (waits for them to be launched)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.server.alive()
            data = self.gql(
                """query($f: RunsFilter) { runsOrError(filter: $f) { ... on Runs { results {
                     runId tags { key value } } } } }""",
                {"f": {"pipelineName": job}},
            )
            runs = [
                r["runId"]
                for r in data["runsOrError"]["results"]
                if any(t["key"] == "dagster/sensor_name" for t in r["tags"])
            ]
            if len(runs) >= n:
                return runs
            time.sleep(5)
        pytest.fail(f"no {n} sensor runs of {job} in {timeout_s:.0f} s\n{self.server.tail()}")

    def failures(self, run_id: str) -> list[str]:
        """The error messages of a run's failed steps (and of the run itself)."""
        data = self.gql(
            """query($id: ID!) { runOrError(runId: $id) { ... on Run { eventConnection(afterCursor: null) { events {
                 __typename ... on ExecutionStepFailureEvent { stepKey error { message cause { message stack } } }
                 ... on RunFailureEvent { message } } } } } }""",
            {"id": run_id},
        )
        events = data["runOrError"]["eventConnection"]["events"]
        return [
            f"{e.get('stepKey') or 'run'}: {(e.get('error') or {}).get('message') or e.get('message')}"
            f"{((e.get('error') or {}).get('cause') or {}).get('message') or ''}"
            f"{''.join(((e.get('error') or {}).get('cause') or {}).get('stack') or [])[-1500:]}"
            for e in events
            if e["__typename"] in ("ExecutionStepFailureEvent", "RunFailureEvent")
        ]

    def wait_runs(self, run_ids: list[str], timeout_s: float = 1200) -> dict[str, str]:
        deadline, status = time.monotonic() + timeout_s, {}
        while time.monotonic() < deadline:
            self.server.alive()
            for rid in run_ids:
                data = self.gql("query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", {"id": rid})
                status[rid] = data["runOrError"]["status"]
            if all(s in ("SUCCESS", "FAILURE", "CANCELED") for s in status.values()):
                return status
            time.sleep(5)
        pytest.fail(f"runs did not finish in {timeout_s:.0f} s: {status}\n{self.server.tail()}")


def _stack_env(root: Path, registry: Path, **extra: str) -> dict[str, str]:
    """The environment of servers over fresh homes under ``root`` (a Dagster home with the instance `make demo`
    uses, artifacts, cache, MLflow store) and ``registry``; ``extra`` variables on top."""
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "NOSCOPE_CAMERAS": str(registry),
        "NOSCOPE_ARTIFACTS": str(root / "artifacts"),
        "NOSCOPE_HOME": str(root / "noscope_home"),
        "NOSCOPE_MLFLOW_ROOT": str(root / "mlflow"),
        "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        **extra,
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def _shots(root: Path) -> Path:
    """Where screenshots go: $NOSCOPE_UI_SHOTS, else the test's folder."""
    shots = Path(os.environ.get("NOSCOPE_UI_SHOTS") or root / "shots").resolve()
    shots.mkdir(parents=True, exist_ok=True)
    return shots


def _dagster_dev(name: str, env: dict[str, str], root: Path) -> Dagster:
    """``dagster dev`` (webserver and daemon) over ``env`` on a free 127.0.0.1 port."""
    port = free_port()
    cmd = [str(Path(sys.executable).parent / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port)]
    return Dagster(Server(name, [*cmd, "-w", "workspace.yaml"], env, root), f"http://127.0.0.1:{port}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, synthetic_video, camera_entry, write_registry):
    """Both servers over fresh homes, with the two cameras trained through the code location."""
    from pipelines.tracking import MlflowTracker

    root = tmp_path_factory.mktemp("ui-check").resolve()
    registry = write_registry(
        root / "cameras.yaml",
        [camera_entry(CAMS[0], synthetic_video), camera_entry(CAMS[1], synthetic_video, max_fnr=0.1, max_fpr=0.1)],
    )
    shots = _shots(root)
    m_port = free_port()
    env = _stack_env(
        root,
        registry,
        NOSCOPE_MLFLOW_UI=f"http://127.0.0.1:{m_port}",
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
    )
    servers: list[Server] = []
    try:
        dagster = _dagster_dev("dagster", env, root)
        servers.append(dagster.server)
        dagster.wait_loaded()
        for cam in CAMS:
            dagster.add_camera(cam)
        run_ids = {cam: dagster.launch(cam) for cam in CAMS}
        status = dagster.wait_runs(list(run_ids.values()))
        assert set(status.values()) == {"SUCCESS"}, f"{status}\n{dagster.server.tail()}"

        tracker = MlflowTracker(root=str(root / "mlflow"))
        mlflow = Server("mlflow", mlflow_server_cmd(m_port, tracker.uri(), tracker.artifact_location()), env, root)
        servers.append(mlflow)
        m_base = f"http://127.0.0.1:{m_port}"
        mlflow.wait_http(f"{m_base}/health")
        yield {"dagster": dagster, "mlflow": m_base, "runs": run_ids, "shots": shots, "root": root}
    finally:
        for s in reversed(servers):
            s.stop()


def _materialization(dagster: Dagster, asset: str, cam: str) -> dict:
    data = dagster.gql(
        """query($key: AssetKeyInput!, $p: [String!]) { assetOrError(assetKey: $key) { ... on Asset {
             assetMaterializations(partitions: $p, limit: 1) { runId partition metadataEntries {
               __typename label
               ... on FloatMetadataEntry { floatValue } ... on IntMetadataEntry { intValue }
               ... on TextMetadataEntry { text } ... on UrlMetadataEntry { url }
               ... on TableMetadataEntry { table { records schema { columns { name type } } } } } } } } }""",
        {"key": {"path": [asset]}, "p": [cam]},
    )
    [mat] = data["assetOrError"]["assetMaterializations"]
    return mat


def test_runs_launched_from_the_ui_belong_to_their_job(stack):
    data = stack["dagster"].gql(
        """query($sel: PipelineSelector!) { pipelineOrError(params: $sel) { __typename ... on Pipeline {
             runs { runId status tags { key value } } } } }""",
        {"sel": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "pipelineName": JOB}},
    )
    runs = {r["runId"]: r for r in data["pipelineOrError"]["runs"]}  # what the job's Runs tab lists
    for cam, rid in stack["runs"].items():
        assert rid in runs, f"run of {cam} not under the job's runs"
        tags = {t["key"]: t["value"] for t in runs[rid]["tags"]}
        assert tags["dagster/partition"] == cam and runs[rid]["status"] == "SUCCESS"


def test_materializations_carry_typed_numbers(stack):
    mat = _materialization(stack["dagster"], "optimized_cascade", CAMS[0])
    kinds = {e["label"]: e["__typename"] for e in mat["metadataEntries"]}
    assert mat["runId"] == stack["runs"][CAMS[0]]
    assert kinds.get("n_evaluated") == "IntMetadataEntry"
    numbers = [e for e in mat["metadataEntries"] if e["__typename"] == "FloatMetadataEntry"]
    assert numbers, kinds


def test_headline_figures_are_rounded_for_people(stack):
    from pipelines.metadata import cascade_headline

    wanted = set(cascade_headline({}, {}, 1.0))
    mat = _materialization(stack["dagster"], "optimized_cascade", CAMS[0])
    entries = {e["label"]: e for e in mat["metadataEntries"]}
    assert wanted <= set(entries), sorted(wanted - set(entries))
    for label in ("speedup_x", "threshold_fnr_pct", "threshold_fpr_pct"):
        value = entries[label]["floatValue"]
        assert round(value, 2) == value, (label, value)


def test_frontier_is_a_table_with_the_chosen_row_marked(stack):
    mat = _materialization(stack["dagster"], "optimized_cascade", CAMS[0])
    [frontier] = [e for e in mat["metadataEntries"] if e["label"] == "frontier"]
    assert frontier["__typename"] == "TableMetadataEntry"
    rows = [json.loads(r) for r in frontier["table"]["records"]]
    assert sum(bool(r["chosen"]) for r in rows) == 1


def test_the_schedule_says_which_cameras_it_covers(stack):
    data = stack["dagster"].gql(
        """query($sel: ScheduleSelector!) { scheduleOrError(scheduleSelector: $sel) {
             ... on Schedule { description } } }""",
        {"sel": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "scheduleName": "retrain_cameras"}},
    )
    assert f"{CAMS[0]}, {CAMS[1]}" in data["scheduleOrError"]["description"]


def test_mlflow_holds_two_registered_cascades_to_compare(stack):
    base = stack["mlflow"] + "/api/2.0/mlflow"
    [exp] = [e for e in _http(f"{base}/experiments/search?max_results=100")["experiments"] if e["name"] == "noscope"]
    runs = _http(f"{base}/runs/search", {"experiment_ids": [exp["experiment_id"]], "max_results": 200})["runs"]
    parents = {}
    for r in runs:
        tags = {t["key"]: t["value"] for t in r["data"].get("tags", [])}
        if "mlflow.parentRunId" not in tags and "camera" in tags:
            parents[tags["camera"]] = r
    assert set(CAMS) <= set(parents), sorted(parents)
    for cam in CAMS:
        name = f"noscope-cascade-{cam}"
        query = urllib.parse.urlencode({"filter": f"name='{name}'"})
        versions = _http(f"{base}/model-versions/search?{query}")["model_versions"]
        assert versions, f"no registered version of {name}"
        metrics = {m["key"] for m in parents[cam]["data"].get("metrics", [])}
        assert metrics, f"the {cam} run has no metrics to compare"


def test_the_mlflow_experiment_opens_on_the_training_view(stack):
    from pipelines.mlflow_text import classic_view_tags

    base = stack["mlflow"] + "/api/2.0/mlflow"
    [exp] = [e for e in _http(f"{base}/experiments/search?max_results=100")["experiments"] if e["name"] == "noscope"]
    tags = {t["key"]: t["value"] for t in exp.get("tags", [])}
    assert classic_view_tags().items() <= tags.items()


def _screenshot(url: str, out: Path, profile: Path, wait_ms: int = 15000) -> Path:
    cmd = [
        CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
        f"--user-data-dir={profile}", "--window-size=1440,1100",
        f"--virtual-time-budget={wait_ms}", f"--screenshot={out}", url,
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return out


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is absent: apt-get install -y chromium chromium-driver")
def test_asset_page_and_job_runs_screenshots(stack):
    base, shots, cam = stack["dagster"].base, stack["shots"], CAMS[0]
    stack["dagster"].gql("mutation { setNuxSeen }")  # the "Join the community" dialog would cover every page
    pages = {
        "asset_optimized_cascade.png": f"{base}/assets/optimized_cascade?view=events&partition={cam}",
        "asset_query_results.png": f"{base}/assets/query_results?view=events&partition={cam}",
        "job_runs.png": f"{base}/locations/{LOCATION}/jobs/{JOB}/runs",
        "schedule.png": f"{base}/locations/{LOCATION}/schedules/retrain_cameras",
    }
    for name, url in pages.items():
        png = _screenshot(url, shots / name, stack["root"] / "chromium-profile")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000, name


@pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None or not SELENIUM,
    reason="needs Chromium, its driver and selenium: apt-get install -y chromium chromium-driver",
)
def test_the_schedule_tick_preview_names_each_camera(stack):
    """What a person sees after "Preview tick result" → "Continue": a run request per camera, each naming it."""
    base, shots = stack["dagster"].base, stack["shots"]
    with Browser(1440, 1000) as browser:
        text = preview_schedule_tick(browser, base)
        assert f"Requested runs ({len(CAMS)})" in text, text[-1500:]
        browser.shot(shots / "schedule_preview.png")
        tags = open_run_request(browser, 0)
        browser.shot(shots / "schedule_preview_tags.png")
    assert f"noscope/camera: {CAMS[0]}" in tags and f"re-train camera {CAMS[0]}" in tags, tags[-1500:]


@pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None or not SELENIUM,
    reason="needs Chromium, its driver and selenium: apt-get install -y chromium chromium-driver",
)
def test_the_compare_link_opens_mlflow_on_the_two_cascades(stack):
    """The link the demo prints: MLflow's compare page of both training runs, in the classic view."""
    from pipelines.mlflow_text import compare_url
    from tests.ui_browser import close_mlflow_assistant, mlflow_training_runs

    exp_id, parents = mlflow_training_runs(stack["mlflow"])
    url = compare_url(stack["mlflow"], [parents[c] for c in CAMS], [exp_id])
    with Browser(1600, 1400) as browser:
        browser.open(url, wait_for=f"Comparing {len(CAMS)} Runs")
        close_mlflow_assistant(browser)
        browser.wait_text("expected_speedup_x")  # a headline metric of the parent runs
        text = browser.text()
        browser.shot(stack["shots"] / "mlflow_compare.png")
    assert all(f"train {c} " in text for c in CAMS), text[:2000]


# ---- issue 23: what a user sees first (points 1-7); each fails on the tree before it ----


def _entries(dagster: Dagster, asset: str, cam: str) -> list[dict]:
    return _materialization(dagster, asset, cam)["metadataEntries"]


def test_1_the_frontier_says_what_decided_with_the_chosen_row_marked(stack):
    """Point 1: a verdict per row, the estimates and the certified figures beside the threshold error, and one
    chosen row on each camera, the fallback included (a row of its own when it is not on the frontier)."""
    for cam in CAMS:
        [frontier] = [e for e in _entries(stack["dagster"], "optimized_cascade", cam) if e["label"] == "frontier"]
        columns = [c["name"] for c in frontier["table"]["schema"]["columns"]]
        assert {"verdict", "fnr_estimate_pct", "fpr_estimate_pct", "certified_speedup"} <= set(columns), columns
        rows = [json.loads(r) for r in frontier["table"]["records"]]
        [chosen] = [r for r in rows if r["chosen"]]
        assert chosen["verdict"] == "chosen"
        assert all(r["verdict"] != "chosen" for r in rows if not r["chosen"])


def test_2_the_decision_comes_first_on_both_asset_pages_and_on_the_run(stack):
    """Point 2: ``decision`` (one line) and ``fell_back`` head both assets' metadata; the run carries it as a tag."""
    dagster = stack["dagster"]
    for cam in CAMS:
        for asset in ("optimized_cascade", "query_results"):
            labels = [e["label"] for e in _entries(dagster, asset, cam)]
            assert labels[:2] == ["decision", "fell_back"], (asset, labels[:6])
            [decision] = [e["text"] for e in _entries(dagster, asset, cam) if e["label"] == "decision"]
            assert "\n" not in decision and decision.startswith(("Chose ", "Fell back to the reference"))
        data = dagster.gql(
            "query($id: ID!) { runOrError(runId: $id) { ... on Run { tags { key value } } } }",
            {"id": stack["runs"][cam]},
        )
        tags = {t["key"]: t["value"] for t in data["runOrError"]["tags"]}
        assert tags.get("noscope/decision", "").startswith(("Chose ", "Fell back")), sorted(tags)


def test_3_the_experiment_carries_the_classic_kind_and_every_link_opens_the_classic_view(stack):
    """Point 3: the experiment setting MLflow offers (``mlflow.experimentKind``), and the links the pipeline
    prints (Dagster's mlflow_run entry) on ``workflowType=machine_learning``: MLflow 3.17's UI picks the view from
    the URL or the browser's memory, not from the experiment (docs/ui.md)."""
    base = stack["mlflow"] + "/api/2.0/mlflow"
    [exp] = [e for e in _http(f"{base}/experiments/search?max_results=100")["experiments"] if e["name"] == "noscope"]
    assert {t["key"]: t["value"] for t in exp.get("tags", [])}.get(
        "mlflow.experimentKind"
    ) == "custom_model_development"
    for cam in CAMS:
        [link] = [e for e in _entries(stack["dagster"], "optimized_cascade", cam) if e["label"] == "mlflow_run"]
        assert "workflowType=machine_learning" in link["url"], link


def _training_runs(stack) -> list[dict]:
    base = stack["mlflow"] + "/api/2.0/mlflow"
    [exp] = [e for e in _http(f"{base}/experiments/search?max_results=100")["experiments"] if e["name"] == "noscope"]
    runs = _http(f"{base}/runs/search", {"experiment_ids": [exp["experiment_id"]], "max_results": 500})["runs"]
    return runs


def test_4_the_compare_view_gets_a_handful_of_headline_metrics_and_children_keep_the_rest(stack):
    """Point 4: each training run holds only the headline metrics (the compare page's box shows them all), and
    the test answer's full figures sit in its ``query test`` child run."""
    from pipelines.mlflow_text import HEADLINE_METRICS

    runs = _training_runs(stack)
    tags_of = [{t["key"]: t["value"] for t in r["data"].get("tags", [])} for r in runs]
    parents = [r for r, t in zip(runs, tags_of, strict=True) if t.get("kind") == "training"]
    assert len(parents) >= len(CAMS)
    for run in parents:
        metrics = {m["key"] for m in run["data"].get("metrics", [])}
        assert metrics and metrics <= set(HEADLINE_METRICS), sorted(metrics - set(HEADLINE_METRICS))
        assert len(metrics) <= 7
    queries = [
        r for r, t in zip(runs, tags_of, strict=True) if t.get("kind") == "query" and t.get("component") == "test"
    ]
    assert len(queries) >= len(CAMS) and all(len(q["data"].get("metrics", [])) > 7 for q in queries)


def test_5_the_timeline_counts_the_examined_frames_only(stack):
    """Point 5: the query_results timeline states its positive share over the test frames, not the video."""
    for cam in CAMS:
        entries = {e["label"]: e for e in _entries(stack["dagster"], "query_results", cam)}
        assert "timeline" in entries and "positive_of_examined_pct" in entries, sorted(entries)
        frames, positive = entries["test_frames"]["intValue"], entries["positive_frames"]["intValue"]
        assert frames < N_FRAMES  # the test segment is a part of the video
        assert entries["positive_of_examined_pct"]["floatValue"] == round(100 * positive / frames, 2)


def _raw_floats(value) -> list[float]:
    """Floats with more decimals than a person reads (more than 3)."""
    out = []
    for v in value if isinstance(value, list) else [value]:
        if isinstance(v, float) and v != round(v, 3):
            out.append(v)
    return out


def test_6_no_raw_floats_on_the_asset_pages_in_the_frontier_or_in_mlflow(stack):
    """Point 6: every float on the asset pages, in the frontier table and in MLflow's run metrics is rounded."""
    for cam in CAMS:
        for asset in ("optimized_cascade", "query_results"):
            for e in _entries(stack["dagster"], asset, cam):
                if e["__typename"] == "FloatMetadataEntry":
                    assert not _raw_floats(e["floatValue"]), (asset, e["label"], e["floatValue"])
                if e["__typename"] == "TableMetadataEntry":
                    for record in e["table"]["records"]:
                        row = json.loads(record)
                        assert not _raw_floats(list(row.values())), (asset, e["label"], row)
    for run in _training_runs(stack):
        tags = {t["key"]: t["value"] for t in run["data"].get("tags", [])}
        if tags.get("kind") in ("training", "query", "difference"):
            for m in run["data"].get("metrics", []):
                assert not _raw_floats(float(m["value"])), (tags.get("mlflow.runName"), m)


def test_7_the_frontier_table_rows_stay_one_line(stack):
    """Point 7: short cascade names (no thresholds) in the table; the full text on demand beside it."""
    entries = _entries(stack["dagster"], "optimized_cascade", CAMS[0])
    [frontier] = [e for e in entries if e["label"] == "frontier"]
    rows = [json.loads(r) for r in frontier["table"]["records"]]
    assert rows and all(len(r["cascade"]) <= 60 and "p<" not in r["cascade"] for r in rows), rows
    assert "frontier_details" in {e["label"] for e in entries}


# ---- issue 23, round three: check pages, the tick preview, one reference speed, the runs table ----

#: each asset check and the asset it checks
CHECKED = {
    "labels_not_degenerate": "reference_labels",
    "cascade_meets_targets": "optimized_cascade",
    "test_error_within_targets": "query_results",
}


def _check_entries(dagster: Dagster, check: str, cam: str) -> list[dict]:
    data = dagster.gql(
        """query($key: AssetKeyInput!, $name: String!, $p: String) {
             assetCheckExecutions(assetKey: $key, checkName: $name, partition: $p, limit: 1) {
               evaluation { metadataEntries { __typename label
                 ... on FloatMetadataEntry { floatValue } ... on IntMetadataEntry { intValue }
                 ... on TextMetadataEntry { text } } } } }""",
        {"key": {"path": [CHECKED[check]]}, "name": check, "p": cam},
    )
    [execution] = data["assetCheckExecutions"]
    return execution["evaluation"]["metadataEntries"]


def test_6_8_check_pages_plot_only_rounded_figures_that_vary_and_show_constants_as_text(stack):
    """Points 6 and 8: a check's typed numbers are what its page plots run after run, so they are the measured
    figures, rounded, units in the key; the targets and confidence are one text entry, not flat plots."""
    for cam in CAMS:
        for check in CHECKED:
            entries = _check_entries(stack["dagster"], check, cam)
            for e in entries:
                if e["__typename"] == "FloatMetadataEntry":
                    assert not _raw_floats(e["floatValue"]), (check, e)
                    assert e["label"].endswith(("_pct", "_x")), (check, e["label"])
                assert not e["label"].startswith("max_") and "confidence" not in e["label"], (check, e["label"])
            if check != "labels_not_degenerate":
                [targets] = [e for e in entries if e["label"] == "targets"]
                assert targets["__typename"] == "TextMetadataEntry" and targets["text"].startswith("FNR ≤ "), targets


def test_8_one_reference_speed_per_run_with_its_conditions(stack):
    """Point 8: the reference's speed is measured once per run and every page shows that one, with how it was
    taken: the three assets' metadata, the MLflow training run's metric and its ``reference_speed`` tag."""
    dagster = stack["dagster"]
    runs = _training_runs(stack)
    for cam in CAMS:
        seen = set()
        for asset in ("reference_labels", "optimized_cascade", "query_results"):
            entries = {e["label"]: e for e in _entries(dagster, asset, cam)}
            seen.add((entries["reference_fps"]["floatValue"], entries["reference_timing"]["text"]))
        [(fps, how)] = seen
        assert how, cam
        [parent] = [
            r
            for r in runs
            if {t["key"]: t["value"] for t in r["data"].get("tags", [])}.get("kind") == "training"
            and {t["key"]: t["value"] for t in r["data"]["tags"]}.get("camera") == cam
        ]
        metrics = {m["key"]: float(m["value"]) for m in parent["data"]["metrics"]}
        tags = {t["key"]: t["value"] for t in parent["data"]["tags"]}
        assert metrics["reference_fps"] == fps and how in tags["reference_speed"], (cam, metrics, tags)


def test_8_every_run_request_of_a_tick_names_its_camera(stack):
    """Point 8: the schedule's tick (what "Preview tick result" evaluates) asks one run per camera, each with its
    own run key and the tags naming it; the preview's table shows the job only (Dagster 1.13, docs/ui.md)."""
    sel = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "scheduleName": "retrain_cameras"}
    data = stack["dagster"].gql(
        """mutation($sel: ScheduleSelector!, $ts: Float) { scheduleDryRun(selectorData: $sel, timestamp: $ts) {
             __typename ... on DryRunInstigationTick { evaluationResult { skipReason
               runRequests { runKey tags { key value } } } } ... on PythonError { message } } }""",
        {"sel": sel, "ts": time.time()},  # Dagster 1.13's resolver needs the tick's time (the UI sends it)
    )
    result = data["scheduleDryRun"]
    assert result["__typename"] == "DryRunInstigationTick", result
    requests = result["evaluationResult"]["runRequests"]
    cameras = []
    for r in requests:
        tags = {t["key"]: t["value"] for t in r["tags"]}
        cameras.append(tags["noscope/camera"])
        assert r["runKey"].startswith(f"retrain-{tags['noscope/camera']}-"), r
        assert tags["noscope/camera"] in tags["noscope/purpose"], tags
    assert sorted(cameras) == sorted(CAMS) and len({r["runKey"] for r in requests}) == len(CAMS)


def test_8_the_runs_table_link_opens_a_view_with_the_headline_metrics(stack):
    """Point 8: MLflow keeps no default columns per experiment; the experiment carries a shared view (its tag
    ``mlflow.sharedViewState.noscope-headline``) with the headline metrics as columns, which the link opens."""
    from pipelines.mlflow_text import HEADLINE_METRICS, HEADLINE_VIEW_KEY, SHARED_VIEW_TAG_PREFIX

    base = stack["mlflow"] + "/api/2.0/mlflow"
    [exp] = [e for e in _http(f"{base}/experiments/search?max_results=100")["experiments"] if e["name"] == "noscope"]
    tags = {t["key"]: t["value"] for t in exp.get("tags", [])}
    columns = json.loads(tags[SHARED_VIEW_TAG_PREFIX + HEADLINE_VIEW_KEY])["selectedColumns"]
    assert [f"metrics.`{m}`" for m in HEADLINE_METRICS] == [c for c in columns if c.startswith("metrics.")]


@pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None or not SELENIUM,
    reason="needs Chromium, its driver and selenium: apt-get install -y chromium chromium-driver",
)
def test_2_8_what_a_browser_shows_first(stack):
    """Point 2 in the browser: the decision is on the asset page's first screen. Point 8: each of the tick
    preview's requests, opened, names its own camera."""
    from selenium.webdriver.common.by import By

    base, shots, cam = stack["dagster"].base, stack["shots"], CAMS[0]
    with Browser(1440, 1100) as browser:
        stack["dagster"].gql("mutation { setNuxSeen }")
        browser.open(f"{base}/assets/optimized_cascade?view=events&partition={cam}", wait_for="decision")
        browser.shot(shots / "asset_top.png")
        [decision] = [
            e["text"] for e in _entries(stack["dagster"], "optimized_cascade", cam) if e["label"] == "decision"
        ]
        # ensure_ascii=False: the decision's arrows must reach XPath as themselves, not as \u2192 escapes
        xpath = f"//*[contains(normalize-space(text()), {json.dumps(decision[:40], ensure_ascii=False)})]"
        cells = [e for e in browser.driver.find_elements(By.XPATH, xpath) if e.is_displayed()]
        assert cells and cells[0].rect["y"] < 1100, "the decision is below the asset page's first screen"

        tags_of = []
        for index in range(len(CAMS)):
            preview_schedule_tick(browser, base)
            tags_of.append(open_run_request(browser, index))
        assert all(any(f"noscope/camera: {c}" in t for t in tags_of) for c in CAMS), [t[-600:] for t in tags_of]


def test_8_the_experiment_link_opens_the_runs_table_with_the_headline_columns(stack):
    from pipelines.mlflow_text import experiment_url
    from tests.ui_browser import close_mlflow_assistant, mlflow_training_runs

    with Browser(1440, 1100) as browser:
        exp_id, _ = mlflow_training_runs(stack["mlflow"])
        # the grid is virtualised: a column past the panel's edge is not in the page's text, so the first headline
        # columns and MLflow's own banner for a shared view are what a person sees and what is checked
        try:
            browser.open(experiment_url(stack["mlflow"], exp_id), wait_for="viewing a shared view", timeout_s=120)
            browser.wait_text("test_fnr_pct")
        finally:
            browser.shot(stack["shots"] / "mlflow_runs_headline.png")
        close_mlflow_assistant(browser)
        text = browser.text()
        assert "expected_spee" in text and "reference_fps" in text, text[:2000]


# ---- issue 22: a camera's days in the UI (the camera x day grid, the history chart) ----

DAYS_CAM, DAYS = "synth-days", ("2026-01-02", "2026-01-03")


@pytest.fixture(scope="module")
def days_stack(tmp_path_factory, synthetic_video, footage_video, camera_entry, write_registry, bind_truth):
    """``dagster dev`` over a fresh home with one camera whose footage_dir holds two dated files: trained, each
    day answered (``answer_day``) and the first night run (``nightly_camera``), all launched through GraphQL."""
    root = tmp_path_factory.mktemp("ui-days").resolve()
    footage = root / "footage"
    footage.mkdir()
    for day in DAYS:
        video = footage / f"{DAYS_CAM}_{day}.avi"
        shutil.copy(footage_video, video)
        bind_truth(footage_video, video)
        t = time.time() - 3600  # settled long ago
        os.utime(video, (t, t))
    registry = write_registry(root / "cameras.yaml", [camera_entry(DAYS_CAM, synthetic_video, footage, confidence=0.9)])
    env = _stack_env(root, registry, NOSCOPE_DAYS_START="2026-01-01")
    shots = _shots(root)
    dagster = _dagster_dev("dagster-days", env, root)
    try:
        dagster.wait_loaded()
        dagster.add_camera(DAYS_CAM)
        steps = [
            lambda: [dagster.launch(DAYS_CAM)],
            # the daemon's footage_days_sensor (running by default) requests each settled file's day once the
            # camera has a cascade: nothing is launched by hand for the days
            lambda: dagster.sensor_runs("answer_day", len(DAYS)),
            lambda: [dagster.launch(DAYS_CAM, "nightly_camera", {"camera": DAYS_CAM, "day": DAYS[0]})],
        ]
        runs = {}
        for launch in steps:  # each step needs the one before (the cascade, then the day's answer)
            status = dagster.wait_runs(launch())
            failed = {r: dagster.failures(r) for r, st in status.items() if st != "SUCCESS"}
            assert not failed, f"{failed}\n{dagster.server.tail()}"
            runs.update(status)
        yield {"dagster": dagster, "root": root, "shots": shots, "mlflow_root": root / "mlflow"}
    finally:
        dagster.server.stop()


def _day_entries(dagster: Dagster, asset: str, day: str) -> dict[str, dict]:
    key = f"{DAYS_CAM}|{day}"  # the multi-partition key's string: dimensions by name, camera before day
    data = dagster.gql(
        """query($key: AssetKeyInput!, $p: [String!]) { assetOrError(assetKey: $key) { ... on Asset {
             assetMaterializations(partitions: $p, limit: 1) { partition metadataEntries {
               __typename label
               ... on FloatMetadataEntry { floatValue } ... on IntMetadataEntry { intValue }
               ... on BoolMetadataEntry { boolValue } ... on TextMetadataEntry { text }
               ... on MarkdownMetadataEntry { mdStr } ... on PathMetadataEntry { path } } } } } }""",
        {"key": {"path": [asset]}, "p": [key]},
    )
    mats = data["assetOrError"]["assetMaterializations"]
    assert mats, f"{asset} has no materialization of {key}"
    return {e["label"]: e for e in mats[0]["metadataEntries"]}


def test_22_the_day_grid_holds_each_answered_day_of_the_camera(days_stack):
    """The asset's partitions view is a camera x day grid: the camera's row has both days materialized."""
    data = days_stack["dagster"].gql(
        """{ assetNodeOrError(assetKey: {path: ["day_answers"]}) { ... on AssetNode {
             partitionKeysByDimension { name partitionKeys }
             assetPartitionStatuses { __typename ... on MultiPartitionStatuses { primaryDimensionName ranges {
               primaryDimStartKey primaryDimEndKey secondaryDim { __typename
                 ... on TimePartitionStatuses { ranges { startKey endKey status } }
                 ... on DefaultPartitionStatuses { materializedPartitions } } } } } } } }"""
    )
    node = data["assetNodeOrError"]
    dims = {d["name"]: d["partitionKeys"] for d in node["partitionKeysByDimension"]}
    assert DAYS_CAM in dims["camera"] and set(DAYS) <= set(dims["day"]), dims.keys()
    statuses = node["assetPartitionStatuses"]
    assert statuses["__typename"] == "MultiPartitionStatuses", statuses
    done: set[tuple[str, str]] = set()
    for rng in statuses["ranges"]:
        primary = (rng["primaryDimStartKey"], rng["primaryDimEndKey"])
        second = rng["secondaryDim"]
        if second["__typename"] == "DefaultPartitionStatuses":
            done |= {(p, s) for p in primary for s in second["materializedPartitions"]}
        else:
            keys = [k for k in dims["day" if statuses["primaryDimensionName"] == "camera" else "camera"]]
            for r in second["ranges"]:
                if r["status"] == "MATERIALIZED":
                    lo, hi = keys.index(r["startKey"]), keys.index(r["endKey"])
                    done |= {(p, k) for p in primary for k in keys[lo : hi + 1]}
    pairs = {(a, b) if statuses["primaryDimensionName"] == "camera" else (b, a) for a, b in done}
    assert {(DAYS_CAM, d) for d in DAYS} <= pairs, sorted(pairs)


def test_22_each_day_cell_carries_its_certified_speedup_bounds_and_status(days_stack):
    for day in DAYS:
        entries = _day_entries(days_stack["dagster"], "day_answers", day)
        assert entries["frames"]["intValue"] > 0 and "answered" in entries["status"]["text"], entries.keys()
        assert "certified" in entries, entries.keys()
        speed = "certified_speedup" if entries["certified"]["boolValue"] else "speedup_uncertified"
        assert entries[speed]["floatValue"] > 0, entries.keys()
        if entries["certified"]["boolValue"]:
            assert {"fnr_bound_pct", "fpr_bound_pct"} <= entries.keys(), entries.keys()
        assert entries["labels_in_store"]["intValue"] > 0


def test_22_the_night_draws_the_history_chart_in_dagster_and_mlflow(days_stack):
    from mlflow import MlflowClient

    from pipelines.tracking import MlflowTracker

    entries = _day_entries(days_stack["dagster"], "night_labels", DAYS[0])
    png = Path(entries["history_png"]["path"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    assert "history" in entries and "data:image/png" in entries["history"]["mdStr"]
    shutil.copy(png, days_stack["shots"] / "days_history.png")
    client = MlflowClient(tracking_uri=MlflowTracker(root=str(days_stack["mlflow_root"])).uri())
    runs = [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]
    logged = [
        a.path
        for r in runs
        if r.data.tags.get("camera") == DAYS_CAM
        for a in client.list_artifacts(r.info.run_id, "history")
    ]
    assert any(p.endswith(".png") for p in logged), logged


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is absent: apt-get install -y chromium chromium-driver")
def test_22_the_day_grid_and_a_day_page_screenshots(days_stack):
    base, shots = days_stack["dagster"].base, days_stack["shots"]
    days_stack["dagster"].gql("mutation { setNuxSeen }")
    key = urllib.parse.quote(f"{DAYS_CAM}|{DAYS[0]}")
    pages = {
        "days_grid.png": f"{base}/assets/day_answers?view=partitions&partition={key}",
        "day_answer.png": f"{base}/assets/day_answers?view=events&partition={key}",
    }
    for name, url in pages.items():
        png = _screenshot(url, shots / name, days_stack["root"] / "chromium-profile")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000, name
