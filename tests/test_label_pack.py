"""Label packs: a video's reference detections shipped as a file, imported only after a live check."""

import dataclasses

import numpy as np
import pytest

from noscope_cli.main import main
from noscope_core.common.errors import ArtifactError
from noscope_core.footage.synthetic.scene import SyntheticScene
from noscope_core.footage.synthetic.write import write_synthetic_video
from noscope_core.reference.detect import run_reference
from noscope_core.reference.detection_cache import DetectionCache
from noscope_core.reference.detectors.base import Detection, ReferenceDetector
from noscope_core.reference.label_pack import (
    check_pack,
    import_verified,
    pack_from_cache,
    read_pack,
    same_detections,
    write_pack,
)
from noscope_core.video.probe import probe_video

N = 30


class BrightnessDetector(ReferenceDetector):
    """A fake pixel detector: one 'person' per frame whose score and box follow the frame's pixels."""

    name = "brightness"

    @property
    def class_names(self):
        return ("person",)

    def identity(self) -> str:
        return "brightness|v1"

    def _detect(self, frames, frame_indices):
        out = []
        for f in frames:
            m = float(f.mean()) / 255.0
            # a second, weak box below the packs' default floor (0.5): dropped from the pack and from the check
            out.append(
                [
                    Detection("person", 0.6 + 0.3 * m, 0.1 + 0.2 * m, 0.3, 0.2, 0.4),
                    Detection("bird", 0.35, 0, 0, 0.1, 0.1),
                ]
            )
        return out


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("packs")
    a = write_synthetic_video(root / "a.avi", N, SyntheticScene(width=96, height=64, seed=1))
    b = write_synthetic_video(root / "b.avi", N, SyntheticScene(width=96, height=64, seed=2))
    return a, b


def _labelled_pack(video, tmp_path):
    detector = BrightnessDetector()
    cache = DetectionCache(tmp_path / "made", probe_video(video).fingerprint, detector.identity())
    run_reference(video, detector, range(N), cache)
    return pack_from_cache(cache, range(N), video.name, N, detector.name), cache


def test_pack_round_trip_imports_every_frame_at_the_cost_measured_now(clips, tmp_path):
    video, _ = clips
    pack, made = _labelled_pack(video, tmp_path)
    path = write_pack(dataclasses.replace(pack, cost_ms_per_frame=12345.0), tmp_path / "a.pack.npz")
    back = read_pack(path)
    assert back.frames.tolist() == list(range(N)) and back.classes == ("person",)
    assert back.min_score == 0.5 and len(back.owner) == N  # the weak boxes are not shipped
    kept = [[d for d in made.get([f])[0] if d.score >= 0.5] for f in range(N)]
    assert all(same_detections(back.detections()[f], kept[f]) for f in range(N))

    done = import_verified(path, video, BrightnessDetector(), tmp_path / "cache")
    assert done.imported and done.frames_imported == N and len(done.check.sample_frames) == 24
    fresh = DetectionCache(tmp_path / "cache", probe_video(video).fingerprint, "brightness|v1")
    assert fresh.missing(range(N)) == []
    # scores exact (as the cache's float32 chunks hold them)
    assert (
        np.float32([d[0].score for d in fresh.get(range(N))]).tolist()
        == np.float32([d[0].score for d in kept]).tolist()
    )
    assert np.allclose([d[0].x for d in fresh.get(range(N))], [d[0].x for d in kept], atol=1e-4)
    # charged at the cost timed on the live sample, never at the cost the file carries
    assert fresh.cost_ms() == pytest.approx(done.check.cost_ms_per_frame) and fresh.cost_ms() < 12345.0


def test_each_check_draws_a_fresh_recorded_sample(clips, tmp_path):
    video, _ = clips
    pack, _ = _labelled_pack(video, tmp_path)
    fp = probe_video(video).fingerprint
    checks = [check_pack(pack, video, fp, BrightnessDetector(), sample_frames=5) for _ in range(4)]
    assert all(c.ok for c in checks)
    assert len({c.seed for c in checks}) == 4
    again = check_pack(pack, video, fp, BrightnessDetector(), sample_frames=5, seed=checks[0].seed)
    assert again.sample_frames == checks[0].sample_frames


def test_pack_of_another_video_or_detector_is_refused_and_nothing_imported(clips, tmp_path):
    a, b = clips
    path = write_pack(_labelled_pack(a, tmp_path)[0], tmp_path / "a.pack.npz")
    done = import_verified(path, b, BrightnessDetector(), tmp_path / "cache")
    assert not done.imported and "another video" in done.check.reason and done.frames_imported == 0
    assert DetectionCache(tmp_path / "cache", probe_video(b).fingerprint, "brightness|v1").missing([0]) == [0]

    class Other(BrightnessDetector):
        def identity(self) -> str:
            return "brightness|v2"

    done = import_verified(path, a, Other(), tmp_path / "cache")
    assert not done.imported and "detector" in done.check.reason


@pytest.mark.parametrize(
    "tamper",
    [
        lambda p: dataclasses.replace(p, box=p.box + np.float32([0.3, 0, 0, 0])),  # every box moved
        lambda p: dataclasses.replace(p, score=np.where(p.owner % 3 == 0, p.score - 0.1, p.score).astype(np.float32)),
        lambda p: dataclasses.replace(p, classes=("car",)),  # another class on every frame
    ],
    ids=["boxes", "scores-on-a-third", "class"],
)
def test_live_sample_rejects_wrong_labels(clips, tmp_path, tamper):
    video, _ = clips
    wrong = tamper(_labelled_pack(video, tmp_path)[0])
    path = write_pack(wrong, tmp_path / "wrong.npz")
    done = import_verified(path, video, BrightnessDetector(), tmp_path / "cache", sample_frames=N)
    assert not done.imported and done.check.disagreeing and "disagrees" in done.check.reason
    assert DetectionCache(tmp_path / "cache", probe_video(video).fingerprint, "brightness|v1").missing(range(N))


