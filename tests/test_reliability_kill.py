"""Nothing is lost when a run dies: SIGKILL at controlled points, then the re-run resumes from what was finished.

Each kill point is made reliable by slowing one stage down inside the child process (this file run as a script,
see ``_child``) and killing it once that stage has visibly started: its temporary folder exists, a detection
chunk has landed, or a marker file says the training loop or the optimizer is running. The engine has no test
hooks; the child patches its own copy of the engine before running the real ``noscope query`` code.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

# each trial starts and kills real processes mid-stage, then reruns them
pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
SCENE = {"width": 160, "height": 120, "fps": 10.0, "seed": 0, "mean_gap_s": 4.0, "mean_stay_s": 3.0}
NOBODY = ["--roi", "0,0,0.02,0.02"]  # a region nobody walks into: the run falls back after labelling (fast)
QUERY = [
    "--object",
    "person",
    "--reference",
    "synthetic",
    "--max-epochs",
    "1",
    "--max-fnr",
    "0.05",
    "--max-fpr",
    "0.05",
]


def _env(home: Path, **slow: str) -> dict[str, str]:
    env = {**os.environ, "NOSCOPE_HOME": str(home), "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update({f"RELIABILITY_{k.upper()}": str(v) for k, v in slow.items()})
    return env


def spawn(home: Path, role: str, *args: str, **slow: str) -> subprocess.Popen:
    """This file as a child process in ``role`` (query | build | train), slowed down as ``slow`` says."""
    home.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), role, *args],
        cwd=home,
        env=_env(home, **slow),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen, timeout: float = 240) -> subprocess.CompletedProcess:
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def kill_when(proc: subprocess.Popen, ready: Callable[[], bool], what: str, timeout: float = 120) -> None:
    """SIGKILL ``proc`` as soon as ``ready()``; fail if it exits first (the kill point was missed)."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the child exited ({proc.returncode}) before {what}:\n{err[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".tmp" in p.name]


def building(parent: Path, name: str | None = None) -> Callable[[], bool]:
    """True once a store build's temporary folder beside ``parent/name`` holds view files."""

    def ready() -> bool:
        pattern = f".{name}.*.tmp" if name else ".*.tmp"
        return parent.is_dir() and any(any(d.glob("frames_*.npy")) for d in parent.glob(pattern) if d.is_dir())

    return ready


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def synthetic(path: Path, n_frames: int, **scene) -> Path:
    from noscope_core.footage.synthetic.scene import SyntheticScene
    from noscope_core.footage.synthetic.write import write_synthetic_video

    return write_synthetic_video(path, n_frames, SyntheticScene(**{**SCENE, **scene}))


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return synthetic(tmp_path_factory.mktemp("videos") / "cam.avi", 400)


def _cache(home: Path, video: Path):
    from noscope_core.reference.detection_cache import DetectionCache
    from noscope_core.reference.detectors.synthetic import SyntheticDetector
    from noscope_core.video.probe import probe_video

    return DetectionCache(
        home / "cache" / "detections", probe_video(video).fingerprint, SyntheticDetector(video).identity()
    )


def _cached_frames(home: Path, video: Path) -> set[int]:
    return set(range(400)) - set(_cache(home, video).missing(range(400)))


def test_kill_mid_decode_leaves_no_store_and_the_rerun_builds_it(tmp_path, video):
    home = tmp_path / "home"
    proc = spawn(home, "query", str(video), *QUERY, *NOBODY, slow_preprocess="0.25")
    kill_when(proc, building(home / "frames"), "the frame store build started")

    stores = [d for d in (home / "frames").iterdir() if d.is_dir() and not d.name.startswith(".")]
    assert stores == []  # no final store: a reader can never open a half-decoded one
    assert len(leftovers(home / "frames")) == 1  # the killed build's private folder, nothing else
    assert not (home / "runs").exists()

    rerun = finish(spawn(home, "query", str(video), *QUERY, *NOBODY))
    assert rerun.returncode == 0, rerun.stderr
    from noscope_core.video.framestore import FrameStore

    [store_dir] = [d for d in (home / "frames").iterdir() if d.is_dir()]
    assert FrameStore.open(store_dir).n_frames == 400
    assert leftovers(home) == []  # the re-run cleared the dead build's folder


def test_kill_mid_rebuild_keeps_the_previous_good_store(tmp_path):
    """The pipeline rebuilds a camera's store in place when its video changes; a kill must keep the old one."""
    import numpy as np

    from noscope_core.video.framestore import FrameStore, build_frame_store

    video, root = tmp_path / "cam.avi", tmp_path / "artifacts" / "store"
    synthetic(video, 200)
    old = build_frame_store(video, root, progress=False)
    old_frames = np.array(old.frames("full50"))
    synthetic(video, 400, seed=9)  # new footage under the same name: a new fingerprint, so a rebuild

    proc = spawn(tmp_path, "build", str(video), str(root), slow_preprocess="0.25")
    kill_when(proc, building(root.parent, root.name), "the rebuild started")
    kept = FrameStore.open(root)
    assert kept.n_frames == 200 and kept.info.fingerprint == old.info.fingerprint
    np.testing.assert_array_equal(kept.frames("full50"), old_frames)

    assert build_frame_store(video, root, progress=False).n_frames == 400
    assert leftovers(tmp_path) == []


