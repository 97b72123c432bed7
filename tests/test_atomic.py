import pytest

from noscope_core.atomic import atomic_dir, atomic_path, write_json


def test_failed_write_keeps_previous_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "a.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text().strip().startswith("{")
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_atomic_dir_replaces_whole_folder_or_nothing(tmp_path):
    target = tmp_path / "models"
    with atomic_dir(target) as tmp:
        (tmp / "m.pt").write_text("v1")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "m.pt").write_text("v2")
            raise RuntimeError("killed")
    assert (target / "m.pt").read_text() == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]


def test_atomic_dir_removes_folders_left_by_killed_writers_but_not_live_ones(tmp_path):
    import os
    import subprocess

    target = tmp_path / "models"
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = tmp_path / f".models.{dead.pid}.abc.tmp"
    live = tmp_path / f".models.{os.getpid()}.xyz.tmp"
    orphan.mkdir()
    live.mkdir()
    with atomic_dir(target) as tmp:
        (tmp / "m.pt").write_text("v1")
    assert not orphan.exists()
    assert live.exists()
