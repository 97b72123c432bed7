"""Side by side: two cameras materialize at once, and readers of a frame store or detection cache never see half
of what a concurrent writer is producing.

Processes here are real processes (this file run as a script, see ``_child``), because what can go wrong —
SQLite locks, MLflow schema creation, temporary files, renames under a reader — only happens between processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

# several processes build and read the same stores at once
pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
SCENE = {"width": 160, "height": 120, "fps": 10.0, "mean_gap_s": 4.0, "mean_stay_s": 3.0}
LOCK_ERRORS = ("database is locked", "Online migration", "IntegrityError", "OperationalError", "Traceback")


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", **extra}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def child(role: str, *args: str, **env: str) -> subprocess.Popen:
    cmd = [sys.executable, str(Path(__file__).resolve()), role, *map(str, args)]
    return subprocess.Popen(cmd, env=_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_all(procs: list[subprocess.Popen], timeout: float = 300) -> list[subprocess.CompletedProcess]:
    done = []
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return done


def leftovers(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob("*") if ".tmp" in p.name]


def synthetic(path: Path, n_frames: int, seed: int = 0) -> Path:
    from noscope_core.footage.synthetic.scene import SyntheticScene
    from noscope_core.footage.synthetic.write import write_synthetic_video

    return write_synthetic_video(path, n_frames, SyntheticScene(**SCENE, seed=seed))


def _local(uri: str) -> Path:
    parsed = urlparse(uri)
    assert parsed.scheme in ("", "file"), uri
    return Path(unquote(parsed.path))


def _paths_in(obj, under: Path) -> list[Path]:
    """Every absolute path under ``under`` named anywhere in a manifest (nested dicts and lists)."""
    if isinstance(obj, dict):
        return [p for v in obj.values() for p in _paths_in(v, under)]
    if isinstance(obj, list):
        return [p for v in obj for p in _paths_in(v, under)]
    if isinstance(obj, str) and obj.startswith(str(under)):
        return [Path(obj)]
    return []


def test_two_cameras_materialize_side_by_side_and_point_only_at_artifacts_that_exist(tmp_path, monkeypatch):
    """Two ``noscope demo --camera`` processes on one Dagster instance, one MLflow store and one NOSCOPE_HOME."""
    import dagster as dg
    import yaml

    cams = {}
    for i, cam in enumerate(("north", "south")):
        video = synthetic(tmp_path / "videos" / f"{cam}.avi", 200, seed=i * 5)
        cams[cam] = {
            "id": cam,
            "video": str(video),
            "object": "person",
            "reference": "synthetic",
            "max_fnr": 0.05,
            "max_fpr": 0.05,
            "max_epochs": 1,
            "models": ["c1-f16-d32"],
        }
    (tmp_path / "cameras.yaml").write_text(yaml.safe_dump({"cameras": list(cams.values())}))
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    # the project's instance settings (SQLite storages, run queue limits), as `make demo` uses them
    (dagster_home / "dagster.yaml").write_text((REPO_ROOT / "dagster_home" / "dagster.yaml").read_text())
    dirs = {name: tmp_path / name for name in ("artifacts", "noscope_home", "mlflow")}
    env = {
        "DAGSTER_HOME": str(dagster_home),
        "NOSCOPE_CAMERAS": str(tmp_path / "cameras.yaml"),
        "NOSCOPE_ARTIFACTS": str(dirs["artifacts"]),
        "NOSCOPE_HOME": str(dirs["noscope_home"]),
        "NOSCOPE_MLFLOW": str(dirs["mlflow"]),
    }
    t0 = time.perf_counter()
    runs = wait_all([child("demo", cam, **env) for cam in cams], timeout=400)
    print(f"\ntwo cameras side by side: {time.perf_counter() - t0:.1f} s")
    for run in runs:
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        assert not [ln for ln in run.stderr.splitlines() if any(e in ln for e in LOCK_ERRORS)], run.stderr[-3000:]
    assert leftovers(*dirs.values(), dagster_home) == []

    # Dagster: every path in every materialization's metadata and every manifest exists, in its camera's folder
    from pipelines.assets import ASSETS

    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))  # dagster.yaml resolves its folders from it
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        for cam in cams:
            for asset in ASSETS:
                records = instance.fetch_materializations(
                    dg.AssetRecordsFilter(asset_key=asset.key, asset_partitions=[cam]), limit=1
                ).records
                assert records, (cam, asset.key)
                meta = records[0].asset_materialization.metadata
                paths = [Path(v.value) for v in meta.values() if isinstance(v, dg.PathMetadataValue)]
                manifest = dirs["artifacts"] / cam / asset.key.path[-1] / "manifest.json"
                paths += _paths_in(json.loads(manifest.read_text()), dirs["artifacts"])
                for path in paths:
                    assert path.exists(), (cam, asset.key, path)
                    if dirs["artifacts"] in path.parents:
                        assert dirs["artifacts"] / cam in path.parents, path

    # MLflow: every run's logged artifacts and every registered version's files are on disk
    from mlflow import MlflowClient

    db = dirs["mlflow"] / "mlflow.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{db}", registry_uri=f"sqlite:///{db}")
    runs_seen = 0
    for exp in client.search_experiments():
        for run in client.search_runs([exp.experiment_id]):
            runs_seen += 1
            root = _local(run.info.artifact_uri)
            todo = [a for a in client.list_artifacts(run.info.run_id)]
            while todo:
                art = todo.pop()
                if art.is_dir:
                    todo += client.list_artifacts(run.info.run_id, art.path)
                else:
                    assert (root / art.path).is_file(), (run.info.run_id, art.path)
    assert runs_seen >= 4  # a training run and a variant run per camera
    versions = [
        mv for rm in client.search_registered_models() for mv in client.search_model_versions(f"name='{rm.name}'")
    ]
    assert {mv.name for mv in versions} >= {f"noscope-cascade-{cam}" for cam in cams}
    for mv in versions:
        where = _local(client.get_model_version_download_uri(mv.name, mv.version))
        assert (where / "MLmodel").is_file(), (mv.name, mv.version, where)


def test_camera_partition_sync_tolerates_a_sync_running_at_the_same_moment():
    """The race two ``noscope demo`` hit at start-up: both saw the camera missing, the second insert failed."""
    import dagster as dg

    from pipelines.partitions import CAMERAS, sync_instance

    class StaleView:
        """The instance as a process saw it a moment before another process added the partition."""

        def __init__(self, instance):
            self._instance = instance

        def get_dynamic_partitions(self, name):
            return []

        def __getattr__(self, attr):
            return getattr(self._instance, attr)

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(CAMERAS, ["north"])  # the other process won the race
        plan = sync_instance(StaleView(instance), ["north", "south"])
        assert set(plan.add) == {"north", "south"}
        assert sorted(instance.get_dynamic_partitions(CAMERAS)) == ["north", "south"]


def test_frame_store_readers_see_the_old_or_the_new_store_whole_while_another_process_rebuilds_it(tmp_path):
    from noscope_core.video.framestore import build_frame_store

    video, root = tmp_path / "cam.avi", tmp_path / "store"
    synthetic(video, 120)
    build_frame_store(video, root, progress=False)
    synthetic(video, 300, seed=3)  # new footage: the store is rebuilt in place while two readers keep opening it
    readers = [child("read-store", root, 300, tmp_path / f"reader{i}.json") for i in range(2)]
    _wait_ready(tmp_path, readers)  # both readers have opened the old store before the rebuild starts
    builder = child("build", video, root, RELIABILITY_SLOW_PREPROCESS="0.15")
    results = wait_all([builder, *readers], timeout=240)
    assert all(r.returncode == 0 for r in results), [r.stderr[-2000:] for r in results]
    for i in range(2):
        seen = json.loads((tmp_path / f"reader{i}.json").read_text())
        assert seen["other_errors"] == [], seen
        assert set(seen["complete"]) <= {"120", "300"}, seen  # never a store of any other length
        assert seen["complete"].get("120", 0) > 0 and seen["complete"].get("300", 0) > 0, seen
        # between the two renames of the swap a reader may find no store: it is told so, never given a mix
        assert all("no complete frame store" in m or "unreadable" in m for m in seen["absent"]), seen
    assert leftovers(tmp_path) == []


def test_two_processes_building_one_store_decode_it_once(tmp_path):
    video, root = synthetic(tmp_path / "cam.avi", 200), tmp_path / "store"
    results = wait_all([child("build", video, root, RELIABILITY_SLOW_PREPROCESS="0.3") for _ in range(2)])
    assert all(r.returncode == 0 for r in results), [r.stderr[-2000:] for r in results]
    built = [json.loads(r.stdout) for r in results]
    assert built[0] == built[1]  # the second waited on the lock, then reused the first one's store
    assert leftovers(tmp_path) == []


def test_detection_cache_readers_see_only_whole_chunks_while_another_process_labels(tmp_path):
    video, cache_root = synthetic(tmp_path / "cam.avi", 300), tmp_path / "cache"
    readers = [child("read-cache", video, cache_root, tmp_path / f"reader{i}.json") for i in range(2)]
    _wait_ready(tmp_path, readers)  # both readers are polling before the first chunk can land
    writer = child("label", video, cache_root, RELIABILITY_SLOW_DETECT="0.005")
    results = wait_all([writer, *readers], timeout=240)
    assert all(r.returncode == 0 for r in results), [r.stderr[-2000:] for r in results]
    for i in range(2):
        seen = json.loads((tmp_path / f"reader{i}.json").read_text())
        counts = seen["counts"]
        assert counts == sorted(counts) and counts[-1] == 300, counts  # only ever grows, ends complete
        assert all(c % 64 == 0 or c == 300 for c in counts), counts  # whole 64-frame chunks, never part of one
        assert len(set(counts)) >= 3, counts  # it did read while the writer was working
        assert seen["wrong"] == 0  # every cached frame's detections equal the truth


def test_a_frame_labelled_by_two_processes_keeps_one_set_of_detections(tmp_path):
    """Two labellers that both found frames missing both write a chunk with them; a reader must not double them."""
    from noscope_core.reference.detection_cache import DetectionCache
    from noscope_core.reference.detectors.synthetic import SyntheticDetector

    video = synthetic(tmp_path / "cam.avi", 120)
    det = SyntheticDetector(video)
    frames = list(range(40, 80))
    truth = det.truth.detections(frames)
    assert sum(len(d) for d in truth) > 0
    caches = [DetectionCache(tmp_path / "cache", "fp", det.identity()) for _ in range(2)]
    assert all(c.missing(frames) == frames for c in caches)  # both read the cache before either wrote
    for pid, cache in zip((1001, 1002), caches, strict=True):  # chunk names carry the writer's pid
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(os, "getpid", lambda pid=pid: pid)
            cache.add(frames, truth)
            cache.flush()
    assert len(list((tmp_path / "cache").rglob("chunk-*.npz"))) == 2
    assert DetectionCache(tmp_path / "cache", "fp", det.identity()).get(frames) == truth


def _wait_ready(folder: Path, readers: list[subprocess.Popen], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(list(folder.glob("reader*.ready"))) < len(readers):
        assert all(r.poll() is None for r in readers), [r.communicate()[1][-2000:] for r in readers]
        assert time.monotonic() < deadline, "the readers never started"
        time.sleep(0.02)


def _child(argv: list[str]) -> int:
    role, args = argv[0], argv[1:]
    if role == "demo":
        from noscope_cli.main import main

        return main(["demo", "--camera", args[0]])
    if role == "build":
        import noscope_core.video.framestore as framestore
        from tests.slow_reader import slow_store_reader

        slow_store_reader(float(os.environ.get("RELIABILITY_SLOW_PREPROCESS", 0)))
        store = framestore.build_frame_store(args[0], args[1], progress=False)
        print(json.dumps({k: store.meta[k] for k in ("created_utc", "build_seconds", "n_frames")}))
        return 0
    if role == "read-store":
        return _read_store(Path(args[0]), int(args[1]), Path(args[2]))
    if role == "label":
        from noscope_core.reference.detect import run_reference
        from noscope_core.reference.detection_cache import DetectionCache
        from noscope_core.reference.detectors.synthetic import SyntheticDetector
        from noscope_core.video.probe import probe_video

        det, delay = SyntheticDetector(args[0]), float(os.environ.get("RELIABILITY_SLOW_DETECT", 0))
        detect = det._detect
        det._detect = lambda frames, idx: (time.sleep(delay * len(idx)), detect(frames, idx))[1]
        cache = DetectionCache(args[1], probe_video(args[0]).fingerprint, det.identity())
        run_reference(args[0], det, range(300), cache=cache)
        return 0
    if role == "read-cache":
        return _read_cache(Path(args[0]), Path(args[1]), Path(args[2]))
    raise SystemExit(f"unknown role {role!r}")


def _read_store(root: Path, final_frames: int, out: Path, timeout: float = 120) -> int:
    """Open the store over and over until it is the rebuilt one; record what each attempt saw."""
    from noscope_core.common.errors import ArtifactError
    from noscope_core.video.framestore import FrameStore

    seen: dict = {"complete": {}, "absent": [], "other_errors": []}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            store = FrameStore.open(root)
            n = store.n_frames
            for view in store.views:  # every row of every view is there and readable
                assert store.frames(view).shape[0] == n and store.frames(view)[n - 1].shape[-1] == 3
            assert len(store.decoded_ok) == n and len(store.timestamps_s) == n
            seen["complete"][str(n)] = seen["complete"].get(str(n), 0) + 1
            out.with_suffix(".ready").touch()
            if n == final_frames:
                break
        except ArtifactError as err:
            seen["absent"].append(str(err))
        except Exception as err:  # noqa: BLE001 - anything else is what the test looks for
            seen["other_errors"].append(f"{type(err).__name__}: {err}")
        time.sleep(0.01)
    out.write_text(json.dumps(seen))
    return 0


def _read_cache(video: Path, cache_root: Path, out: Path, timeout: float = 120) -> int:
    """Re-read the cache until it holds every frame; record how many frames each read found and any wrong one."""
    from noscope_core.reference.detection_cache import DetectionCache
    from noscope_core.reference.detectors.synthetic import SyntheticDetector
    from noscope_core.video.probe import probe_video

    det = SyntheticDetector(video)
    fingerprint, truth = probe_video(video).fingerprint, det.truth.detections(range(300))
    counts, wrong = [], 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cache = DetectionCache(cache_root, fingerprint, det.identity())
        have = sorted(set(range(300)) - set(cache.missing(range(300))))
        counts.append(len(have))
        out.with_suffix(".ready").touch()
        wrong += sum(got != truth[i] for i, got in zip(have, cache.get(have), strict=True))
        if len(have) == 300:
            break
        time.sleep(0.01)
    out.write_text(json.dumps({"counts": counts, "wrong": int(wrong)}))
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
