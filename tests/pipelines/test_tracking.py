"""MLflow tracking: run hierarchy, Lightning logger on the variant's child run, frontier artifacts, champion alias.

Every test runs against a temporary SQLite store; one store serves the whole module (an empty MLflow database
takes seconds to create, so it is created once per session and copied).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

from pipelines.champion import CascadeSummary, HeldOut, StageShares, champion_decision
from pipelines.mlflow_text import HEADLINE_METRICS, CascadeFigures, classic_view_tags
from pipelines.tracking import MlflowTracker

QUERY = {"object_class": "person", "roi": [0.0, 0.5, 0.5, 1.0], "min_score": 0.5, "smooth_frames": 1}


@pytest.fixture(scope="module")
def tracker(tmp_path_factory, mlflow_template_db) -> MlflowTracker:
    root = tmp_path_factory.mktemp("mlflow")
    shutil.copy(mlflow_template_db, root / "mlflow.db")
    return MlflowTracker(root=str(root))


@pytest.fixture(autouse=True)
def _no_global_tracking_uri(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield
    # Lightning's MLFlowLogger sets MLflow's global tracking URI (and MLFLOW_TRACKING_URI): keep it out of later tests
    if "mlflow" in sys.modules:
        sys.modules["mlflow"].set_tracking_uri(None)
    os.environ.pop("MLFLOW_TRACKING_URI", None)


# ---- stand-ins with the attributes of noscope_core.models.training / specialized objects (for cheap cases) ----


@dataclass(frozen=True)
class Spec:
    name: str
    conv_blocks: int = 2

    def to_dict(self) -> dict:
        return asdict(self)


class Model:
    def __init__(self, name: str) -> None:
        self.name = name
        self.spec = Spec(name)

    def save(self, path: Path) -> None:
        path.write_bytes(b"weights")


@dataclass
class TrainResult:
    model: Model
    train_seconds: float = 1.5
    epochs: int = 2
    history: dict = field(
        default_factory=lambda: {"train_loss": [0.6, 0.4], "val_loss": [0.5, 0.3], "val_accuracy": [0.8, 0.9]}
    )
    val_accuracy: float = 0.9
    val_loss: float = 0.3


def cascade_info(cost_ms: float, fnr: float = 0.01, fpr: float = 0.02, max_fnr: float = 0.05, **query) -> dict:
    """A cascade.json dict built with the engine's own types, so its shape is the real one."""
    return cascade_artifact(cost_ms, fnr, fpr, max_fnr, **query).to_dict()


def cascade_artifact(cost_ms: float, fnr: float = 0.01, fpr: float = 0.02, max_fnr: float = 0.05, **query):
    from noscope_core.cascade.costs import StageCosts
    from noscope_core.cascade.routing import CascadeConfig
    from noscope_core.optimizer.cascade_artifact import CascadeArtifact
    from noscope_core.optimizer.search import Candidate, OptimizationResult
    from noscope_core.spec.camera import Targets
    from noscope_core.spec.query import Query
    from noscope_core.video.views import ViewSpec

    # skip only: the cost is the reference share of the 50 ms reference, as the cost model has it
    best = Candidate(CascadeConfig(skip=3), fnr, fpr, cost_ms, cost_ms / 50.0, 50.0 / cost_ms)
    ref = Candidate(CascadeConfig.reference_only(), 0.0, 0.0, 50.0, 1.0, 1.0)
    result = OptimizationResult(best=best, frontier=[best, ref], fell_back=False, reason=None, n_evaluated=40)
    return CascadeArtifact.from_result(
        result,
        costs=StageCosts({}, {}, 50.0),
        query=Query.from_dict({**QUERY, **query}),
        view=ViewSpec(50),
        reference_name="synthetic",
        reference_identity="synthetic:abc:jitter=1",
        targets=Targets(max_fnr, 0.05),
        skips=[1, 3],
        fps=10.0,
    )


def children(tracker: MlflowTracker, parent: str, kind: str) -> list:
    return tracker.children(parent, kind)


