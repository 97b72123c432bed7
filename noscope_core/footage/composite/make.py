"""``make_long_camera``: the typed spec in, a long composited video and its placement truth out."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from noscope_core.common.atomic import atomic_path
from noscope_core.common.errors import ArtifactError, QueryError, VideoError
from noscope_core.footage.composite.bank import SourceBank, source_bank
from noscope_core.footage.composite.drift import (
    DriftSpec,
    apply_light,
    apply_rain,
    apply_shift,
    gains_bgr,
    raining,
    shift_px,
)
from noscope_core.footage.composite.render import SensorNoise, compose
from noscope_core.footage.composite.scene import SceneSpec, plan_people, plan_vehicles
from noscope_core.footage.composite.truth import PlacementTruth, load_truth, truth_path, write_truth
from noscope_core.video.writer import encoding_thread

#: container extension -> FourCC of OpenCV's FFmpeg writer (MPEG-4 Part 2 in both)
CODECS = {".mp4": "mp4v", ".avi": "XVID"}
MAX_SECONDS = 7 * 24 * 3600.0
MAX_HOUR = 10_000


def hour_seed(seed: int, hour: int) -> int:
    """The seed of hour ``hour`` (1-based) of the camera made with ``seed``: the camera continues.

    Hour 1 is the camera itself (``seed`` unchanged, so today's video stays byte-identical); hour K > 1 is the same
    spec with a seed derived from ``(seed, K)`` by NumPy's ``SeedSequence`` -- the same background and people on new
    walks, never equal to another hour's or to a small plain seed by construction of the hash (32 bits, >= 2**16).
    """
    if not 1 <= hour <= MAX_HOUR:
        raise QueryError(f"--hour must lie in [1, {MAX_HOUR}], got {hour}", hint="hour 1 is the camera itself")
    if hour == 1:
        return int(seed)
    state = int(np.random.SeedSequence([int(seed), int(hour)]).generate_state(1, np.uint32)[0])
    return state | 0x10000


def hour_path(path: str | Path, hour: int) -> Path:
    """Where hour ``hour`` of the camera at ``path`` lies: ``path`` itself for hour 1, ``STEM-hK.SUFFIX`` beside it."""
    path = Path(path)
    return path if hour == 1 else path.with_name(f"{path.stem}-h{hour}{path.suffix}")


@dataclass(frozen=True)
class LongCameraSpec:
    """Everything that decides the output: equal specs give equal videos (same OpenCV build)."""

    seconds: float = 3600.0
    fps: float = 10.0
    seed: int = 0
    drift: DriftSpec = field(default_factory=DriftSpec)
    scene: SceneSpec = field(default_factory=SceneSpec)
    source: str | None = None  # default: $NOSCOPE_HOME/videos/vtest.avi
    detector: str = "ssd-mobilenet-v3"  # cuts the people out of the source
    min_score: float = 0.5
    noise_sigma: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.seconds <= MAX_SECONDS:
            raise QueryError(f"--seconds must lie in (0, {MAX_SECONDS:g}], got {self.seconds:g}", hint="e.g. 3600")
        if not 1 <= self.fps <= 60:
            raise QueryError(f"--fps must lie in [1, 60], got {self.fps:g}", hint="the source runs at 10")
        if self.noise_sigma < 0 or not 0 < self.min_score < 1:
            raise QueryError("noise sigma must be >= 0 and min_score lie in (0, 1)")

    @property
    def n_frames(self) -> int:
        return max(1, int(round(self.seconds * self.fps)))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class LongCameraResult:
    video_path: Path
    truth_path: Path
    n_frames: int
    fps: float
    width: int
    height: int
    codec: str
    n_objects: int
    source_tracks: int
    bank_seconds: float  # getting the source material (cached after the first run)
    render_seconds: float
    render_fps: float  # frames generated per second, encoding included


def _encoder(path: Path, fps: float, size: tuple[int, int]) -> cv2.VideoWriter:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*CODECS[path.suffix.lower()]), fps, size)
    if not writer.isOpened():
        raise VideoError("OpenCV cannot write MPEG-4 video here", hint="this OpenCV build lacks an FFmpeg writer")
    return writer


def render_frames(spec: LongCameraSpec, bank: SourceBank):
    """Yield ``(frame_index, bgr, placed)`` for the whole video: the generator without the encoder (for tests)."""
    n = spec.n_frames
    people = plan_people(bank, spec.scene, n, spec.fps, np.random.default_rng([spec.seed, 1]))
    apps = list(people)
    if spec.drift.has("vehicle"):
        start = int(spec.drift.start_fraction * n)
        rng = np.random.default_rng([spec.seed, 2])
        apps += plan_vehicles(bank, n, spec.fps, start, spec.drift.vehicle_every_s, rng, len(people))
    order = sorted(range(len(apps)), key=lambda i: apps[i].first_frame)
    noise = SensorNoise(bank.background.shape, spec.noise_sigma, spec.seed)
    nxt, active = 0, []
    for f in range(n):
        while nxt < len(order) and apps[order[nxt]].first_frame <= f:
            active.append(apps[order[nxt]])
            nxt += 1
        active = [a for a in active if a.last_frame >= f]
        img, placed = compose(bank.background, bank, [(a, f - a.first_frame) for a in active])
        t_s = f / spec.fps
        img = apply_light(img, gains_bgr(t_s, spec.seconds, spec.seed, spec.drift))
        dx, dy = shift_px(t_s, spec.seconds, spec.drift)
        img = apply_shift(img, dx, dy)
        rng = np.random.default_rng([spec.seed, 3, f])
        if raining(t_s, spec.seconds, spec.drift):
            img = apply_rain(img, rng)
        img = noise.apply(img, rng)
        yield f, img, _shifted(placed, dx, dy, img.shape[1], img.shape[0])


def _shifted(placed, dx: int, dy: int, width: int, height: int):
    if dx == 0 and dy == 0:
        return placed
    from dataclasses import replace

    out = []
    for p in placed:
        x, y, w, h = p.box_px
        x0, y0 = max(0.0, x + dx), max(0.0, y + dy)
        x1, y1 = min(float(width), x + w + dx), min(float(height), y + h + dy)
        if x1 > x0 and y1 > y0:
            out.append(replace(p, box_px=(x0, y0, x1 - x0, y1 - y0)))
    return out


def existing_camera(spec: LongCameraSpec, out_path: str | Path) -> PlacementTruth | None:
    """The truth of a camera already at ``out_path`` made from ``spec``, or None when it must be (re)made.

    Equal specs give equal videos, so a video whose truth records the same spec and the video's own
    fingerprint is the one this spec would write: making it again would only cost time.
    """
    from noscope_core.video.probe import file_fingerprint

    out_path = Path(out_path).expanduser()
    truth_file = truth_path(out_path)
    if not (out_path.is_file() and truth_file.is_file()):
        return None
    try:
        truth = load_truth(truth_file)
    except ArtifactError:
        return None
    if truth.spec_json != spec.to_json() or truth.video_fingerprint != file_fingerprint(out_path):
        return None
    return truth


def make_long_camera(
    spec: LongCameraSpec,
    out_path: str | Path,
    progress: Callable[[str, int, int], None] | None = None,
    bank: SourceBank | None = None,
) -> LongCameraResult:
    """Write the video (atomically), then its placement truth beside it (``truth_path``), atomically too.

    ``progress(stage, done, total)`` is called now and then with stage ``"source"`` or ``"render"``. ``bank``
    replaces the material cut from ``spec.source`` (tests pass a small synthetic one).
    """
    from noscope_core.common.paths import default_video
    from noscope_core.video.probe import file_fingerprint

    out_path = Path(out_path).expanduser()
    ext = out_path.suffix.lower()
    if ext not in CODECS:
        raise VideoError(f"unsupported output extension {ext or '(none)'!r}", hint=f"use {' or '.join(CODECS)}")
    t0 = time.perf_counter()
    if bank is None:
        source = Path(spec.source).expanduser() if spec.source else default_video()
        if not source.is_file():
            raise VideoError(f"source video {source} not found", hint="run `noscope fetch` or give --source PATH")
        bank = source_bank(
            source,
            spec.detector,
            spec.min_score,
            progress=(lambda d, n: progress("source", d, n)) if progress else None,
        )
    bank_s = time.perf_counter() - t0
    class_names = ["person"] + ([bank.vehicle.class_name] if bank.vehicle is not None else [])
    rows_f, rows_id, rows_cls, rows_box, rows_vis = [], [], [], [], []
    ids: set[int] = set()
    width, height = bank.size
    t1 = time.perf_counter()
    with atomic_path(out_path, suffix=ext) as tmp:
        writer = _encoder(tmp, spec.fps, (width, height))
        with encoding_thread(writer, out_path, "long-camera-encoder") as put:
            for f, img, placed in render_frames(spec, bank):
                put(img)
                for p in placed:
                    rows_f.append(f)
                    rows_id.append(p.object_id)
                    rows_cls.append(class_names.index(p.class_name))
                    rows_box.append(p.box_px)
                    rows_vis.append(p.visible)
                    ids.add(p.object_id)
                if progress is not None and f % 500 == 499:
                    progress("render", f + 1, spec.n_frames)
    render_s = time.perf_counter() - t1
    truth = PlacementTruth(
        spec.n_frames,
        spec.fps,
        width,
        height,
        tuple(class_names),
        np.array(rows_f, np.int32),
        np.array(rows_id, np.int32),
        np.array(rows_cls, np.int8),
        np.array(rows_box, np.float32).reshape(-1, 4),
        np.array(rows_vis, np.float32),
        file_fingerprint(out_path),
        spec.to_json(),
    )
    write_truth(truth_path(out_path), truth)
    return LongCameraResult(
        out_path,
        truth_path(out_path),
        spec.n_frames,
        spec.fps,
        width,
        height,
        CODECS[ext],
        len(ids),
        len(bank.people),
        bank_s,
        render_s,
        spec.n_frames / max(render_s, 1e-9),
    )
