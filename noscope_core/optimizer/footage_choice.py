"""Which cascade answers a given length of footage: the priced frontier, re-priced for the answer's own length.

A certified answer's bill depends on its length (:mod:`noscope_core.optimizer.certified_cost`): the certificate's
draws do not shrink with the footage, so a cascade that pays on an hour may cost more than the reference on two
minutes, and a cheaper, less accurate one may win on a day. The optimizer plans for the camera's declared
footage; ``noscope apply`` knows the length of the file it answers, so it prices the same frontier again for that
length (:func:`price_for_footage`) and runs the cheapest (:func:`choose_for_footage`), which may be the reference
alone on a short file. Only candidates planned for certification carry the answer shape this needs; the promise
itself is still the certificate's, made on the answer after the cascade is fixed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from noscope_core.optimizer.candidate import Candidate, priced_figure
from noscope_core.optimizer.certified_cost import certified_estimate, footage_text, pays_from_frames
from noscope_core.spec.camera import Targets

#: candidates (the best-priced ones) tried when saying from what footage length a certified answer pays
PAYING_CANDIDATES = 6


def price_for_footage(
    cand: Candidate, footage_frames: int, reference_ms: float, targets: Targets, certify_frame_decode_ms: float | None
) -> Candidate:
    """``cand`` (with its ``answer_shape``) priced for a certified answer of ``footage_frames`` frames.

    ``certify_frame_decode_ms``: decoding one frame the certificate labels (None: decode not priced)."""
    if cand.answer_shape is None:
        raise ValueError("a candidate is priced for certification only with its answer shape")
    est = certified_estimate(
        cand.answer_shape,
        cand.cost_ms,
        reference_ms,
        footage_frames,
        targets.max_fnr,
        targets.max_fpr,
        float(priced_figure(targets.confidence)),  # priced for certification: the targets carry a confidence
    )
    decode = None if certify_frame_decode_ms is None else est.certify_frames * certify_frame_decode_ms / footage_frames
    return replace(
        cand,
        footage_frames=est.footage_frames,
        expected_certify_frames=est.certify_frames,
        expected_certified_cost_ms=est.cost_ms,
        expected_speedup_certified=est.speedup,
        expected_certify_decode_ms=decode,
    )


def cheapest_certified(candidates: Sequence[Candidate]) -> Candidate:
    """The candidate with the lowest expected certified cost (reading included), ties to the more accurate."""
    priced = [c for c in candidates if c.certified_total_ms is not None]
    if not priced:
        raise ValueError("no candidate is priced for certification")
    return min(priced, key=lambda c: (priced_figure(c.certified_total_ms), c.error))


def pays_from_sentence(
    candidates: Sequence[Candidate],
    reference_ms: float,
    targets: Targets,
    footage_frames: int,
    fps: float | None,
    certify_frame_decode_ms: float | None = None,
) -> str:
    """Why no cascade pays on ``footage_frames`` frames, and from what length one would: "the closest, …, runs at
    …x but its certificate is expected to spend about … reference frames (…x); a certified answer pays from about
    … of footage"."""
    priced = [
        c
        for c in candidates
        if c.expected_certified_cost_ms is not None
        and c.answer_shape is not None
        and c.cost_ms < reference_ms
        and not c.config.is_reference_only
    ]
    if not priced:
        return "no cascade runs cheaper than the reference on the threshold segment"
    priced.sort(key=lambda c: priced_figure(c.expected_certified_cost_ms))
    closest = priced[0]
    msg = (
        f"the closest, {closest.describe()}, runs at {closest.speedup:.3g}x but its certificate is expected to "
        f"spend about {closest.expected_certify_frames:,.0f} reference frames ({closest.expected_speedup_certified:.2g}x)"
    )
    # reading the video counts on both sides when it was priced: the reference decodes every frame
    ref = next((c for c in candidates if c.config.is_reference_only), None)
    ref_read = (ref.decode_ms or 0.0) if ref is not None else 0.0
    froms = [
        f
        for c in priced[:PAYING_CANDIDATES]
        if (f := pays_from_frames(
            priced_figure(c.answer_shape), c.cost_ms, reference_ms, targets.max_fnr, targets.max_fpr, priced_figure(targets.confidence),
            footage_frames + 1, c.decode_ms or 0.0, certify_frame_decode_ms or 0.0, ref_read,
        )) is not None
    ]  # fmt: skip
    if not froms:
        return msg + "; no footage length makes a certified answer pay with these models"
    return msg + f"; a certified answer pays from about {footage_text(min(froms), fps)} of footage"