def test_kill_mid_labelling_keeps_finished_chunks_and_the_rerun_detects_only_the_rest(tmp_path, video):
    home = tmp_path / "home"
    chunks = home / "cache" / "detections"
    proc = spawn(home, "query", str(video), *QUERY, *NOBODY, slow_detect="0.01")  # 64-frame chunks, 0.64 s each
    kill_when(proc, lambda: len(list(chunks.glob("*/chunk-*.npz"))) >= 2, "two detection chunks were written")

    before = {p.name: p.stat().st_mtime_ns for p in chunks.glob("*/chunk-*.npz")}
    cached_before = _cached_frames(home, video)
    assert len(cached_before) == 64 * len(before)  # whole chunks only
    counts = tmp_path / "detected.txt"
    rerun = finish(spawn(home, "query", str(video), *QUERY, *NOBODY, count_detect=str(counts)))
    assert rerun.returncode == 0, rerun.stderr

    after = {p.name: p.stat().st_mtime_ns for p in chunks.glob("*/chunk-*.npz")}
    assert all(after.get(name) == mtime for name, mtime in before.items())  # finished chunks kept untouched
    cached_after = _cached_frames(home, video)
    detected_now = sum(int(n) for n in counts.read_text().split())
    assert cached_before < cached_after
    assert detected_now == len(cached_after - cached_before)  # only the missing frames went to the detector
    assert leftovers(home) == []


def test_kill_mid_training_then_mid_optimizing_resumes_without_redoing_finished_stages(tmp_path):
    """Kill inside the training loop, then inside the optimizer; the third run decodes, labels and trains nothing."""
    from noscope_core.models.model_artifact import load_models
    from noscope_core.spec.query import Query

    home, video = tmp_path / "home", synthetic(tmp_path / "cam.avi", 160)
    args = [str(video), *QUERY, "--json", str(tmp_path / "result.json")]
    markers = [tmp_path / f"markers{i}" for i in range(3)]

    kill_when(
        spawn(home, "query", *args, slow_train_step="0.3", markers=str(markers[0])),
        lambda: (markers[0] / "train-started").exists(),
        "training started",
    )
    [store_dir] = [d for d in (home / "frames").iterdir() if d.is_dir() and not d.name.startswith(".")]
    store_meta = (store_dir / "meta.json").stat().st_mtime_ns
    chunk_names = sorted(p.name for p in (home / "cache").rglob("chunk-*.npz"))
    assert chunk_names and not list(home.rglob("index.json")) and not list(home.rglob("cascade.json"))

    kill_when(
        spawn(home, "query", *args, slow_optimize="30", markers=str(markers[1])),
        lambda: (markers[1] / "optimize-started").exists(),
        "the optimizer started",
    )
    assert (markers[1] / "train-started").exists()  # the killed training was redone, from the saved labels
    [models_dir] = [p.parent for p in home.rglob("models/index.json")]
    assert len(load_models(models_dir, Query("person"))) >= 1  # finished models are complete and load
    assert not list(home.rglob("cascade.json"))

    counts = tmp_path / "detected.txt"
    done = finish(spawn(home, "query", *args, markers=str(markers[2]), count_detect=str(counts)))
    assert done.returncode == 0, done.stderr
    assert not (markers[2] / "train-started").exists()  # models reused
    assert sum(int(n) for n in counts.read_text().split()) == 0  # labels reused: nothing detected again
    assert (store_dir / "meta.json").stat().st_mtime_ns == store_meta  # decode reused
    assert sorted(p.name for p in (home / "cache").rglob("chunk-*.npz")) == chunk_names
    assert (tmp_path / "result.json").is_file() and list(home.rglob("cascade.json"))
    assert leftovers(home) == []


@pytest.fixture
def trained(tmp_path):
    """A store, its labels and a good models folder, as the pipeline's specialized_models asset leaves them."""
    from noscope_core.flows import stages
    from noscope_core.models import model_artifact
    from noscope_core.models.specialized import default_family
    from noscope_core.reference import label_artifact
    from noscope_core.reference.detectors.synthetic import SyntheticDetector
    from noscope_core.spec.camera import CameraSpec
    from noscope_core.spec.query import Query

    video = synthetic(tmp_path / "cam.avi", 160)
    store = stages.decode(CameraSpec(video, Query("person")), tmp_path / "store", progress=False)
    labels = label_artifact.label_segments(
        store, SyntheticDetector(video), Query("person"), (0.5, 0.25, 0.25), cache_root=tmp_path / "cache"
    )
    labels.save(tmp_path / "labels.npz")
    models = tmp_path / "models"
    model_artifact.train_models(store, labels, models, specs=default_family()[:1], max_epochs=1)
    return tmp_path, models


