"""``noscope query``: decode → label → train → optimize → run on the test segment, every stage cached on disk.

The stages are ``noscope_core.flows.stages``'s; this module chooses where their artifacts live and what is reported."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from noscope_core.common.artifacts import FINGERPRINT_CHARS
from noscope_core.common.atomic import write_json
from noscope_core.common.errors import QueryError
from noscope_core.common.paths import noscope_home
from noscope_core.flows import stages, test_segment
from noscope_core.flows.test_segment import QueryResult
from noscope_core.guarantees.certify_answer import CertifyOptions
from noscope_core.optimizer import cascade_artifact
from noscope_core.reference.label_artifact import ALL_SEGMENTS, FIT_SEGMENTS
from noscope_core.spec.camera import CameraSpec
from noscope_core.spec.query import Query
from noscope_core.video.decode import probe_video


@dataclass(frozen=True)
class QueryOptions:
    """One ``noscope query`` run: the spec to answer, and what to do besides answering it."""

    spec: CameraSpec
    evaluate: bool = False  # also label the test segment and measure the cascade's error against the reference
    json_out: Path | None = None
    work_root: Path | None = None  # default: $NOSCOPE_HOME
    certify: bool = True  # certify the answer on its own frames (at the spec's confidence; none: never)
    certify_budget: int | None = None  # a cap on certification's reference frames; None: tighten until certified
    certify_seed: int | None = None  # the draws' seed (tests); None: fresh per answer, recorded in the certificate

    def __post_init__(self) -> None:
        # Checked before any work: a bad value found after minutes of decoding and training wastes the run.
        check_output_file(self.json_out, "--json")
        self.certify_options()

    def certify_options(self) -> CertifyOptions:
        return CertifyOptions.of(self.certify, self.certify_budget, seed=self.certify_seed)


def check_output_file(path: Path | None, flag: str, example: str = "out.json") -> None:
    """Refuse an output path that cannot be written before any work starts: a folder, or a missing folder."""
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise QueryError(f"{flag} {path} is a folder", f"give the path of a file to write, e.g. {example}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise QueryError(f"{flag} {path}: the folder {parent} does not exist", "create it first, or write elsewhere")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise QueryError(f"{flag} {path} is not writable", "choose a path you may write to")


@dataclass(frozen=True)
class DecodeReport:
    """How much of the video could be decoded: a truncated or damaged file still answers from what decodes."""

    frames: int
    frames_claimed: int
    frames_missing_at_end: int
    corrupt_frames: int

    @property
    def damaged(self) -> bool:
        return bool(self.frames_missing_at_end or self.corrupt_frames)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class QueryCommandResult:
    """What ``noscope query`` answers: the query result, the labels' positive rates and the decode report.

    ``to_dict`` is the JSON ``noscope query --json`` writes."""

    result: QueryResult
    positive_rates: dict[str, float]
    decode: DecodeReport
    wall_seconds: float

    def to_dict(self) -> dict:
        return {
            **self.result.to_dict(),
            "wall_seconds": self.wall_seconds,
            "positive_rates": dict(self.positive_rates),
            "decode": self.decode.to_dict(),
        }

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())


def run_query_command(opts: QueryOptions, log: Callable[[str], None] = print) -> QueryCommandResult:
    t0 = time.perf_counter()
    spec = opts.spec
    info = probe_video(spec.video)
    detector = stages.open_reference(spec, frame_size=(info.width, info.height))
    spec.query.validate_class(detector.class_names)
    root = opts.work_root or noscope_home()
    run_key = f"{info.fingerprint}|{spec.query.key()}|{detector.identity()}|{spec.split.fractions}"
    log(f"[1/5] decoding {spec.video} ({info.width}x{info.height}, {info.fps:g} fps) ...")
    store = stages.decode(spec, root / "frames" / f"{info.fingerprint[:FINGERPRINT_CHARS]}-{_views_key(spec.query)}")
    decode_report = _decode_report(store)
    if decode_report.damaged:
        log(
            f"warning: {spec.video} is damaged: decoded {store.n_frames} of the {info.frame_count} frames it claims "
            f"({decode_report.frames_missing_at_end} missing at the end, {decode_report.corrupt_frames} "
            "undecodable in between, read as empty); the query uses the decoded frames"
        )
    segments_to_label = ALL_SEGMENTS if opts.evaluate else FIT_SEGMENTS
    log(f"[2/5] reference labels ({detector.name}) for {', '.join(segments_to_label)} ...")
    labels = stages.label(spec, store, detector, segments_to_label, cache_root=root / "cache" / "detections")
    if labels.segments.blocks > 1:
        log(
            f"      split into {labels.segments.blocks} blocks (the first consecutive split never saw the object come and go)"
        )
    rates = labels.positive_rates()
    log("      positive rate " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in rates.items()))
    # models and thresholds depend on which frames were train / threshold: key the work folder on the split
    run_key += f"|{labels.segments.to_dict()}|{spec.training.max_epochs}"
    if spec.training.decodings:  # one model family per decoding; runs without any keep their folders
        run_key += f"|decodings={','.join(spec.training.decodings)}"
    work = root / "runs" / hashlib.sha256(run_key.encode()).hexdigest()[:FINGERPRINT_CHARS]
    prepared = stages.prepare_cascade(spec, store, labels, work, reuse=True, log=log)
    art = prepared.artifact
    log(f"      chosen: {art.describe()}")
    log("[5/5] running the cascade on the test segment ...")
    cascade = cascade_artifact.load_cascade(art, detector, prepared.models_dir, prepared.dd_dir)
    truth = labels.segment("test").label if opts.evaluate else None
    # with --evaluate the test segment's detections are cached already: certification reads them from the cache
    # (and is still charged for them); otherwise it runs the reference on the frames it samples
    cache = stages.detection_cache(root / "cache" / "detections", info.fingerprint, detector)
    result = test_segment.run_on_segment(
        cascade,
        art,
        store,
        labels.segments.test,
        spec.video,
        truth=truth,
        certify=opts.certify_options(),
        cache=cache,
    )
    if result.certificate is not None or spec.targets.confidence is not None:
        log(f"      {result.certify_reason}")
    answer = QueryCommandResult(result, rates, decode_report, wall_seconds=time.perf_counter() - t0)
    if opts.json_out:
        answer.save(opts.json_out)
    return answer


def _decode_report(store) -> DecodeReport:
    return DecodeReport(
        frames=int(store.n_frames),
        frames_claimed=int(store.meta.get("frames_claimed", store.n_frames)),
        frames_missing_at_end=int(store.meta.get("frames_missing_at_end", 0)),
        corrupt_frames=int(store.n_corrupt),
    )


def _views_key(query: Query) -> str:
    roi = query.roi.as_tuple() if query.roi else None
    return hashlib.sha256(repr(roi).encode()).hexdigest()[:8]