# ---- resolution ----


def test_uri_prefers_env_then_field_then_sqlite_under_root(tmp_path, monkeypatch):
    monkeypatch.delenv("NOSCOPE_MLFLOW_ROOT", raising=False)
    t = MlflowTracker(root=str(tmp_path / "r"))
    assert t.uri() == f"sqlite:///{tmp_path / 'r' / 'mlflow.db'}"
    assert (tmp_path / "r").is_dir()
    assert t.artifact_location() == (tmp_path / "r" / "artifacts").as_uri()
    assert MlflowTracker(root=str(tmp_path), tracking_uri="http://127.0.0.1:5000").uri() == "http://127.0.0.1:5000"
    assert MlflowTracker(tracking_uri="http://h:1").artifact_location() is None
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'env' / 'x.db'}")
    assert t.uri() == f"sqlite:///{tmp_path / 'env' / 'x.db'}"
    assert (tmp_path / "env").is_dir()
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.setenv("NOSCOPE_MLFLOW_ROOT", str(tmp_path / "envroot"))
    assert MlflowTracker().uri() == f"sqlite:///{tmp_path / 'envroot' / 'mlflow.db'}"


def test_disabled_tracker_does_nothing_and_touches_no_store(tmp_path):
    t = MlflowTracker(root=str(tmp_path / "off"), enabled=False)
    assert t.start_training("cam", QUERY, {}) == ""
    assert t.logger_factory("") is None
    t.log_variants("", [TrainResult(Model("m"))], {})
    t.log_difference("", [], {})
    t.log_query("", {"fnr": 0.0})
    t.log_cascade("", cascade_artifact(5.0), None)
    reg = t.register_cascade("", "cam", tmp_path / "missing.json", None, None, "synthetic")
    assert (reg.version, reg.champion_moved) == (0, False)
    t.end("")
    assert not (tmp_path / "off").exists()


# ---- run hierarchy ----


