"""``python -m benchmarks.decode [--frames N] [--repeats R]``: every way of reading a video, side by side.

For the default camera (vtest.avi, MS-MPEG4v3), the long synthetic camera (MPEG-4 part 2) and each re-encoded as
H.264 with a surveillance-like GOP (libx264 through PyAV, 1.5 s, no B-frames, one slice), it times each reader
option on every frame, shrinking into a 50×50 RGB view as the cheap models need, and reports frames/s and the
ratio to OpenCV decode-only (``cv2.VideoCapture.read`` of every frame) of the same file. It also measures how far
each shrink path lands from a float AREA shrink of the full frame. Results: ``benchmarks/results/decode.json``
and ``decode.md``. The rounds interleave the options so load spikes spread; the table reports the fastest round
of each option (the least disturbed on a shared machine) and the JSON the medians too.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks import harness
from noscope_core.present import units

RESULTS_DIR = harness.RESULTS_DIR
GOP_S = 1.5
SIZE = 50
ERROR_FRAMES = 200


@dataclass(frozen=True)
class Option:
    """One way of reading every frame into the small view; ``run(path)`` returns (frames covered, seconds)."""

    key: str
    label: str
    run: Callable[[Path], tuple[int, float, dict[str, Any]]]


def _opencv_decode_only(path: Path) -> tuple[int, float, dict]:
    cap = cv2.VideoCapture(str(path))
    n, t0 = 0, time.perf_counter()
    while cap.read()[0]:
        n += 1
    dt = time.perf_counter() - t0
    cap.release()
    return n, dt, {}


def _opencv_read_area(path: Path) -> tuple[int, float, dict]:
    cap = cv2.VideoCapture(str(path))
    n, t0 = 0, time.perf_counter()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        cv2.resize(frame, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
        n += 1
    dt = time.perf_counter() - t0
    cap.release()
    return n, dt, {}


def _reader_pass(reader: str, view, threaded: bool = False) -> Callable[[Path], tuple[int, float, dict]]:
    def run(path: Path) -> tuple[int, float, dict]:
        from noscope_core.video.frames import DecodeStats
        from noscope_core.video.prefetch import prefetch
        from noscope_core.video.readers import choose_reader

        chosen = choose_reader(path, reader)  # probing the codec is part of opening, timed like the rest
        stats = DecodeStats()
        t0 = time.perf_counter()
        batches = chosen.iter_views(path, (view,), batch_size=256, stats=stats, keep_full=False)
        n = sum(len(b) for b in (prefetch(batches) if threaded else batches))
        dt = time.perf_counter() - t0
        return n, dt, {"reader": stats.reader, "lowres": stats.lowres, "threads": chosen.choice.threads}

    return run


def _keyframe_scan(view) -> Callable[[Path], tuple[int, float, dict]]:
    def run(path: Path) -> tuple[int, float, dict]:
        from noscope_core.video.readers import iter_keyframes
        from noscope_core.video.readers.choose import probe_codec
        from noscope_core.video.readers.pyav_reader import THREADED_CODECS

        threads = "AUTO" if probe_codec(path) in THREADED_CODECS else "default"
        t0 = time.perf_counter()
        n_key = sum(len(b) for b in iter_keyframes(path, (view,), batch_size=256, threads=threads))
        dt = time.perf_counter() - t0
        return n_key, dt, {"keyframes": n_key}

    return run


def options() -> list[Option]:
    from noscope_core.spec.query import ROI
    from noscope_core.video.views import ViewSpec

    full, roi = ViewSpec(SIZE), ViewSpec(SIZE, roi=ROI(0.0, 0.5, 0.5, 1.0))
    return [
        Option("cv_decode", "OpenCV decode-only (`read`, BGR)", _opencv_decode_only),
        Option("cv_area", "OpenCV `read` + `resize` INTER_AREA", _opencv_read_area),
        Option("cv_engine", "OpenCV reader (`read` + engine preprocess)", _reader_pass("opencv", full)),
        Option("pyav", "PyAV reader, reused AREA reformatter", _reader_pass("pyav", full)),
        Option("pyav_roi", "PyAV reader, ROI view (crop in YUV)", _reader_pass("pyav", roi)),
        Option("pyav_thread", "PyAV reader in the prefetch thread (as `run_video`)", _reader_pass("pyav", full, True)),
        Option("lowres1", "PyAV `lowres=1` + AREA", _reader_pass("pyav", ViewSpec(SIZE, lowres=1))),
        Option("lowres2", "PyAV `lowres=2` + AREA", _reader_pass("pyav", ViewSpec(SIZE, lowres=2))),
        Option("lowres3", "PyAV `lowres=3` + AREA", _reader_pass("pyav", ViewSpec(SIZE, lowres=3))),
        Option("keyframes", "keyframe-only scan (PyAV, effective)", _keyframe_scan(full)),
    ]


def encode_h264(src: Path, dst: Path, gop_s: float = GOP_S, log=print, max_frames: int | None = None) -> Path:
    """``src`` (its first ``max_frames``, or all) re-encoded as H.264 (libx264 via PyAV): a keyframe every ``gop_s``
    seconds, no B-frames, one slice."""
    import av

    if dst.is_file():
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(".tmp.mp4")
    t0 = time.perf_counter()
    with av.open(str(src)) as inp, av.open(str(tmp), "w") as out:
        ins = inp.streams.video[0]
        fps = float(ins.average_rate or 10)
        gop = max(1, round(gop_s * fps))
        stream = out.add_stream("libx264", rate=ins.average_rate or 10)
        stream.width, stream.height, stream.pix_fmt = ins.codec_context.width, ins.codec_context.height, "yuv420p"
        stream.codec_context.thread_type = "FRAME"  # slice threading would write 2 slices per frame
        stream.options = {"preset": "veryfast", "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0"}
        for i, frame in enumerate(inp.decode(ins)):
            if max_frames is not None and i >= max_frames:
                break
            frame.pict_type = av.video.frame.PictureType.NONE  # else x264 copies the source's I-frames
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    tmp.replace(dst)
    log(f"  encoded {dst.name} in {time.perf_counter() - t0:.0f} s")
    return dst


def shrink_errors(path: Path) -> dict[str, float]:
    """Mean absolute error (0-255) of each shrink path on the first frames, against a float AREA shrink."""
    from noscope_core.video.readers import OpenCVReader, PyAVReader
    from noscope_core.video.views import ViewSpec

    ref = area_reference(path)
    n = len(ref)
    out: dict[str, float] = {}
    cap = cv2.VideoCapture(str(path))
    area = []
    for _ in range(n):
        area.append(cv2.resize(cap.read()[1], (SIZE, SIZE), interpolation=cv2.INTER_AREA)[:, :, ::-1])
    cap.release()
    out["cv_area"] = float(np.abs(np.stack(area) - ref).mean())
    paths = {
        "cv_engine": (OpenCVReader(), ViewSpec(SIZE)),
        "pyav": (PyAVReader(), ViewSpec(SIZE)),
        **{f"lowres{k}": (PyAVReader(), ViewSpec(SIZE, lowres=k)) for k in (1, 2, 3)},
    }
    out.update(path_errors(path, ref, paths))
    return out


def area_reference(path: Path) -> np.ndarray:
    """The first ``ERROR_FRAMES`` frames as float AREA shrinks to SIZE×SIZE RGB: what each shrink path is held to."""
    cap = cv2.VideoCapture(str(path))
    truth = []
    while len(truth) < ERROR_FRAMES:
        ok, frame = cap.read()
        if not ok:
            break
        truth.append(cv2.resize(frame.astype(np.float32), (SIZE, SIZE), interpolation=cv2.INTER_AREA)[:, :, ::-1])
    cap.release()
    return np.stack(truth)


def path_errors(path: Path, ref: np.ndarray, paths: dict[str, tuple[Any, Any]], **read) -> dict[str, float]:
    """Mean absolute error of each (reader, view) path's small frames against ``ref`` (``read``: iter_views options)."""
    n, out = len(ref), {}
    for key, (reader, view) in paths.items():
        got = next(reader.iter_views(path, (view,), stop=n, batch_size=n, **read)).small[view.name]
        out[key] = float(np.abs(got - ref).mean())
    return out