@dataclass(frozen=True)
class FootageChoice:
    """The cascade chosen for one answer's footage, beside the one planned for the camera's declared footage.

    ``chosen``: re-priced for ``footage_frames``; ``planned``: the artifact's own choice (priced for
    ``planned_frames``); ``considered``: candidates priced (those planned for certification whose pieces exist);
    ``reason``: the choice in words, with the expected certified speed-up for this footage."""

    footage_frames: int
    planned_frames: int | None
    chosen: Candidate
    planned: Candidate
    considered: int
    reason: str

    @property
    def changed(self) -> bool:
        return self.chosen.config != self.planned.config or self.chosen.keyframe_plan != self.planned.keyframe_plan

    def to_dict(self) -> dict:
        return {
            "footage_frames": self.footage_frames,
            "planned_frames": self.planned_frames,
            "chosen": self.chosen.to_dict(),
            "planned": self.planned.to_dict(),
            "changed": self.changed,
            "considered": self.considered,
            "expected_certify_frames": self.chosen.expected_certify_frames,
            "expected_speedup_certified": self.chosen.expected_speedup_certified,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, d: dict) -> FootageChoice:
        return cls(
            footage_frames=int(d["footage_frames"]),
            planned_frames=None if d.get("planned_frames") is None else int(d["planned_frames"]),
            chosen=Candidate.from_dict(d["chosen"]),
            planned=Candidate.from_dict(d["planned"]),
            considered=int(d["considered"]),
            reason=str(d["reason"]),
        )


def choose_for_footage(
    candidates: Sequence[Candidate],
    planned: Candidate,
    *,
    footage_frames: int,
    reference_ms: float,
    targets: Targets,
    fps: float | None = None,
    certify_frame_decode_ms: float | None = None,
    planned_frames: int | None = None,
    available: Callable[[Candidate], bool] = lambda c: True,
) -> FootageChoice | None:
    """The candidate with the lowest expected certified cost for an answer of ``footage_frames`` frames, among
    ``candidates`` planned for certification (they carry ``answer_shape``) whose pieces are ``available``; None
    when none is (an artifact planned by the bound or point rule: it runs its own choice)."""
    if targets.confidence is None:
        return None
    n = int(footage_frames)
    if n < 1:
        raise ValueError(f"an answer has at least one frame, got {footage_frames!r}")
    seen, pool = set(), []
    for c in candidates:
        key = (c.config, c.keyframe_plan)
        if c.answer_shape is None or key in seen or not available(c):
            continue
        seen.add(key)
        pool.append(price_for_footage(c, n, reference_ms, targets, certify_frame_decode_ms))
    if not pool:
        return None
    best = cheapest_certified(pool)
    here = footage_text(n, fps)
    if best.config.is_reference_only:
        reason = (
            f"the reference on every frame: on this answer of {here} no cascade's expected certified cost beats "
            f"the reference's; {pays_from_sentence(pool, reference_ms, targets, n, fps, certify_frame_decode_ms)}"
        )
    else:
        reason = (
            f"expected {best.expected_speedup_certified:.3g}x certified on this answer of {here} (its certificate "
            f"about {best.expected_certify_frames:,.0f} reference frames), the cheapest of {len(pool)} priced"
        )
    repriced_planned = next(
        (c for c in pool if c.config == planned.config and c.keyframe_plan == planned.keyframe_plan), planned
    )
    if best.config != planned.config or best.keyframe_plan != planned.keyframe_plan:
        was = "" if planned_frames is None else f" for {footage_text(planned_frames, fps)}"
        there = repriced_planned.expected_speedup_certified
        reason += f"; planned{was}: {planned.describe()}" + ("" if there is None else f" ({there:.3g}x on this answer)")
    return FootageChoice(n, planned_frames, best, planned, len(pool), reason)
