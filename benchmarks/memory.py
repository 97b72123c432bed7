"""Peak resident memory of decoding and of querying, each measured in a fresh subprocess.

A fresh process per measurement, so one measurement's allocations never raise another's peak. The child reports
``VmHWM`` (peak resident set) from ``/proc/self/status`` — ``ru_maxrss`` where that is unavailable — and its
final anonymous / file-backed resident split: memory-mapped frame-store pages are file-backed (the kernel may
drop them at will), heap growth is anonymous.

Child usage (the parent builds these command lines)::

    python -m benchmarks.memory imports
    python -m benchmarks.memory decode VIDEO ROOT FRAMES VIEW_JSON
    python -m benchmarks.memory query VIDEO FRAMES CASCADE_JSON MODELS_DIR DD_DIR REFERENCE DECLARED_MS
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _status() -> dict[str, int]:
    """VmHWM / VmRSS / RssAnon / RssFile in KiB (empty where /proc is missing)."""
    out: dict[str, int] = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                    out[key] = int(rest.split()[0])
    except OSError:
        pass
    return out


def _report(**extra: Any) -> None:
    st = _status()
    peak_kib = st.get("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "peak_rss_mib": peak_kib / 1024,
                "final_rss_anon_mib": st.get("RssAnon", 0) / 1024,
                "final_rss_file_mib": st.get("RssFile", 0) / 1024,
                **extra,
            }
        )
    )


def _child(argv: list[str]) -> None:
    mode = argv[0]  # OMP_WAIT_POLICY: set by the package (benchmarks.harness), in the parent and here
    import cv2  # noqa: F401  (every mode pays for the same imports)
    import torch  # noqa: F401

    if mode == "imports":
        _report(mode=mode)
        return
    if mode == "decode":
        from noscope_core.video.framestore import build_frame_store
        from noscope_core.video.views import ViewSpec

        video, root, frames, view_json = argv[1], argv[2], int(argv[3]), argv[4]
        t0 = time.perf_counter()
        store = build_frame_store(
            video, root, views=[ViewSpec.from_dict(json.loads(view_json))], progress=False, max_frames=frames
        )
        _report(mode=mode, frames=store.n_frames, seconds=time.perf_counter() - t0)
        return
    if mode == "query":
        from noscope_core.optimizer import cascade_artifact
        from noscope_core.optimizer.cascade_artifact import CascadeArtifact
        from noscope_core.reference.detectors import make_detector

        video, frames, cascade_json, models_dir, dd_dir, reference, declared = argv[1:8]
        declared_ms = float(declared) if declared != "none" else None
        detector = make_detector(
            reference, reference_fps=1000.0 / declared_ms if declared_ms else None, video_path=video
        )
        cascade = cascade_artifact.load_cascade(CascadeArtifact.load(cascade_json), detector, models_dir, dd_dir)
        t0 = time.perf_counter()
        run = cascade.run_video(video, start=0, stop=int(frames))
        _report(mode=mode, frames=len(run.frame_index), seconds=time.perf_counter() - t0, fps_e2e=run.fps_e2e)
        return
    raise SystemExit(f"unknown mode {mode!r}")


def measure(args: list[str], timeout_s: float = 1800) -> dict[str, Any]:
    """Run one child measurement and return its JSON report (with ``error`` set if it failed)."""
    env = dict(os.environ)  # with the package's OMP_WAIT_POLICY (benchmarks.harness)
    root = Path(__file__).resolve().parents[1]
    env["PYTHONPATH"] = str(root) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=env,
        cwd=root,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]}
    return json.loads(lines[-1])


def memory_scaling(prep, lengths: list[int], log=print) -> dict[str, Any]:
    """Peak RSS of decoding into a frame store and of streaming the cascade, at each length in ``lengths``."""
    cam = prep.camera
    view_json = json.dumps(prep.cascade.view.to_dict())
    out: dict[str, Any] = {"camera": cam.name, "imports": measure(["imports"]), "decode": [], "query": []}
    log(f"  imports only: {out['imports'].get('peak_rss_mib', float('nan')):.0f} MiB peak")
    for n in lengths:
        with tempfile.TemporaryDirectory(prefix="noscope-mem-", dir=prep.work) as tmp:
            r = measure(["decode", str(cam.video), str(Path(tmp) / "store"), str(n), view_json])
        r["requested_frames"] = n
        out["decode"].append(r)
        log(f"  decode {n:>8,} frames: {r.get('peak_rss_mib', float('nan')):.0f} MiB peak {r.get('error', '')}")
        r = measure(
            [
                "query",
                str(cam.video),
                str(n),
                str(prep.cascade_json),
                str(prep.models_dir),
                str(prep.dd_dir),
                cam.reference,
                str(cam.reference_declared_ms) if cam.reference_declared_ms else "none",
            ]
        )
        r["requested_frames"] = n
        out["query"].append(r)
        log(f"  query  {n:>8,} frames: {r.get('peak_rss_mib', float('nan')):.0f} MiB peak {r.get('error', '')}")
    return out


if __name__ == "__main__":
    _child(sys.argv[1:])
