"""What every benchmark shares: the OpenMP set-up made before torch or cv2 load, its command line, its stamp.

``benchmarks/__init__.py`` calls :func:`quiet_openmp`: a package's ``__init__`` runs before any of its modules, so
``python -m benchmarks.<name>`` (and a test importing one) gets it before the module's own imports load torch or cv2.
"""

from __future__ import annotations

import argparse
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def quiet_openmp() -> None:
    """Spin-waiting OpenMP threads starve cv2.dnn on two cores (see Makefile): they sleep unless the user chose."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def set_threads(n: int) -> None:
    """Torch's and OpenCV's thread pools to ``n`` threads each."""
    import cv2
    import torch

    torch.set_num_threads(n)
    cv2.setNumThreads(n)


def parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """The benchmark's argument parser: ``python -m <module>``, described by the first line of its docstring."""
    return argparse.ArgumentParser(prog=f"python -m {module}", description=(doc or module).splitlines()[0])


def now_utc() -> str:
    """When a result was measured, to the second (UTC, ISO 8601)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def machine() -> str:
    """Where a result was measured: architecture, cores, Python."""
    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()}"
    )


def publish(results_dir: Path, name: str, data: object, text: str) -> None:
    """A benchmark's results: ``name.json`` (what it measured) and ``name.md`` (its tables) written atomically into
    ``results_dir``, and the tables printed as the file holds them."""
    from noscope_core.common.atomic import write_json, write_text

    write_json(results_dir / f"{name}.json", data)
    write_text(results_dir / f"{name}.md", text)
    print(text, end="")