def test_training_logs_one_child_per_variant_and_difference_detector_with_their_metrics(tracker, tmp_path):
    import numpy as np
    import torch

    from noscope_core.models.difference import DifferenceDetector, DifferenceSpec
    from noscope_core.models.specialized import ModelSpec
    from noscope_core.models.training import train_models

    torch.set_num_threads(1)
    parent = tracker.start_training(
        "cam-a",
        {"camera_id": "cam-a", "query": QUERY, "split": [0.5, 0.25, 0.25], "max_fnr": 0.05},
        {"dagster_run_id": "d1"},
    )
    client = tracker.client()
    rng = np.random.default_rng(0)
    y = np.arange(32) % 3 == 0
    frames = rng.integers(0, 60, (32, 16, 16, 3), dtype=np.uint8)
    frames[y] += 120  # present = brighter: something to learn
    specs = [ModelSpec(1, 4, 4, input_size=16), ModelSpec(1, 8, 4, input_size=16)]
    logged_spec = specs[0]
    created: dict[str, str] = {}
    factory = tracker.logger_factory(parent)

    def only_first(spec):  # the second variant trains without a logger, as after a resumed step
        if spec != logged_spec:
            return False
        logger = factory(spec)
        created[spec.name] = logger.run_id
        return logger

    results = train_models(specs, frames[:24], y[:24], frames[24:], y[24:], max_epochs=2, logger_factory=only_first)
    first, second = (r.model.name for r in results)
    # Lightning wrote its curves into the pre-created child run, nested under the parent
    lightning_run = client.get_run(created[first])
    assert lightning_run.data.tags["mlflow.parentRunId"] == parent
    assert lightning_run.data.tags["camera"] == "cam-a"
    assert len(client.get_metric_history(created[first], "val_loss")) == 2

    tracker.log_variants(parent, results, {first: 400.0})
    variants = {r.data.tags["component"]: r.info.run_id for r in children(tracker, parent, "variant")}
    assert variants == {first: created[first], second: variants[second]}  # one child each, Lightning's reused
    a = client.get_run(created[first])
    assert a.data.params["filters"] == "4"
    assert a.data.params["input_size"] == "16"
    assert a.data.metrics["final_val_accuracy_pct"] == round(100 * results[0].val_accuracy, 2)
    assert a.data.metrics["fps"] == pytest.approx(400.0)
    assert a.data.metrics["cost_ms"] == pytest.approx(2.5)
    assert len(client.get_metric_history(created[first], "val_loss")) == 2  # not logged again from the history
    b = variants[second]
    assert [m.step for m in client.get_metric_history(b, "train_loss")] == [0, 1]  # from the history, by epoch
    assert "fps" not in client.get_run(b).data.metrics
    assert {f.path for f in client.list_artifacts(b, "model")} == {"model/config.json", f"model/{second}.pt"}
    assert all(client.get_run(r).info.status == "FINISHED" for r in variants.values())

    dds = [DifferenceDetector(DifferenceSpec(k, "background")).fit(frames, y) for k in ("global", "blocked")]
    tracker.log_difference(parent, dds, {"global-background": 0.02})
    dd_runs = {r.data.tags["component"]: r for r in children(tracker, parent, "difference")}
    assert set(dd_runs) == {"global-background", "blocked-background"}
    assert dd_runs["global-background"].data.params["kind"] == "global"
    assert dd_runs["global-background"].data.metrics == {"cost_ms": 0.02, "fps": 50000.0}
    assert [f.path for f in client.list_artifacts(dd_runs["blocked-background"].info.run_id, "detector")] == [
        "detector/blocked-background.npz"
    ]

    info = cascade_info(5.0)
    tracker.log_cascade(parent, cascade_artifact(5.0), None)
    tracker.log_query(
        parent,
        {"fnr": 0.02, "fpr": 0.01, "speedup": 9.5, "speedup_e2e": None, "reference_call_fraction": 0.3,
         "intervals": [[0, 4], [10, 12]], "frontier": info["frontier"]},
    )  # fmt: skip
    tracker.end(parent)
    run = client.get_run(parent)
    assert run.info.status == "FINISHED"
    assert run.data.tags["query_key"] == info["query_key"]
    assert run.data.tags["dagster_run_id"] == "d1"
    assert run.data.tags["cascade.describe"] == info["best"]["describe"]
    assert run.data.tags["decision"].startswith("Chose skip 3")
    assert run.data.params["query.object_class"] == "person"
    assert run.data.params["camera.split"] == "[0.5, 0.25, 0.25]"
    m = run.data.metrics
    assert set(m) <= set(HEADLINE_METRICS)  # the compare page's box holds the headline only
    assert (m["expected_speedup_x"], m["reference_fps"]) == (10.0, 20.0)
    assert run.data.tags["optimizer.frontier_size"] == "2"
    assert (m["test_fnr_pct"], m["test_speedup_x"]) == (2.0, 9.5)
    [query] = children(tracker, parent, "query")
    assert query.data.tags["component"] == "test" and query.data.metrics["intervals"] == 2
    assert "speedup_e2e_x" not in query.data.metrics
    files = {f.path for f in client.list_artifacts(parent, "frontier")}
    assert files == {"frontier/frontier.json", "frontier/frontier.md", "frontier/frontier.png"}
    local = Path(client.download_artifacts(parent, "frontier/frontier.json", str(tmp_path)))
    assert json.loads(local.read_text())["frontier"] == info["frontier"]


def test_a_retried_training_step_leaves_one_child_per_variant(tracker):
    parent = tracker.start_training("cam-retry", QUERY, {})
    factory = tracker.logger_factory(parent)
    first = factory(Spec("cnn")).run_id
    second = factory(Spec("cnn")).run_id
    assert first != second
    assert [r.info.run_id for r in children(tracker, parent, "variant")] == [second]


def test_re_optimizing_under_the_same_parent_overwrites_the_choice(tracker):
    parent = tracker.start_training("cam-reopt", QUERY, {})
    tracker.log_cascade(parent, cascade_artifact(5.0), None)
    tracker.log_cascade(parent, cascade_artifact(2.0), None)  # params would refuse a new value; tags/metrics do not
    run = tracker.client().get_run(parent)
    assert run.data.tags["optimizer.expected_cost"] == "2.00 ms"
    assert run.data.tags["cascade.skip"] == "3"


