"""``noscope compare``: table rows from registry records, and the table printed from a real SQLite registry."""

from __future__ import annotations

import json
import shutil

import pytest

from noscope_core.common.errors import ArtifactError
from pipelines.compare import VersionRecord, comparison_rows, format_table, print_comparison
from pipelines.tracking import MlflowTracker

THRESHOLD_TAGS = {  # what mlflow_registry.register_cascade writes for the policy
    "reference_ms": "50.0",
    "expected_cost_ms": "4.0",
    "threshold_fnr": "0.01",
    "threshold_fpr": "0.02",
    "stage.reference_share": "0.08",
    "cascade": "skip 3 → reference",
}


def record(name: str, version: int, aliases=(), metrics=None, **tags) -> VersionRecord:
    return VersionRecord(
        model_name=name,
        version=version,
        created_ms=1_700_000_000_000 + version,
        aliases=tuple(aliases),
        tags={**THRESHOLD_TAGS, **tags},
        run_metrics=metrics or {},
    )


def test_rows_are_sorted_by_camera_then_version_and_mark_the_champion():
    rows = comparison_rows(
        [
            record("noscope-cascade-b", 1, camera="b"),
            record("noscope-cascade-a", 2, aliases=["champion"], camera="a"),
            record("noscope-cascade-a", 1, camera="a"),
        ]
    )
    assert [(r.camera, r.version, r.champion) for r in rows] == [("a", 1, False), ("a", 2, True), ("b", 1, False)]
    assert rows[0].registered == "2023-11-14 22:13"


def test_test_segment_measurements_win_over_threshold_estimates():
    measured = {"test_speedup_x": 8.0, "test_fnr_pct": 3.0, "test_fpr_pct": 0.0, "test_reference_calls_pct": 10.0}
    tested, estimated = comparison_rows(
        [record("noscope-cascade-a", 1, metrics=measured), record("noscope-cascade-a", 2)]
    )
    assert (tested.measured_on, tested.speedup, tested.fnr, tested.fpr, tested.reference_call_fraction) == (
        "test",
        8.0,
        0.03,
        0.0,
        0.1,
    )
    assert (estimated.measured_on, estimated.speedup, estimated.fnr, estimated.reference_call_fraction) == (
        "threshold",
        12.5,
        0.01,
        0.08,
    )


def test_camera_falls_back_to_the_model_name_and_missing_numbers_stay_blank():
    (row,) = comparison_rows([VersionRecord("noscope-cascade-lobby", 3, 0)])
    assert (row.camera, row.speedup, row.fnr) == ("lobby", None, None)
    line = format_table([row]).splitlines()[-1]
    assert line.split() == ["lobby", "3", "threshold", "1970-01-01", "00:00"]


def test_table_shows_percentages_speed_ups_and_the_champion_star():
    rows = comparison_rows([record("noscope-cascade-a", 1, aliases=["champion"], camera="a")])
    header, rule, line = format_table(rows).splitlines()
    assert header.split()[:5] == ["camera", "version", "champion", "speed-up", "FNR"]
    assert set(rule.replace(" ", "")) == {"-"}
    assert line.split()[:11] == ["a", "1", "*", "12.5×", "1.00", "%", "2.00", "%", "8.00", "%", "threshold"]
    assert line.endswith("skip 3 → reference")


def test_missing_store_is_an_error_and_is_not_created(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    db = tmp_path / "nowhere" / "mlflow.db"
    with pytest.raises(ArtifactError, match="no MLflow store"):
        print_comparison(f"sqlite:///{db}")
    assert not db.parent.exists()


def test_print_comparison_reads_every_camera_from_the_registry(
    tmp_path_factory, tmp_path, monkeypatch, capsys, mlflow_template_db
):
    from noscope_core.cascade.costs import StageCosts
    from noscope_core.cascade.routing import CascadeConfig
    from noscope_core.optimizer.cascade_artifact import CascadeArtifact
    from noscope_core.optimizer.search import Candidate, OptimizationResult
    from noscope_core.spec.camera import Targets
    from noscope_core.spec.query import Query
    from noscope_core.video.views import ViewSpec

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = tmp_path_factory.mktemp("mlflow-compare")
    shutil.copy(mlflow_template_db, root / "mlflow.db")
    tracker = MlflowTracker(root=str(root))
    with pytest.raises(ArtifactError, match="no registered cascades"):
        print_comparison(tracker.uri())

    def register(camera: str, cost_ms: float) -> None:
        # a skip-only cascade: its cost is its reference share of the 50 ms reference
        best = Candidate(CascadeConfig(skip=2), 0.01, 0.0, cost_ms, cost_ms / 50.0, 50.0 / cost_ms)
        info = CascadeArtifact.from_result(
            OptimizationResult(best, [best], False, None, 1),
            costs=StageCosts({}, {}, 50.0),
            query=Query("person"),
            view=ViewSpec(50),
            reference_name="synthetic",
            reference_identity="synthetic:abc",
            targets=Targets(0.05, 0.05),
            skips=[1, 2],
            fps=10.0,
        ).to_dict()
        path = tmp_path / f"{camera}-{cost_ms}.json"
        path.write_text(json.dumps(info))
        parent = tracker.start_training(camera, info["query"], {})
        tracker.register_cascade(parent, camera, path, None, None, "synthetic")
        if camera == "lobby":
            tracker.log_query(parent, {"fnr": 0.04, "fpr": 0.01, "speedup": 4.0, "reference_call_fraction": 0.5})

    register("street", 25.0)
    register("street", 30.0)  # dearer: registered, not champion
    register("lobby", 10.0)
    assert print_comparison(tracker.uri()) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith(("street", "lobby"))]
    assert [r[:4] for r in rows] == [
        ["lobby", "1", "*", "4.0×"],
        ["street", "1", "*", "2.0×"],
        ["street", "2", "1.7×", "1.00"],
    ]
    assert rows[0][10] == "test"  # lobby's test-segment measurement replaces the optimizer's estimate
    assert rows[1][10] == "threshold"
