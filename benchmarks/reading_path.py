"""``python -m benchmarks.reading_path``: the cascade's own reading path against OpenCV decode-only, per camera.

The reading path is what ``Cascade.run_video`` pays before any model runs: decode, then shrink into the models'
50×50 view, with no reference asking for pixels. Three cameras — the default ``vtest.avi`` (MS-MPEG4v3), a cut
of the long real-pixel camera ``vtest-long.mp4`` (MPEG-4 part 2) and the long synthetic camera (MPEG-4 part 2) —
each also re-encoded as H.264 with a 1.5 s GOP (no B-frames, one slice). Rows: OpenCV decode-only of every frame
(the 1.00× floor), the engine's old OpenCV path, PyAV's reader with each decoding (``lowres``, no loop filter,
both), at frame skip 1 and at the skips the optimizer picks (2, 5, 10, 30), where the reader shrinks only the
evaluated frames and never decodes a GOP's frames after the last evaluated one. Cells: frames *covered* per
second and × OpenCV decode-only of the same file. Rounds interleave rows and files; the table shows the fastest
round (the least disturbed on a shared machine) and the median ratio. Results: ``reading_path.json`` / ``.md``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import harness
from benchmarks.decode import (
    SIZE,
    _opencv_decode_only,
    area_reference,
    path_errors,
    save_results,
    shrink_error_lines,
    with_h264,
)
from noscope_core.present import units

RESULTS_DIR = harness.RESULTS_DIR
SKIPS = (2, 5, 10, 30)
#: decodings measured at frame skip 1 (view-name suffix; "" = exact) and those also measured at every skip
DECODINGS_AT_1 = ("", "lr2", "lr3", "nlf", "lr2-nlf", "lr3-nlf")
DECODINGS_AT_SKIPS = ("", "lr2-nlf")
LABELS = {
    "": "PyAV reader (exact decoding)",
    "lr2": "PyAV `lowres=2`",
    "lr3": "PyAV `lowres=3`",
    "nlf": "PyAV `skip_loop_filter`",
    "lr2-nlf": "PyAV `lowres=2` + `skip_loop_filter`",
    "lr3-nlf": "PyAV `lowres=3` + `skip_loop_filter`",
}


@dataclass(frozen=True)
class Row:
    """One reading option; ``run(path)`` returns (frames covered, seconds, notes)."""

    key: str
    label: str
    skip: int
    run: Callable[[Path], tuple[int, float, dict[str, Any]]]


def _reader_pass(reader: str, decoding: str, skip: int) -> Callable[[Path], tuple[int, float, dict]]:
    def run(path: Path) -> tuple[int, float, dict]:
        from noscope_core.video.frames import DecodeStats
        from noscope_core.video.prefetch import prefetch
        from noscope_core.video.readers import choose_reader, iter_views
        from noscope_core.video.reading_costs import with_decoding
        from noscope_core.video.views import ViewSpec

        view = with_decoding(ViewSpec(SIZE), decoding)
        t0 = time.perf_counter()
        chosen = choose_reader(path, reader)  # probing the codec is part of opening, timed like the rest
        stats = DecodeStats()
        last = -1
        # as run_video reads: the reader in the prefetch thread, no full frames held for a reference
        batches = iter_views(path, (view,), step=skip, batch_size=256, stats=stats, reader=chosen, keep_full=False)
        for batch in prefetch(batches):
            last = int(batch.indices[-1]) if len(batch) else last
        dt = time.perf_counter() - t0
        return (
            last + skip,  # frames covered, as run_video labels them: a tail after the last one read inherits it
            dt,
            {
                "reader": stats.reader,
                "frames_read": stats.n_read,
                "lowres": stats.lowres,
                "skip_loop_filter": stats.skip_loop_filter,
                "n_dropped": stats.n_dropped,
                "n_skipped": stats.n_skipped,
                "shrink_seconds": stats.shrink_seconds,
                "reader_seconds": stats.seconds,
            },
        )

    return run


def rows() -> list[Row]:
    out = [
        Row("cv_decode", "OpenCV decode-only (`read` every frame, BGR)", 1, _opencv_decode_only),
        Row("cv_engine", "OpenCV old path (`read` + engine preprocess)", 1, _reader_pass("opencv", "", 1)),
    ]
    out += [Row(f"pyav{d and '-' + d}", LABELS[d], 1, _reader_pass("pyav", d, 1)) for d in DECODINGS_AT_1]
    for s in SKIPS:
        out.append(Row(f"cv_engine@{s}", f"OpenCV old path, skip {s}", s, _reader_pass("opencv", "", s)))
        out += [
            Row(f"pyav{d and '-' + d}@{s}", f"{LABELS[d]}, skip {s}", s, _reader_pass("pyav", d, s))
            for d in DECODINGS_AT_SKIPS
        ]
    return out


def cut_video(src: Path, dst: Path, n_frames: int, log=print) -> Path:
    """The first ``n_frames`` frames of ``src`` remuxed without re-encoding (the cut starts on the first keyframe)."""
    import av

    if dst.is_file():
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(".tmp" + dst.suffix)
    with av.open(str(src)) as inp, av.open(str(tmp), "w") as out:
        ins = inp.streams.video[0]
        outs = out.add_stream_from_template(ins)
        n = 0
        for packet in inp.demux(ins):
            if packet.dts is None or not packet.size:
                continue
            if n >= n_frames:
                break
            packet.stream = outs
            out.mux(packet)
            n += 1
    tmp.replace(dst)
    log(f"  cut {dst.name}: first {n} frames of {src.name}")
    return dst


def shrink_errors(path: Path) -> dict[str, float]:
    """Mean absolute error (0-255) of each path's 50×50 frames against a float AREA shrink of the full frame."""
    from noscope_core.video.readers import OpenCVReader, PyAVReader
    from noscope_core.video.reading_costs import with_decoding
    from noscope_core.video.views import ViewSpec

    paths = {"cv_engine": (OpenCVReader(), ViewSpec(SIZE))}
    paths.update({f"pyav{d and '-' + d}": (PyAVReader(), with_decoding(ViewSpec(SIZE), d)) for d in DECODINGS_AT_1})
    return path_errors(path, area_reference(path), paths, keep_full=False)


