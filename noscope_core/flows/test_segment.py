"""Running a cascade over the test segment: its answer (intervals), its speed against the reference with and
without decoding, and, given the reference's labels, its error."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from noscope_core.cascade.evaluate import error_rates
from noscope_core.cascade.evaluate import intervals as intervals_of
from noscope_core.cascade.execute import Cascade, CascadeRun
from noscope_core.cascade.keyframe_run import run_plan, run_plan_frames
from noscope_core.common.atomic import write_json
from noscope_core.common.errors import ArtifactError, VideoError
from noscope_core.guarantees.certificate import Certificate
from noscope_core.guarantees.certify_answer import CertifyOptions, SegmentReference, certify_run, not_certified_reason
from noscope_core.optimizer.cascade_artifact import CascadeArtifact
from noscope_core.reference.detect import ReferenceTiming, measure_cost_ms, timed_where
from noscope_core.spec.query import Query
from noscope_core.spec.split import Segment
from noscope_core.video.frames import DecodeStats, iter_frames, read_frames

#: test frames on which the reference is timed beside the cascade
REFERENCE_TIMING_FRAMES = 16


@dataclass(frozen=True)
class QueryResult:
    """What a query answers, with its speed against the reference and (given its labels) its error against it.

    ``to_dict`` is the JSON shape of ``noscope query --json``."""

    video: str
    artifact: CascadeArtifact  # the cascade that answered, with its targets and threshold-segment frontier
    test_segment: Segment
    reference_fps: float
    cascade_fps: float
    reference_calls: int
    reference_call_fraction: float
    positive_frames: int
    intervals: tuple[tuple[int, int], ...]  # positive frames, half-open [start, end)
    intervals_s: tuple[tuple[float, float], ...]
    seconds: dict[str, float] = field(default_factory=dict)
    reference_fps_e2e: float | None = None  # decode included
    cascade_fps_e2e: float | None = None
    fnr: float | None = None  # None: not measured (no reference labels for the test segment)
    fpr: float | None = None
    labels_agree_e2e: float | None = None  # share of frames where streaming and stored-frame runs agree
    # the answer's bounds on its own frames (None: not certified, see certify_reason); its corrected labels are
    # the answer, and its reference frames are charged to cascade_fps (certify_seconds at the reference's rate)
    certificate: Certificate | None = None
    certify_reason: str | None = None
    certify_seconds: float = 0.0
    certify_seconds_e2e: float = 0.0
    #: how the answer read the video: "dense", "keyframe-first", or why a keyframe-first plan ran densely
    plan: str = "dense"
    #: how ``reference_fps`` was taken (which frames, where): the one measurement every speed-up divides by
    reference_timing: str = ""
    plan_counts: dict[str, int] | None = None  # a keyframe-first run's keyframes, opened frames, ranges
    seconds_e2e: dict[str, float] | None = None  # the streaming run's stage times (decode included), summed over ranges

    @property
    def query(self) -> Query:
        return self.artifact.query

    @property
    def certified(self) -> bool:
        return bool(self.certificate is not None and self.certificate.certified)

    def promise(self) -> dict:
        """The promise and whether it is kept: the JSON fields every report shares (CLI, benchmarks, Dagster)."""
        art, cert = self.artifact, self.certificate
        return {
            "confidence": art.targets.confidence,
            "fnr_bound": cert.fnr_bound if cert else None,
            "fpr_bound": cert.fpr_bound if cert else None,
            "threshold_fnr_bound": art.best.fnr_bound,
            "threshold_fpr_bound": art.best.fpr_bound,
            "certified": self.certified,
            # random draws (unbiased evaluation data) apart from frames chosen as risky: both charged
            "certify_frames": cert.frames_drawn if cert else 0,
            "tighten_frames": cert.frames_tightened if cert else 0,
            "certify_rounds": cert.rounds if cert else 0,
            "certify_budget": cert.budget_frames if cert else None,  # None: tightened until certified
            "certify_seed": cert.seed if cert else None,  # the draws' seed: fresh per answer unless asked for
            "certify_reason": self.certify_reason,
            "certify_seconds": self.certify_seconds,
            # what the draws found per stratum, before correction: an estimate of the cascade's own error here
            "certify_sample": cert.sample.to_dict() if cert and cert.sample else None,
        }

    @property
    def speedup(self) -> float:
        return self.cascade_fps / self.reference_fps

    @property
    def speedup_e2e(self) -> float | None:
        return (
            self.cascade_fps_e2e / self.reference_fps_e2e if self.cascade_fps_e2e and self.reference_fps_e2e else None
        )

    def to_dict(self) -> dict:
        art, seg = self.artifact, self.test_segment
        data = {
            "video": self.video,
            "object": art.query.object_class,
            "roi": list(art.query.roi.as_tuple()) if art.query.roi else None,
            "query": art.query.to_dict(),
            "frames_test": int(len(seg)),
            "test_segment": [seg.start, seg.stop],
            "test_ranges": [list(r) for r in seg.ranges],
            "reference": art.reference_name,
            "reference_fps": self.reference_fps,
            "reference_timing": self.reference_timing,
            "reference_fps_e2e": self.reference_fps_e2e,
            "cascade_fps": self.cascade_fps,
            "speedup": self.speedup,
            "cascade_fps_e2e": self.cascade_fps_e2e,
            "speedup_e2e": self.speedup_e2e,
            "fnr": self.fnr,
            "fpr": self.fpr,
            "reference_call_fraction": self.reference_call_fraction,
            "reference_calls": self.reference_calls,
            "seconds": dict(self.seconds),
            "cascade": art.best.to_dict(),
            "fell_back": art.fell_back,
            "fallback_reason": art.reason,
            **self.promise(),
            "targets": art.targets.to_dict(),
            "frontier": [c.to_dict() for c in art.frontier],
            "intervals": [list(iv) for iv in self.intervals],
            "intervals_s": [list(iv) for iv in self.intervals_s],
            "positive_frames": self.positive_frames,
            "plan": self.plan,
            "plan_counts": self.plan_counts,
            "seconds_e2e": self.seconds_e2e,
        }
        if self.labels_agree_e2e is not None:
            data["labels_agree_e2e"] = self.labels_agree_e2e
        if art.footage_choice is not None:  # re-planned for this answer's length (noscope apply): what ran, why
            data["footage_choice"] = art.footage_choice.to_dict()
        if art.decoding is not None:  # several decodings were offered: which one answered, and why
            data["decoding"] = {**art.decoding.to_dict(), "describe": art.decoding.describe(art.targets)}
        return data

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def of_run(
        cls,
        run: CascadeRun,
        artifact: CascadeArtifact,
        video: str | Path,
        segment: Segment,
        *,
        fps: float,
        cert: Certificate | None,
        certify: CertifyOptions,
        reference: ReferenceTiming,
        reference_fps_e2e: float | None,
        cascade_fps_e2e: float | None,
        truth: np.ndarray | None = None,
        plan: str | None = None,
        labels_agree_e2e: float | None = None,
        seconds_e2e: dict[str, float] | None = None,
    ) -> QueryResult:
        """The answer of one run (corrected by its certificate when there is one), with certification's reference
        frames charged at the reference's rate; ``noscope query``'s test segment and ``noscope apply``'s video
        alike. ``fps``: the video's frame rate, for the intervals' timestamps. ``reference``: the run's one
        measurement of the reference; an answer that was the reference on every frame runs at that rate (1x)."""
        reference_ms = reference.ms_per_frame
        run_fps = reference.fps if artifact.best.config.is_reference_only else float(run.fps)
        answer = cert.labels if cert is not None else run.labels
        checked = cert.frames_labelled if cert is not None else 0
        cascade_fps, e2e_fps, certify_s, certify_s_e2e = charge_certification(
            len(run.labels), run_fps, cascade_fps_e2e, checked, reference_ms, reference_fps_e2e
        )
        found = intervals_of(answer, run.frame_index, fps)
        rates = error_rates(answer, truth) if truth is not None else None
        return cls(
            video=str(video),
            artifact=artifact,
            test_segment=segment,
            reference_fps=1000.0 / reference_ms,
            cascade_fps=float(cascade_fps),
            reference_calls=int(run.reference_calls),
            reference_call_fraction=float(run.reference_call_fraction),
            positive_frames=int(answer.sum()),
            intervals=tuple((int(iv.start_frame), int(iv.end_frame)) for iv in found),
            intervals_s=tuple((iv.start_frame / fps, iv.end_frame / fps) for iv in found),
            seconds={k: float(v) for k, v in run.seconds.items()},
            reference_fps_e2e=reference_fps_e2e,
            cascade_fps_e2e=None if e2e_fps is None else float(e2e_fps),
            fnr=float(rates.fnr) if rates else None,
            fpr=float(rates.fpr) if rates else None,
            labels_agree_e2e=labels_agree_e2e,
            certificate=cert,
            certify_reason=cert.reason if cert is not None else not_certified_reason(certify, artifact.targets),
            certify_seconds=certify_s,
            certify_seconds_e2e=certify_s_e2e,
            plan=run.plan if plan is None else plan,
            reference_timing=reference.how,
            plan_counts=run.plan_counts,
            seconds_e2e=seconds_e2e,
        )


def run_on_segment(
    cascade: Cascade,
    artifact: CascadeArtifact,
    store,
    segment: Segment,
    video: str | Path,
    truth: np.ndarray | None = None,
    e2e: bool = True,
    certify: CertifyOptions | None = None,
    known_reference: np.ndarray | None = None,
    cache=None,
    reference_timing: ReferenceTiming | None = None,
) -> QueryResult:
    """Run the cascade over ``segment`` of the store (decode excluded), then streaming over the video (decode
    included), certify its answer, and report speed against the reference and, with ``truth``, the error against it.

    ``certify`` (default: on, no cap, a fresh seed) certifies at ``artifact.targets.confidence``; the reference
    labels the sampled frames through ``cache`` (a ``DetectionCache``), or reads them from ``known_reference``
    (the reference's unsmoothed labels of the segment's frames, already paid for). Either way each sampled frame
    is charged at the reference's measured cost (decode included for the end-to-end figure), since a user's
    query pays for it.

    ``reference_timing``: the reference's cost already measured in this run (a pipeline run's labelling), so
    every figure of the run divides by one measurement; None: timed once now (:func:`reference_cost_ms`)."""
    certify = CertifyOptions() if certify is None else certify
    idx = segment.indices()
    frames = np.asarray(store.frames(cascade.view)[idx])
    plan = artifact.keyframe_plan
    keyframes = _keyframes(video) if plan is not None else None
    if plan is None or keyframes is None:
        run = cascade.run_frames(frames, idx, fetch_full=lambda ii: read_frames(video, ii))
    else:
        run = run_plan_frames(cascade, plan, frames, idx, keyframes, fetch_full=lambda ii: read_frames(video, ii))
    reference = SegmentReference(video, cascade.reference, cascade.query, idx, cache=cache, known=known_reference)
    cert = certify_run(run, cascade.config, artifact.targets, reference, certify)
    timing = reference_timing or reference_cost_ms(run, cascade, video, idx, artifact.costs.reference_ms)
    ref_ms = timing.ms_per_frame
    e2e_labels, e2e_fps, reference_fps_e2e, runs = None, None, None, []
    if e2e:
        # The reference on every frame must decode every frame: decode-only speed over the segment, plus it.
        reference_fps_e2e = 1000.0 / (ref_ms + 1000.0 / decode_fps(video, segment.ranges))
        if cascade.config.is_reference_only:
            # the fallback cascade is the reference on every frame: its end-to-end rate is the reference's own,
            # instead of running the detector over the whole segment a second time
            e2e_fps = reference_fps_e2e
        else:
            # streaming over the video itself, range by range: decode (only of the frames the cascade
            # evaluates) is included
            runs = [run_plan(cascade, plan, video, start=a, stop=b) for a, b in segment.ranges]
            e2e_labels = np.concatenate([r.labels for r in runs])
            e2e_fps = sum(len(r.labels) for r in runs) / max(sum(r.seconds["total"] for r in runs), 1e-9)
    agree = None
    if e2e_labels is not None and len(e2e_labels) == len(run.labels):
        # streaming and stored frames go through the same preprocess: the two runs should agree
        agree = float(np.mean(e2e_labels == run.labels))
    return QueryResult.of_run(
        run,
        artifact,
        video,
        segment,
        fps=store.fps,
        cert=cert,
        certify=certify,
        reference=timing,
        reference_fps_e2e=reference_fps_e2e,
        cascade_fps_e2e=e2e_fps,
        truth=truth,
        plan=_plan_text(run, runs if e2e_labels is not None else [], plan, keyframes),
        labels_agree_e2e=agree,
        seconds_e2e={k: float(sum(r.seconds.get(k, 0.0) for r in runs)) for k in runs[0].seconds} if runs else None,
    )


def reference_cost_ms(
    run: CascadeRun, cascade: Cascade, video: str | Path, frame_index: np.ndarray, fallback_ms: float
) -> ReferenceTiming:
    """The reference's cost per frame that a run's speed-ups are measured against, taken once in this run, with
    how it was taken (for a run that has not measured it already, e.g. ``noscope query``).

    When the answer was the reference on every frame, the run itself timed it: the speed-up is 1x by construction
    (16 frames timed minutes later printed 1.2x on a loaded machine, 1.4x in ``noscope apply``). Otherwise the
    reference is timed now on a few of the run's frames, beside the cascade: its cost from labelling time may come
    from a cache filled on a busier or quieter machine. ``fallback_ms`` (the artifact's) when it cannot be timed."""
    n = len(run.labels)
    if cascade.config.is_reference_only and run.fps > 0:
        how = f"the answer itself: the reference on each of the {n:,} frames, decode excluded, {timed_where()}"
        return ReferenceTiming(1000.0 / float(run.fps), how)
    ms = measure_cost_ms(video, cascade.reference, frame_index, n=REFERENCE_TIMING_FRAMES)
    if ms is None:
        return ReferenceTiming(fallback_ms, "the cascade's, measured when it was trained (not timed here)")
    if cascade.reference.declared_cost_ms is not None:
        return ReferenceTiming(ms, "declared (the camera's reference_fps), not timed")
    timed = min(REFERENCE_TIMING_FRAMES, len(frame_index))
    return ReferenceTiming(ms, f"timed on {timed} answered frames beside the cascade, decode excluded, {timed_where()}")


def _plan_text(run, streamed: Sequence, plan, keyframes) -> str:
    """How the answer read the video; the streaming run's own when it differed (e.g. fell back to dense)."""
    text = run.plan if keyframes is not None or plan is None else "dense: the video has no keyframe index"
    other = {r.plan for r in streamed} - {text}
    return text + "".join(f"; streamed: {o}" for o in sorted(other))


def _keyframes(video: str | Path) -> np.ndarray | None:
    """The video's keyframe frame numbers, None when PyAV cannot index it (the plan then runs densely)."""
    from noscope_core.video.readers.keyframe_cache import keyframe_index

    try:
        return keyframe_index(video).keyframes
    except (VideoError, ImportError):
        return None


def charge_certification(
    n_frames: int,
    cascade_fps: float,
    e2e_fps: float | None,
    checked: int,
    reference_ms: float,
    reference_fps_e2e: float | None,
) -> tuple[float, float | None, float, float]:
    """The cascade's rates with certification's reference frames charged at the reference's rate (decode
    included for the end-to-end rate): (cascade_fps, e2e_fps, certify_seconds, certify_seconds_e2e)."""
    certify_s = checked * reference_ms / 1000.0
    certify_s_e2e = checked / reference_fps_e2e if reference_fps_e2e else certify_s
    charged = n_frames / (n_frames / max(cascade_fps, 1e-9) + certify_s)
    if e2e_fps is not None:
        e2e_fps = n_frames / (n_frames / max(e2e_fps, 1e-9) + certify_s_e2e)
    return charged, e2e_fps, certify_s, certify_s_e2e


def decode_fps(video: str | Path, ranges: Sequence[tuple[int, int]]) -> float:
    """Decode-only frames/s over ``ranges`` ``[start, stop)`` (every frame grabbed and retrieved)."""
    stats = DecodeStats()
    start = time.perf_counter()
    n = 0
    for a, b in ranges:
        for batch in iter_frames(video, start=a, stop=b, stats=stats):
            n += len(batch.indices)
    if n == 0:
        raise ArtifactError(f"no frame of {video} decodes")
    return n / max(time.perf_counter() - start, 1e-9)