def measure(videos: dict[str, Path], repeats: int, log=print) -> dict[str, Any]:
    opts = options()
    times: dict[str, dict[str, list[float]]] = {v: {o.key: [] for o in opts} for v in videos}
    notes: dict[str, dict[str, Any]] = {v: {} for v in videos}
    frames: dict[str, int] = {}
    for r in range(repeats):
        for name, path in videos.items():
            for o in opts:
                n, dt, extra = o.run(path)
                if o.key == "cv_decode":
                    frames[name] = n
                times[name][o.key].append(dt)
                notes[name][o.key] = {**extra, "frames": n}
            log(f"  round {r + 1}/{repeats} {name}: done")
    table: dict[str, Any] = {}
    for name in videos:
        total = frames[name]
        row = {}
        for o in opts:
            # on a shared machine the fastest round is the least disturbed one; the median is kept beside it
            best, median = min(times[name][o.key]), statistics.median(times[name][o.key])
            # the keyframe scan covers every frame by decoding only the keyframes: its rate is frames covered / s
            row[o.key] = {
                "seconds": best,
                "fps": total / best if best > 0 else float("inf"),
                "median_seconds": median,
                "median_fps": total / median if median > 0 else float("inf"),
                **notes[name][o.key],
            }
        base, base_median = row["cv_decode"]["fps"], row["cv_decode"]["median_fps"]
        for o in opts:
            row[o.key]["x_decode_only"] = row[o.key]["fps"] / base if base else None
            row[o.key]["median_x_decode_only"] = row[o.key]["median_fps"] / base_median if base_median else None
        table[name] = {"frames": total, "options": row, "shrink_error": shrink_errors(videos[name])}
    return {"labels": {o.key: o.label for o in opts}, "videos": table}