def test_kill_while_retraining_keeps_the_previous_good_models(trained):
    """Killed inside the training loop, then while the new models are being saved: the old ones stay, whole."""
    from noscope_core.models.model_artifact import load_models
    from noscope_core.spec.query import Query

    root, models = trained
    good = digest(models)
    for slow, marker in (({"slow_train_step": "0.3"}, "train-started"), ({"slow_save": "30"}, "saved-one")):
        markers = root / f"markers-{marker}"
        kill_when(spawn(root, "train", str(root), **slow, markers=str(markers)), (markers / marker).exists, marker)
        assert digest(models) == good, marker  # byte for byte the previous models
        assert len(load_models(models, Query("person"))) == 1
    # the kill mid-save left its half-written folder beside the models: nothing removes it (see docs)
    assert [p.name.startswith(".models.") for p in leftovers(root)] == [True]

    _train(root)  # the re-run (here in-process: the child would only repeat the same call)
    assert digest(models) != good  # replaced whole (another seed: other weights)
    assert len(load_models(models, Query("person"))) == 1


def _marker(name: str) -> None:
    folder = os.environ.get("RELIABILITY_MARKERS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / name).touch()


def _slow_down() -> None:
    """Patch this process's engine: each slowed stage sleeps where the kill should land and leaves a marker."""
    env = os.environ
    if env.get("RELIABILITY_SLOW_PREPROCESS"):
        from tests.slow_reader import slow_store_reader

        slow_store_reader(float(env["RELIABILITY_SLOW_PREPROCESS"]))
    if env.get("RELIABILITY_SLOW_DETECT"):
        from noscope_core.reference.detectors.synthetic import SyntheticDetector

        per_frame, detect = float(env["RELIABILITY_SLOW_DETECT"]), SyntheticDetector._detect

        def slow_detect(self, frames, frame_indices):
            time.sleep(per_frame * len(frame_indices))
            return detect(self, frames, frame_indices)

        SyntheticDetector._detect = slow_detect
    if env.get("RELIABILITY_COUNT_DETECT"):  # frames the labelling stage sent to the detector (not the cascade's)
        import noscope_core.reference.detect as reference

        run_reference, counts = reference.run_reference, env["RELIABILITY_COUNT_DETECT"]

        def counted(*args, **kwargs):
            run = run_reference(*args, **kwargs)
            with open(counts, "a") as fh:
                fh.write(f"{run.frames_detected}\n")
            return run

        reference.run_reference = counted
    if env.get("RELIABILITY_MARKERS"):  # say when the training loop runs (importing Lightning costs seconds)
        from noscope_core.models import training

        step, delay = training.SpecializedLitModule.training_step, float(env.get("RELIABILITY_SLOW_TRAIN_STEP") or 0)

        def marked_step(self, batch, batch_idx):
            _marker("train-started")
            time.sleep(delay)
            return step(self, batch, batch_idx)

        training.SpecializedLitModule.training_step = marked_step
    if env.get("RELIABILITY_SLOW_SAVE"):
        from noscope_core.models.specialized import SpecializedModel

        save, delay_save = SpecializedModel.save, float(env["RELIABILITY_SLOW_SAVE"])

        def slow_save(self, path):
            save(self, path)
            _marker("saved-one")
            time.sleep(delay_save)

        SpecializedModel.save = slow_save
    if env.get("RELIABILITY_SLOW_OPTIMIZE"):
        from noscope_core.flows import stages

        optimize, delay_opt = stages.optimize, float(env["RELIABILITY_SLOW_OPTIMIZE"])

        def slow_optimize(*args, **kwargs):
            _marker("optimize-started")
            time.sleep(delay_opt)
            return optimize(*args, **kwargs)

        stages.optimize = slow_optimize


def _train(root: Path) -> None:
    """What the pipeline's specialized_models asset does: train again into the same models folder."""
    from noscope_core.models import model_artifact
    from noscope_core.models.specialized import default_family
    from noscope_core.reference.label_artifact import LabelSet
    from noscope_core.video.framestore import FrameStore

    model_artifact.train_models(
        FrameStore.open(root / "store"),
        LabelSet.load(root / "labels.npz"),
        root / "models",
        specs=default_family()[:1],
        max_epochs=1,
        seed=1,
    )


def _child(argv: list[str]) -> int:
    _slow_down()
    role, args = argv[0], argv[1:]
    if role == "query":
        from noscope_cli.main import main

        return main(["query", *args])
    if role == "build":
        from noscope_core.video.framestore import build_frame_store

        build_frame_store(args[0], args[1], progress=False)
        return 0
    if role == "train":
        _train(Path(args[0]))
        return 0
    raise SystemExit(f"unknown role {role!r}")


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