def measure(videos: dict[str, Path], repeats: int, log=print) -> dict[str, Any]:
    opts = rows()
    times: dict[str, dict[str, list[float]]] = {v: {o.key: [] for o in opts} for v in videos}
    notes: dict[str, dict[str, Any]] = {v: {o.key: {} for o in opts} for v in videos}
    covered: dict[str, dict[str, int]] = {v: {} for v in videos}
    for r in range(repeats):
        for name, path in videos.items():
            t0 = time.perf_counter()
            for o in opts:
                n, dt, extra = o.run(path)
                times[name][o.key].append(dt)
                covered[name][o.key] = n
                if dt <= min(times[name][o.key]):  # notes of the fastest round, as the table shows it
                    notes[name][o.key] = extra
            log(f"  round {r + 1}/{repeats} {name}: {time.perf_counter() - t0:.0f} s")
    table: dict[str, Any] = {}
    for name in videos:
        total = covered[name]["cv_decode"]
        row = {}
        for o in opts:
            best, median = min(times[name][o.key]), statistics.median(times[name][o.key])
            n = min(total, covered[name][o.key])
            extra = notes[name][o.key]
            row[o.key] = {
                "skip": o.skip,
                "frames_covered": n,
                "seconds": best,
                "fps": n / best if best > 0 else float("inf"),
                "median_seconds": median,
                "median_fps": n / median if median > 0 else float("inf"),
                **extra,
            }
            if "shrink_seconds" in extra and n:
                row[o.key]["shrink_ms_per_covered"] = 1000.0 * extra["shrink_seconds"] / n
                row[o.key]["decode_ms_per_covered"] = 1000.0 * (extra["reader_seconds"] - extra["shrink_seconds"]) / n
        base, base_median = row["cv_decode"]["fps"], row["cv_decode"]["median_fps"]
        for o in opts:
            row[o.key]["x_decode_only"] = row[o.key]["fps"] / base if base else None
            row[o.key]["median_x_decode_only"] = row[o.key]["median_fps"] / base_median if base_median else None
        table[name] = {"frames": total, "options": row, "shrink_error": shrink_errors(videos[name])}
    return {"labels": {o.key: o.label for o in opts}, "videos": table}


