import pytest

from noscope_core.common.errors import QueryError
from noscope_core.spec.registry import load_cameras


def test_registry_parses_cameras_with_env_expansion(tmp_path, monkeypatch):
    monkeypatch.setenv("NOSCOPE_HOME", str(tmp_path))
    reg = tmp_path / "cameras.yaml"
    reg.write_text(
        "cameras:\n"
        "  - id: lobby\n    video: ${NOSCOPE_HOME}/videos/a.avi\n    object: person\n    roi: [0, 0.5, 0.5, 1]\n"
        "  - id: street\n    video: b.mp4\n    object: car\n    max_fnr: 0.05\n"
    )
    cams = load_cameras(reg)
    assert cams["lobby"].video == tmp_path / "videos" / "a.avi"
    assert cams["lobby"].query.roi.as_tuple() == (0, 0.5, 0.5, 1)
    assert cams["street"].video == tmp_path / "b.mp4"
    assert cams["street"].targets.max_fnr == 0.05


@pytest.mark.parametrize("bad_id", ["../etc", "a/b", "", ".hidden"])
def test_unsafe_camera_id_is_rejected(tmp_path, bad_id):
    reg = tmp_path / "cameras.yaml"
    reg.write_text(f"cameras:\n  - id: '{bad_id}'\n    video: a.avi\n    object: person\n")
    with pytest.raises(QueryError, match="camera id"):
        load_cameras(reg)


def test_duplicate_ids_and_missing_fields_are_errors(tmp_path):
    reg = tmp_path / "cameras.yaml"
    reg.write_text("cameras:\n  - {id: a, video: a.avi, object: x}\n  - {id: a, video: b.avi, object: y}\n")
    with pytest.raises(QueryError, match="twice"):
        load_cameras(reg)
    reg.write_text("cameras:\n  - {id: a, object: x}\n")
    with pytest.raises(QueryError, match="video"):
        load_cameras(reg)


def test_repository_registry_has_the_composited_camera_made_by_make_demo(tmp_path, monkeypatch):
    """The second camera loads where its video is not made yet (CI runs make test, not make demo), asks what the
    default camera asks (its targets may be looser), its video is the file the Makefile's demo target makes, and the
    demo's footage lands in its footage_dir with the length it is planned for."""
    import re
    from pathlib import Path

    from noscope_cli.make_camera import output_path

    repo = Path(__file__).resolve().parents[1]
    monkeypatch.setenv("NOSCOPE_HOME", str(tmp_path))  # nothing made or fetched here
    cams = load_cameras(repo / "cameras.yaml")
    assert list(cams) == ["vtest", "vtest-long"]
    vtest, long = cams["vtest"], cams["vtest-long"]
    assert not long.video.exists()
    assert (long.query, long.reference) == (vtest.query, vtest.reference)
    assert long.training.models  # the demo trains the family's cheapest, named ones (its 10-minute budget)
    assert long.targets.confidence == vtest.targets.confidence == 0.95
    makefile = (repo / "Makefile").read_text().replace("$(NOSCOPE_HOME)", str(tmp_path))
    makefile = makefile.replace("$(DEMO_FOOTAGE_DIR)", str(long.footage_dir))
    made = re.search(r"noscope make-camera (\S+) --seconds (\S+)\n", makefile)
    assert made is not None and output_path(made.group(1)) == long.video
    footage = re.search(r"noscope make-camera (\S+) --seconds (\S+) --hour (\d+)", makefile)
    assert footage is not None and output_path(footage.group(1), int(footage.group(3))).parent == long.footage_dir
    assert long.footage_frames == round(float(footage.group(2)) * 10)  # the composited camera runs at 10 fps
    assert 60 <= float(made.group(2)) <= 1200  # the demo's training length (20 minutes at most), not the hour