# ---- champion rule ----


KEPT = HeldOut(0.01, 0.0, fnr_bound=0.03, fpr_bound=0.02, certified=True)
BROKEN = HeldOut(0.01, 0.0, fnr_bound=0.09, fpr_bound=0.02, certified=False)


def summary(cost_ms: float, fnr: float = 0.01, fpr: float = 0.01, **kw) -> CascadeSummary:
    base = {"query_key": "q", "reference_identity": "r", "max_fnr": 0.05, "max_fpr": 0.05}
    return CascadeSummary(fnr=fnr, fpr=fpr, cost_ms=cost_ms, **{**base, **kw})


@pytest.mark.parametrize(
    ("new", "champion", "force", "moved", "why"),
    [
        (summary(5.0), None, False, True, "first"),
        (summary(4.0), summary(5.0), False, True, "<= champion"),
        (summary(5.0), summary(5.0), False, True, "<= champion"),
        (summary(6.0), summary(5.0), False, False, "> champion"),
        (summary(1.0, fnr=0.2), summary(5.0), False, False, "misses the targets"),
        (summary(9.0), summary(5.0, fnr=0.2), False, True, "champion misses"),
        (summary(9.0), summary(5.0, query_key="old"), False, True, "different query"),
        (summary(9.0), summary(5.0, reference_identity="old"), False, True, "different reference"),
        (summary(9.0, fnr=0.5), summary(5.0), True, True, "forced"),
        (summary(1.0, fnr_bound=0.08, fpr_bound=0.01), summary(5.0), False, False, "block-bound estimate breaks"),
        (summary(1.0, fnr_bound=0.04, fpr_bound=0.01), summary(5.0), False, True, "<= champion"),
        (summary(9.0, fnr_bound=0.04), summary(5.0, fpr_bound=0.2), False, True, "champion's bound"),
        # the held-out test answer: a broken promise or a measured miss never becomes champion, not even the first
        (summary(1.0, held_out=BROKEN), summary(5.0), False, False, "broke its promise"),
        (summary(1.0, held_out=BROKEN), None, False, False, "never champion"),
        (summary(1.0, held_out=HeldOut(0.2, 0.0)), None, False, False, "misses the targets on the test segment"),
        (summary(1.0, held_out=BROKEN), summary(5.0, query_key="old"), False, False, "never champion"),
        (summary(1.0, held_out=BROKEN), summary(5.0), True, True, "forced"),
        (summary(4.0, held_out=KEPT), summary(5.0), False, True, "<= champion"),
        (summary(9.0, held_out=KEPT), summary(5.0, held_out=HeldOut(0.3, 0.0)), False, True, "its test segment"),
    ],
)
def test_champion_decision_follows_the_documented_rules(new, champion, force, moved, why):
    got, reason = champion_decision(new, champion, force=force)
    assert got is moved
    assert why in reason


def test_a_decision_taken_after_the_test_query_cites_the_test_error_and_the_certified_bound():
    moved, reason = champion_decision(summary(4.0, held_out=KEPT), summary(5.0))
    assert moved and reason.endswith(
        "test segment FNR 1.00 % / FPR 0.00 %, certified <= 3.00 % / 2.00 % (promise kept)"
    )


def test_the_held_out_answer_survives_the_registry_tags():
    assert HeldOut.from_tags(KEPT.to_tags()) == KEPT
    assert HeldOut.from_tags(HeldOut(0.2, 0.1).to_tags()) == HeldOut(0.2, 0.1)
    assert HeldOut.from_tags({}) is None
    assert (
        HeldOut.from_result({"fnr": 0.01, "fpr": 0.0, "fnr_bound": 0.03, "fpr_bound": 0.02, "certified": True}) == KEPT
    )