def _cell(o: dict[str, Any]) -> str:
    best_x, median_x = (units.times(o[k], digits=2) for k in ("x_decode_only", "median_x_decode_only"))
    cell = f"{o['fps']:,.0f} ({best_x} / {median_x})"
    if o["x_decode_only"] >= 2.0:
        cell = f"**{cell}**"
    return cell


def render(res: dict[str, Any]) -> str:
    videos = list(res["videos"])
    first = res["videos"][videos[0]]["options"]
    lines = [
        "# The cascade's reading path against OpenCV decode-only",
        "",
        f"Measured {res['created_utc']} on {res['machine']} (shared with other work); fastest of {res['repeats']} "
        "interleaved rounds (medians in the JSON). Each cell: frames covered per second (× OpenCV decode-only of "
        "the same file, fastest against fastest / median against median); **bold** at 2× or more. Every row but "
        f"the first shrinks each evaluated frame into a {SIZE}×{SIZE} RGB view in the prefetch thread, as "
        "`run_video` reads; at skip s a frame covered is a frame the cascade labels (1 in s evaluated).",
        "",
        "| reading path | " + " | ".join(f"{v} ({res['videos'][v]['frames']:,} fr)" for v in videos) + " |",
        "|---|" + "---:|" * len(videos),
    ]
    for key, label in res["labels"].items():
        if key not in first:
            continue
        lines.append(f"| {label} | " + " | ".join(_cell(res["videos"][v]["options"][key]) for v in videos) + " |")
    lines += [
        "",
        "What the decoder really did (fastest round): `lowres` level used, loop filter skipped, packets never "
        "decoded (GOP tails after the last evaluated frame).",
        "",
        "| reading path | " + " | ".join(videos) + " |",
        "|---|" + "---|" * len(videos),
    ]
    for key, label in res["labels"].items():
        if not key.startswith("pyav"):
            continue
        cells = []
        for v in videos:
            o = res["videos"][v]["options"][key]
            bits = [f"lr{o['lowres']}" if o.get("lowres") else "", "nlf" if o.get("skip_loop_filter") else ""]
            done = "+".join(b for b in bits if b) or "exact"
            dropped = f", {o['n_dropped']:,} dropped" if o.get("n_dropped") else ""
            cells.append(f"{done}{dropped}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Where the time goes (fastest round, ms per frame covered: decode + loop / shrink, from `DecodeStats`):",
        "",
        "| reading path | " + " | ".join(videos) + " |",
        "|---|" + "---:|" * len(videos),
    ]
    for key, label in res["labels"].items():
        if key == "cv_decode":
            continue
        cells = [
            f"{o.get('decode_ms_per_covered', float('nan')):.3f} / {o.get('shrink_ms_per_covered', float('nan')):.3f}"
            for o in (res["videos"][v]["options"][key] for v in videos)
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += shrink_error_lines(res, videos, f"each path's {SIZE}×{SIZE} frames")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = harness.parser("benchmarks.reading_path", __doc__)
    p.add_argument("--synthetic-frames", type=int, default=6_000, help="frames of the long synthetic camera")
    p.add_argument("--long-frames", type=int, default=6_000, help="frames cut from the start of vtest-long.mp4")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-h264", action="store_true", help="skip the H.264 re-encodes")
    p.add_argument("--name", default="reading_path")
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
    long = home / "videos" / "vtest-long.mp4"
    if long.is_file():
        videos["vtest-long"] = cut_video(
            long, home / "bench" / "cuts" / f"vtest-long-{args.long_frames}.mp4", args.long_frames
        )
    else:
        print(f"  {long} absent (run `noscope make-camera vtest-long`): long real-pixel camera left out")
    videos["synthetic"] = synthetic_camera(home, args.synthetic_frames).video
    if not args.no_h264:
        videos = with_h264(videos, home)
    res = measure(videos, args.repeats)
    res["skips"] = [1, *SKIPS]
    save_results(res, videos, args.repeats, args.results_dir, args.name, render)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