def render(res: dict[str, Any]) -> str:
    videos = list(res["videos"])
    lines = [
        "# Reading video: every reader option, side by side",
        "",
        f"Measured {res['created_utc']} on {res['machine']} (shared with other work); fastest of {res['repeats']} "
        "interleaved rounds, the least disturbed (medians in the JSON). Each cell: frames/s (× OpenCV decode-only "
        "of the same file, fastest against fastest; the median ratio after the slash). Every option shrinks every frame into a "
        f"{SIZE}×{SIZE} RGB view except OpenCV decode-only (BGR at full size) and the keyframe scan (frames "
        "covered per second, decoding only the keyframes).",
        "",
        "| option | " + " | ".join(f"{v} ({res['videos'][v]['frames']:,} fr)" for v in videos) + " |",
        "|---|" + "---:|" * len(videos),
    ]
    for key, label in res["labels"].items():
        cells = []
        for v in videos:
            o = res["videos"][v]["options"][key]
            best_x, median_x = (units.times(o[k], digits=2) for k in ("x_decode_only", "median_x_decode_only"))
            cell = f"{o['fps']:,.0f} ({best_x} / {median_x})"
            if key.startswith("lowres") and o.get("lowres", 0) == 0:
                cell += " lowres ignored"
            if key == "keyframes":
                cell += f", {o['keyframes']} keyframes"
            cells.append(cell)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += shrink_error_lines(res, videos, "each shrink path")
    return "\n".join(lines) + "\n"


def shrink_error_lines(res: dict[str, Any], videos: list[str], what: str) -> list[str]:
    """The table of each option's mean absolute shrink error per video (shared with ``benchmarks.reading_path``)."""
    lines = [
        "",
        f"Mean absolute error (0-255) of {what} against a float AREA shrink of the full frame (first "
        f"{ERROR_FRAMES} frames):",
        "",
        "| path | " + " | ".join(videos) + " |",
        "|---|" + "---:|" * len(videos),
    ]
    for key in res["videos"][videos[0]]["shrink_error"]:
        label = res["labels"].get(key, key)
        lines.append(
            f"| {label} | " + " | ".join(f"{res['videos'][v]['shrink_error'][key]:.2f}" for v in videos) + " |"
        )
    return lines


def with_h264(videos: dict[str, Path], home: Path) -> dict[str, Path]:
    """Each video and its H.264 re-encode with a surveillance-like GOP (made once under ``home/bench/h264``)."""
    out = dict(videos)
    for name, src in videos.items():
        out[f"{name}-h264"] = encode_h264(src, home / "bench" / "h264" / f"{src.stem}-gop{GOP_S:g}s.mp4")
    return out


def save_results(
    res: dict[str, Any], videos: dict[str, Path], repeats: int, results_dir: Path, name: str, render_fn
) -> None:
    """Stamp ``res`` with when, where and on what it ran; write its JSON and markdown atomically; print the tables."""
    res.update(
        created_utc=harness.now_utc(),
        machine=harness.machine(),
        repeats=repeats,
        sources={k: str(v) for k, v in videos.items()},
        view_size=SIZE,
        gop_s=GOP_S,
    )
    results_dir.mkdir(parents=True, exist_ok=True)
    harness.publish(results_dir, name, res, render_fn(res))


def main(argv: list[str] | None = None) -> int:
    p = harness.parser("benchmarks.decode", __doc__)
    p.add_argument("--frames", type=int, default=20_000, help="frames of the long synthetic camera")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-h264", action="store_true", help="skip the H.264 re-encodes")
    p.add_argument("--name", default="decode")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = p.parse_args(argv)

    from benchmarks.cameras import synthetic_camera
    from noscope_core.common.paths import noscope_home

    home = noscope_home()
    videos: dict[str, Path] = {}
    vtest = home / "videos" / "vtest.avi"
    if vtest.is_file():
        videos["vtest"] = vtest
    else:
        print(f"  {vtest} absent (run `noscope fetch`): default camera left out")
    videos["synthetic"] = synthetic_camera(home, args.frames).video
    if not args.no_h264:
        videos = with_h264(videos, home)
    save_results(measure(videos, args.repeats), videos, args.repeats, args.results_dir, args.name, render)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