def test_a_single_wrong_frame_is_caught_when_sampled(clips, tmp_path):
    video, _ = clips
    pack, _ = _labelled_pack(video, tmp_path)
    one = dataclasses.replace(pack, score=np.where(pack.owner == 7, 0.99, pack.score).astype(np.float32))
    check = check_pack(one, video, probe_video(video).fingerprint, BrightnessDetector(), sample_frames=N)
    assert not check.ok and check.disagreeing == (7,)


def test_tampered_or_truncated_pack_file_is_refused_in_one_line(clips, tmp_path):
    video, _ = clips
    path = write_pack(_labelled_pack(video, tmp_path)[0], tmp_path / "a.pack.npz")
    data = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match="unreadable"):
        read_pack(tmp_path / "cut.npz")
    z = dict(np.load(path))
    z["counts"] = z["counts"][:-1]  # a frame dropped: the columns no longer fit
    np.savez(tmp_path / "bad.npz", **z)
    with pytest.raises(ArtifactError, match="inconsistent"):
        read_pack(tmp_path / "bad.npz")
    with pytest.raises(ArtifactError, match="not found"):
        read_pack(tmp_path / "none.npz")


def test_export_refuses_a_video_not_fully_labelled(clips, tmp_path):
    video, _ = clips
    detector = BrightnessDetector()
    cache = DetectionCache(tmp_path, probe_video(video).fingerprint, detector.identity())
    run_reference(video, detector, range(10), cache)
    with pytest.raises(ArtifactError, match="20 of the 30 frames are not in the detection cache"):
        pack_from_cache(cache, range(N), video.name, N, detector.name)


def test_cli_export_then_import_checks_live_and_warns_on_a_bad_pack(clips, tmp_path, monkeypatch, capsys):
    video, other = clips
    monkeypatch.setenv("NOSCOPE_HOME", str(tmp_path / "home"))
    from noscope_core.common.paths import cache_dir
    from noscope_core.reference.detectors.factory import make_detector

    detector = make_detector("synthetic", video_path=video)
    cache = DetectionCache(cache_dir() / "detections", probe_video(video).fingerprint, detector.identity())
    run_reference(video, detector, range(N), cache)
    pack = tmp_path / "a.synthetic.npz"
    assert main(["labels", "export", str(video), "--reference", "synthetic", "-o", str(pack)]) == 0
    assert f"{N} frames" in capsys.readouterr().out

    import shutil

    shutil.rmtree(cache_dir() / "detections")
    assert main(["labels", "import", str(pack), "--video", str(video), "--sample", "8"]) == 0
    assert "the live check agrees on 8 sampled frames" in capsys.readouterr().out
    assert (
        DetectionCache(cache_dir() / "detections", probe_video(video).fingerprint, detector.identity()).missing(
            range(N)
        )
        == []
    )

    assert main(["labels", "import", str(pack), "--video", str(other)]) == 0  # ignored, the demo labels live
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1
        and "warning: label pack a.synthetic.npz refused for b.avi" in err
        and "labelled live" in err
    )
    assert main(["labels", "import", str(pack), "--video", str(other), "--strict"]) != 0
    assert "error: label pack a.synthetic.npz refused" in capsys.readouterr().err
    assert main(["labels", "import", str(pack), "--video", str(video), "--sample", "0"]) != 0


def test_pack_is_refused_for_a_query_counting_boxes_below_its_floor(clips, tmp_path):
    video, _ = clips
    path = write_pack(_labelled_pack(video, tmp_path)[0], tmp_path / "a.pack.npz")
    done = import_verified(path, video, BrightnessDetector(), tmp_path / "cache", query_min_score=0.3)
    assert not done.imported and "from score 0.3" in done.check.reason and done.frames_imported == 0
    assert import_verified(path, video, BrightnessDetector(), tmp_path / "cache", query_min_score=0.5).imported


def test_cli_export_labels_the_missing_frames_only_with_label(clips, tmp_path, monkeypatch, capsys):
    """Without --label an incomplete cache is a one-line error naming the fix; with it the missing frames are
    labelled (the ones already cached are not run again) and the pack covers every frame."""
    video, _ = clips
    monkeypatch.setenv("NOSCOPE_HOME", str(tmp_path / "home"))
    from noscope_core.common.paths import cache_dir
    from noscope_core.reference.detectors.factory import make_detector

    detector = make_detector("synthetic", video_path=video)
    cache = DetectionCache(cache_dir() / "detections", probe_video(video).fingerprint, detector.identity())
    run_reference(video, detector, range(12), cache)
    pack = tmp_path / "a.synthetic.npz"
    assert main(["labels", "export", str(video), "--reference", "synthetic", "-o", str(pack)]) != 0
    err = capsys.readouterr().err
    assert "18 of the 30 frames of a.avi are not in the detection cache" in err and "--label" in err
    assert not pack.exists()

    assert main(["labels", "export", str(video), "--reference", "synthetic", "-o", str(pack), "--label"]) == 0
    assert "labelling 18 of 30 frames of a.avi" in capsys.readouterr().out
    assert read_pack(pack).frames.tolist() == list(range(N))