def shares(model: float, reference: float, dd: float = 0.5) -> StageShares:
    return StageShares("dd", dd, "m", model, reference)


TABLE = {"dd:dd": 0.1, "model:m": 2.0}


def test_champion_rule_prices_both_cascades_with_one_stage_table_not_their_own_measurements():
    # the champion was optimized on an idle machine (its own cost 3 ms), the new one under load (6 ms): priced with
    # the new run's side-by-side stage costs, the new cascade sends fewer frames on and is the cheaper one
    new = summary(6.0, reference_ms=50.0, shares=shares(0.5, 0.04), stage_ms=TABLE)
    champion = summary(3.0, reference_ms=25.0, shares=shares(0.5, 0.08))
    moved, reason = champion_decision(new, champion)
    assert moved and "side by side" in reason
    assert champion.shares.price_ms(TABLE, 50.0) == pytest.approx(0.05 + 1.0 + 4.0)
    moved, reason = champion_decision(summary(2.0, reference_ms=10.0, shares=shares(0.5, 0.08), stage_ms=TABLE),
                                      summary(6.0, reference_ms=50.0, shares=shares(0.5, 0.04)))  # fmt: skip
    assert not moved and "side by side" in reason


def test_champion_rule_falls_back_to_reference_priced_cost_without_stage_shares():
    # both 2x slower in wall-clock terms under load, the same share of a reference call: a tie, so it moves;
    # a dearer share of the reference stays
    assert champion_decision(summary(10.0, reference_ms=100.0), summary(5.0, reference_ms=50.0))[0]
    moved, reason = champion_decision(summary(12.0, reference_ms=100.0), summary(5.0, reference_ms=50.0))
    assert not moved and "reference calls/frame" in reason


def test_stage_shares_are_recovered_from_the_cost_model_and_survive_the_registry_tags():
    art = cascade_artifact(5.0)
    s = StageShares.from_cascade(art)
    assert (s.dd_name, s.model_name, s.reference_share) == (None, None, pytest.approx(0.1))
    assert StageShares.from_tags(s.to_tags()) == s
    assert s.price_ms({}, 50.0) == pytest.approx(5.0)


def test_registering_moves_the_champion_alias_only_when_the_rule_says(tracker, tmp_path):
    from mlflow.exceptions import MlflowException

    client = tracker.client()
    parent = tracker.start_training("cam-b", QUERY, {})
    path = tmp_path / "cascade.json"

    def register(cost_ms: float, force: bool = False, **kw):
        path.write_text(json.dumps(cascade_info(cost_ms, **kw)))
        return tracker.register_cascade(parent, "cam-b", path, None, None, "synthetic", force=force)

    def champion() -> int:
        return int(client.get_model_version_by_alias("noscope-cascade-cam-b", "champion").version)

    first = register(5.0)
    assert (first.model_name, first.version, first.champion_moved) == ("noscope-cascade-cam-b", 1, True)
    worse = register(6.0)
    assert (worse.version, worse.champion_moved, champion()) == (2, False, 1)
    assert client.get_model_version("noscope-cascade-cam-b", "2").tags["champion_decision"] == worse.reason
    v2 = client.get_model_version("noscope-cascade-cam-b", "2")
    assert v2.description.startswith("**Not champion** (v1 stays champion): meets the targets but costs")
    assert "threshold segment" in v2.description
    exp = client.get_experiment(client.get_run(parent).info.experiment_id)
    assert classic_view_tags().items() <= exp.tags.items()
    inaccurate = register(1.0, fnr=0.3)
    assert (inaccurate.champion_moved, champion()) == (False, 1)
    better = register(4.0)
    assert (better.version, better.champion_moved, champion()) == (4, True, 4)
    forced = register(9.0, force=True)
    assert (forced.champion_moved, forced.reason, champion()) == (True, "forced", 5)
    v5 = client.get_model_version("noscope-cascade-cam-b", "5")
    assert v5.run_id == parent
    assert v5.tags["expected_cost_ms"] == "9.0"
    # the model is filed under the parent's experiment and stored under the tracker's root, never in ./mlruns
    assert client.get_logged_model(v5.tags["model_id"]).experiment_id == client.get_run(parent).info.experiment_id
    assert v5.source.startswith(tracker.artifact_location())
    assert client.get_run(parent).data.tags["registered_version"] == "noscope-cascade-cam-b/5"
    with pytest.raises(MlflowException):
        client.get_model_version_by_alias("noscope-cascade-cam-a", "champion")


