"""Certify a cascade's answer over a video: the reference that checks sampled frames, and the certificate.

``noscope_core.guarantees.certificate`` holds the statistics on plain arrays; this module connects them to a real run: the
reference callable decodes the requested frames at full resolution and labels them for the query (through the
detection cache, or from labels already paid for), and it counts every frame it is asked about, because a
user's query pays for each one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from noscope_core.cascade.routing import CascadeConfig, CascadeRun
from noscope_core.common.errors import QueryError
from noscope_core.guarantees.certificate import Certificate, Decisions, certify
from noscope_core.reference.detect import run_reference
from noscope_core.reference.detection_cache import DetectionCache
from noscope_core.reference.labels import frame_label
from noscope_core.spec.camera import Targets
from noscope_core.spec.query import Query


@dataclass(frozen=True)
class CertifyOptions:
    """Whether and how an answer is certified.

    ``budget_frames``: a cap on the reference frames certification may spend, after which the answer may end
    uncertified; None (the default): no cap, tightening goes on until the answer is certified (at worst every
    undecided frame of a failing stratum goes to the reference). ``seed``: the draws' seed, for tests; None (the
    default): fresh OS entropy per answer, recorded in its certificate."""

    enabled: bool = True
    budget_frames: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        budget = self.budget_frames
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int | np.integer) or budget < 0):
            raise QueryError(
                f"--certify-budget must be a whole number of frames, 0 or more, got {budget!r}",
                "leave it out to tighten until the answer is certified, or --no-certify to skip certification",
            )
        seed = self.seed
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0):
            raise QueryError(
                f"--certify-seed must be a whole number, 0 or more, got {seed!r}",
                "leave it out to draw fresh frames for every answer (a fixed seed is for tests)",
            )

    @classmethod
    def of(cls, enabled: bool = True, budget_frames: int | None = None, seed: int | None = None) -> CertifyOptions:
        return cls(bool(enabled), budget_frames, seed)


class SegmentReference:
    """The reference as certification asks it: positions in the run → the reference's labels of those frames.

    ``known``: the reference's (unsmoothed) labels of every frame of the run, already computed elsewhere (the
    pipeline labels the test segment anyway); they are read for free but counted like fresh calls.
    """

    def __init__(
        self,
        video: str | Path,
        detector,
        query: Query,
        frame_index: np.ndarray,
        cache: DetectionCache | None = None,
        known: np.ndarray | None = None,
    ) -> None:
        self.video, self.detector, self.query, self.cache = Path(video), detector, query, cache
        self.frame_index = np.asarray(frame_index, dtype=np.int64)
        self.known = None if known is None else np.asarray(known, dtype=bool).reshape(-1)
        if self.known is not None and len(self.known) != len(self.frame_index):
            raise ValueError(f"{len(self.known)} known labels for {len(self.frame_index)} frames")
        self.frames_asked = 0

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        positions = np.asarray(positions, dtype=np.int64).reshape(-1)
        self.frames_asked += len(positions)
        if self.known is not None:
            return self.known[positions]
        src = self.frame_index[positions]
        run = run_reference(self.video, self.detector, src, cache=self.cache)
        by_frame = dict(zip(run.frame_index.tolist(), run.detections, strict=True))
        return np.array([frame_label(by_frame[int(i)], self.query) for i in src], dtype=bool)


def exact_certificate(labels: np.ndarray, targets: Targets, budget_frames: int | None) -> Certificate:
    """The certificate of an answer the reference gave on every frame: exact, nothing to sample."""
    return Certificate(
        fnr_bound=0.0,
        fpr_bound=0.0,
        certified=True,
        confidence=float(targets.confidence),
        max_fnr=targets.max_fnr,
        max_fpr=targets.max_fpr,
        reference_calls=0,
        rounds=0,
        budget_frames=budget_frames,
        seed=None,
        reason="exact: the reference labelled every frame of this answer",
        labels=np.asarray(labels, dtype=bool).copy(),
    )


def certify_run(
    run: CascadeRun,
    config: CascadeConfig,
    targets: Targets,
    reference: Callable[[np.ndarray], np.ndarray],
    options: CertifyOptions,
) -> Certificate | None:
    """Certify one run's answer at the targets' confidence; None when not asked to (``options.enabled`` False,
    or NoScope's point rule: ``targets.confidence`` None makes no promise to certify)."""
    if not options.enabled or targets.confidence is None:
        return None
    if config.is_reference_only:
        return exact_certificate(run.labels, targets, options.budget_frames)
    return certify(
        Decisions.from_run(run, config),
        reference,
        targets.max_fnr,
        targets.max_fpr,
        confidence=targets.confidence,
        budget_frames=options.budget_frames,
        seed=options.seed,
    )


def not_certified_reason(options: CertifyOptions, targets: Targets) -> str:
    """Why an answer carries no certificate, in one sentence."""
    if targets.confidence is None:
        return "not certified: confidence none asks for NoScope's point rule, which promises nothing on new footage"
    if not options.enabled:
        return "not certified: certification was switched off (--no-certify)"
    return "not certified"
