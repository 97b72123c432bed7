import pytest

from noscope_core.common.atomic import atomic_dir, atomic_path, write_json


def test_failed_write_keeps_previous_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "a.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text().strip().startswith("{")
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


@pytest.mark.parametrize("atomic_swap", [True, False], ids=["exchange", "two-renames"])
def test_atomic_dir_replaces_whole_folder_or_nothing(tmp_path, monkeypatch, atomic_swap):
    import noscope_core.common.atomic as atomic

    if not atomic_swap:
        monkeypatch.setattr(atomic, "exchange", lambda a, b: False)
    target = tmp_path / "models"
    for version in ("v1", "v2"):
        with atomic_dir(target) as tmp:
            (tmp / "m.pt").write_text(version)
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "m.pt").write_text("v3")
            raise RuntimeError("killed")
    assert (target / "m.pt").read_text() == "v2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]


def test_atomic_dir_removes_folders_left_by_killed_writers_but_not_live_ones(tmp_path, dead_pid):
    import os

    target = tmp_path / "models"
    orphan = tmp_path / f".models.{dead_pid}.abc.tmp"
    live = tmp_path / f".models.{os.getpid()}.xyz.tmp"
    orphan.mkdir()
    live.mkdir()
    with atomic_dir(target) as tmp:
        (tmp / "m.pt").write_text("v1")
    assert not orphan.exists()
    assert live.exists()


def test_exchange_swaps_two_folders_in_one_step_where_the_system_can(tmp_path):
    from noscope_core.common.atomic import exchange

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "f").write_text("A")
    (b / "f").write_text("B")
    if not exchange(a, b):
        pytest.skip("no renameat2(RENAME_EXCHANGE) on this system or file system")
    assert ((a / "f").read_text(), (b / "f").read_text()) == ("B", "A")
    with pytest.raises(FileNotFoundError):
        exchange(a, tmp_path / "missing")


def test_a_writer_killed_between_the_two_renames_gets_its_previous_version_back(tmp_path, dead_pid):
    # the fallback swap moves the old folder aside, then the new one in: a kill in between leaves no target
    target = tmp_path / "models"
    aside = tmp_path / f".models.old.{dead_pid}"
    aside.mkdir()
    (aside / "m.pt").write_text("v1")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "m.pt").write_text("v2")
            raise RuntimeError("killed")
    assert (target / "m.pt").read_text() == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]


def test_a_previous_version_left_aside_is_dropped_once_the_new_one_is_in_place(tmp_path, dead_pid):
    target = tmp_path / "models"
    with atomic_dir(target) as tmp:
        (tmp / "m.pt").write_text("v2")
    aside = tmp_path / f".models.old.{dead_pid}"
    aside.mkdir()
    with atomic_dir(target) as tmp:
        (tmp / "m.pt").write_text("v3")
    assert (target / "m.pt").read_text() == "v3"
    assert not aside.exists()