def test_registering_a_cascade_whose_model_file_is_missing_is_an_artifact_error(tracker, tmp_path):
    from noscope_core.common.errors import ArtifactError

    info = cascade_info(5.0)
    info["best"]["config"]["model_name"] = "cnn-x"
    path = tmp_path / "cascade.json"
    path.write_text(json.dumps(info))
    parent = tracker.start_training("cam-c", QUERY, {})
    with pytest.raises(ArtifactError, match="cnn-x.pt"):
        tracker.register_cascade(parent, "cam-c", path, tmp_path / "models", None, "synthetic")


def test_the_champion_decision_waits_for_the_test_query_and_answers_to_its_error(tracker, tmp_path):
    from mlflow.exceptions import MlflowException

    client = tracker.client()
    parent = tracker.start_training("cam-t", QUERY, {})
    path = tmp_path / "cascade.json"
    info = cascade_info(5.0)
    path.write_text(json.dumps(info))
    tracker.log_cascade(parent, cascade_artifact(5.0), None)
    assert "threshold segment" in client.get_run(parent).data.tags["mlflow.note.content"]

    def register_and_test(test: dict):
        reg = tracker.register_cascade(parent, "cam-t", path, None, None, "synthetic", decide=False)
        pending = client.get_model_version(reg.model_name, str(reg.version))
        assert (reg.champion_moved, pending.tags["champion_moved"]) == (False, "pending")
        assert pending.description.startswith("**Champion decision pending**")
        figures = CascadeFigures.from_cascade("cam-t", info, test)
        tracker.describe_tested(parent, figures)
        summary = CascadeSummary.from_cascade(cascade_artifact(5.0)).with_held_out(HeldOut.from_result(test))
        return figures, tracker.decide_champion((reg.model_name, reg.version), summary, figures)

    missed = {"fnr": 0.2, "fpr": 0.01, "speedup": 3.0}
    _, first = register_and_test(missed)
    assert "Misses the targets on the test segment" in client.get_run(parent).data.tags["mlflow.note.content"]
    assert not first.champion_moved and "never champion" in first.reason
    with pytest.raises(MlflowException):  # a cascade that missed its targets on the test segment is no champion
        client.get_model_version_by_alias(first.model_name, "champion")
    version = client.get_model_version(first.model_name, "1")
    assert version.description.startswith("**Not champion**: misses the targets on the test segment")
    assert "test segment (measured" in version.description
    assert (version.tags["test_fnr"], version.tags["meets_targets_on_test"]) == ("0.2", "false")

    kept = {"fnr": 0.01, "fpr": 0.0, "speedup": 3.0, "fnr_bound": 0.03, "fpr_bound": 0.02, "certified": True}
    _, second = register_and_test(kept)
    assert second.champion_moved and "certified <= 3.00 % / 2.00 % (promise kept)" in second.reason
    assert int(client.get_model_version_by_alias(second.model_name, "champion").version) == 2
    version = client.get_model_version(second.model_name, "2")
    assert version.description.startswith("**Became champion**: first registered cascade")
    assert (version.tags["certified_fnr"], version.tags["test_certified"]) == ("0.03", "true")
    # the query re-running on a decided version (new footage, say) leaves the decision as it was taken
    figures = CascadeFigures.from_cascade("cam-t", info, missed)
    summary = CascadeSummary.from_cascade(cascade_artifact(5.0)).with_held_out(HeldOut.from_result(missed))
    assert tracker.decide_champion((second.model_name, 2), summary, figures) == second
    assert int(client.get_model_version_by_alias(second.model_name, "champion").version) == 2
