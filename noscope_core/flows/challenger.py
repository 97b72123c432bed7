"""Re-training that learns: a challenger trained on the camera's label store, judged against the champion on the
latest day's footage, both answers certified on the same frames.

Why this shape (docs/camera_life.md, "Re-training that learns"):

- **What it trains on.** The specialized models read one small frame and say whether the object is there, so any
  labelled frame teaches them: the initial training video's train segment (consecutive, as the champion's) plus
  every frame the store holds of the ``window_days`` most recent days *before* the judged day, decoded from each
  day's file by its index (:func:`decode_stored`). Chosen frames (``risky``, ``route``, ``certify``) are trained
  on, never validated on: early stopping validates on the initial segment's held-out tail and on a fifth of the
  window's unbiased frames only.
- **What it does not train on.** The judged day itself: the duel asks which cascade will serve the next days
  better, and a challenger that saw the judged day's hardest frames would win on frames it memorised. The
  difference detectors and the optimizer's threshold segment stay on the initial training video: a difference
  detector compares frame t with t-skip (or a background) and the optimizer simulates skips and counts evidence in
  blocks of consecutive frames, which scattered stored frames cannot give. The difference detectors are re-fitted
  on the initial train segment (deterministic: the champion's own), and the optimizer chooses with the same rules
  as the champion's (the certified planner for the camera's footage length).
- **How it is judged.** Both cascades answer the judged day's files with :func:`apply_to_video` (decode included,
  re-planned for each file's length), certified with one shared seed so both draw at the same positions. The cost
  compared is each answer's charged cost: its cheap stages as measured plus every reference frame it paid for —
  routed by the cascade, drawn by certification, chosen by tightening — priced at one reference cost for both (the
  mean the two answers measured), so the reference's timing jitter cannot decide the duel. :func:`judge` moves the
  champion only when the challenger's promise held (certified: both bounds within the targets, on the same frames)
  and its cost is lower.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from noscope_core.common.errors import DegenerateLabelsError, NoScopeError, QueryError, VideoError
from noscope_core.flows import stages
from noscope_core.flows.apply_flow import TrainedCascade, apply_to_video
from noscope_core.flows.test_segment import QueryResult
from noscope_core.guarantees.certify_answer import CertifyOptions
from noscope_core.models import difference_artifact, model_artifact
from noscope_core.reference.label_artifact import LabelSet
from noscope_core.reference.label_store import LabelledFrame
from noscope_core.reference.labels import FrameLabels, match_score
from noscope_core.spec.camera import CameraSpec
from noscope_core.spec.query import Query
from noscope_core.video.frames import read_frames
from noscope_core.video.probe import probe_video
from noscope_core.video.shrink import preprocess
from noscope_core.video.views import ViewSpec, model_view

#: days of stored labels a challenger trains on (besides the initial training segment): a week covers a weekly
#: rhythm and follows a drift within days, while a challenger's training stays minutes, not hours
DEFAULT_WINDOW_DAYS = 7
#: one unbiased stored frame in VALIDATION_EVERY validates (early stopping); the rest train
VALIDATION_EVERY = 5
#: how much lower a challenger's certified cost must be to win: the reference is priced once for both, but the cheap
#: stages are timed, and the same cascade answering the same 2,000 frames twice differed by 0.2 % on a loaded
#: machine; 2 % keeps a champion from being replaced by timing noise
DEFAULT_MIN_GAIN = 0.02


@dataclass(frozen=True)
class StoredExamples:
    """Stored frames decoded into a view: pixels, labels, soft targets, and which entered by chance."""

    frames: np.ndarray  # uint8 (N, S, S, 3)
    label: np.ndarray  # bool (N,)
    target: np.ndarray  # float32 (N,): the reference's confidence mapped like the initial training's
    unbiased: np.ndarray  # bool (N,)
    keys: tuple[tuple[str, int], ...]  # (file fingerprint, frame index) per row
    skipped: int = 0  # stored frames that could not be used
    notes: tuple[str, ...] = ()  # why (one line per file)


@dataclass(frozen=True)
class TrainingWindow:
    """What a challenger was trained on, in numbers a person can check."""

    judged_day: str
    days: tuple[str, ...]  # stored days trained on, oldest first
    initial_frames: int  # train-segment frames of the initial training video
    stored_frames: int  # stored frames of ``days`` decoded and used
    stored_unbiased: int
    stored_chosen: int  # risky / route / certify: trained on, never validated on
    stored_positive: int
    validation_frames: int
    skipped: int = 0
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        days = f"{self.days[0]}..{self.days[-1]}" if len(self.days) > 1 else (self.days[0] if self.days else "none")
        text = (
            f"{self.initial_frames} initial train-segment frames + {self.stored_frames} stored frames of "
            f"{len(self.days)} day(s) ({days}; {self.stored_unbiased} drawn at random, {self.stored_chosen} chosen, "
            f"{self.stored_positive} positive), {self.validation_frames} validating; {self.judged_day} held out"
        )
        return text + (f"; {self.skipped} stored frames unusable" if self.skipped else "")

    def to_dict(self) -> dict:
        return {
            "judged_day": self.judged_day,
            "days": list(self.days),
            "initial_frames": self.initial_frames,
            "stored_frames": self.stored_frames,
            "stored_unbiased": self.stored_unbiased,
            "stored_chosen": self.stored_chosen,
            "stored_positive": self.stored_positive,
            "validation_frames": self.validation_frames,
            "skipped": self.skipped,
            "notes": list(self.notes),
            "describe": self.describe(),
        }


@dataclass(frozen=True)
class Challenger:
    """A challenger ready to answer: its cascade, and what it was trained on."""

    trained: TrainedCascade
    window: TrainingWindow
    train_seconds: float
    optimize_seconds: float


def window_days(records: Sequence[LabelledFrame], judged_day: str, max_days: int = DEFAULT_WINDOW_DAYS) -> tuple:
    """The ``max_days`` most recent days before ``judged_day`` that the store holds labels of, oldest first."""
    if max_days < 0:
        raise QueryError(f"a training window must be 0 or more days, got {max_days}", "e.g. 7")
    days = sorted({r.day for r in records if r.day and r.day < judged_day})
    return tuple(days[len(days) - max_days :]) if max_days else ()


def decode_stored(records: Sequence[LabelledFrame], query: Query, view: ViewSpec) -> StoredExamples:
    """The stored frames' pixels in ``view``, read from their files by frame index, with the reference's labels.

    A file that is gone, was replaced (its fingerprint changed) or no longer decodes at a stored index loses those
    frames (counted in ``skipped``, said in ``notes``); the others are used."""
    by_file: dict[tuple[str, str], list[LabelledFrame]] = {}
    for r in records:
        by_file.setdefault((r.source_path, r.source_fingerprint), []).append(r)
    rows: list[np.ndarray] = []
    used: list[LabelledFrame] = []
    skipped, notes = 0, []
    for (path, fingerprint), recs in sorted(by_file.items()):
        recs = sorted(recs, key=lambda r: r.frame_index)
        try:
            info = probe_video(path)
        except NoScopeError as err:
            skipped += len(recs)
            notes.append(f"{Path(path).name}: {len(recs)} frames skipped ({err})")
            continue
        if info.fingerprint != fingerprint:
            skipped += len(recs)
            notes.append(f"{Path(path).name}: {len(recs)} frames skipped (the file changed since it was labelled)")
            continue
        pixels, kept = _read_indexed(path, [r.frame_index for r in recs])
        if len(kept) < len(recs):
            skipped += len(recs) - len(kept)
            notes.append(f"{Path(path).name}: {len(recs) - len(kept)} frames no longer decode")
        if len(kept):
            rows.append(preprocess(pixels, view))
            used += [recs[i] for i in kept]
    s = view.size
    frames = np.concatenate(rows) if rows else np.zeros((0, s, s, 3), np.uint8)
    score = np.array([match_score(r.detections, query) for r in used], dtype=np.float32)
    label = np.array([r.label(query) for r in used], dtype=bool)
    fl = FrameLabels(np.array([r.frame_index for r in used], np.int64), score, label, label)
    return StoredExamples(
        frames=frames,
        label=label,
        target=model_artifact.soft_targets(fl, query.min_score),
        unbiased=np.array([r.unbiased for r in used], dtype=bool),
        keys=tuple((r.source_fingerprint, int(r.frame_index)) for r in used),
        skipped=skipped,
        notes=tuple(notes),
    )


def _read_indexed(path: str, indices: list[int]) -> tuple[list[np.ndarray], list[int]]:
    """Frames at ``indices`` and the positions (into ``indices``) that decoded; one by one only when the file is
    damaged (a stored frame of a partial answer may sit past a corrupt stretch)."""
    try:
        return read_frames(path, indices), list(range(len(indices)))
    except VideoError:
        pixels, kept = [], []
        for pos, i in enumerate(indices):
            try:
                pixels += read_frames(path, [i])
                kept.append(pos)
            except VideoError:
                continue
        return pixels, kept


def _validation_mask(ex: StoredExamples) -> np.ndarray:
    """Every VALIDATION_EVERY-th unbiased stored frame by a hash of its key (stable as the store grows)."""
    out = np.zeros(len(ex.label), dtype=bool)
    for i, (fp, idx) in enumerate(ex.keys):
        if ex.unbiased[i]:
            h = int(hashlib.sha256(f"{fp}|{idx}".encode()).hexdigest()[:8], 16)
            out[i] = h % VALIDATION_EVERY == 0
    return out


def train_challenger(
    spec: CameraSpec,
    store,
    labels: LabelSet,
    records: Sequence[LabelledFrame],
    judged_day: str,
    work: str | Path,
    *,
    max_days: int = DEFAULT_WINDOW_DAYS,
    view: ViewSpec | None = None,
    log: Callable[[str], None] = lambda _m: None,
) -> Challenger:
    """Train the camera's specialized models on its initial train segment plus the stored labels of the window
    (see the module docstring), re-fit the difference detectors on the initial train segment, and optimize with the
    camera's rules on the initial threshold segment; everything under ``work`` (``cascade.json``, ``models/``,
    ``difference/``).

    Raises :class:`DegenerateLabelsError` when the initial segments are one-sided (no threshold can be chosen on
    them) or the training frames hold one class only, :class:`QueryError` for a view the frame store lacks."""
    from noscope_core.models.training import train_models

    reason = stages.fallback_reason(labels)
    if reason is not None:
        raise DegenerateLabelsError(
            f"no challenger: {reason}", "the threshold segment of the initial footage must see the object come and go"
        )
    view = view or model_view(labels.query)
    if not view.exact_decode or not store.has_view(view):
        raise QueryError(
            f"a challenger trains on exactly decoded frames of a view the frame store holds; {view.name} is not one",
            "train the camera on the default decoding",
        )
    work = Path(work)
    days = window_days(records, judged_day, max_days)
    in_window = [r for r in records if r.day in days]
    stored = decode_stored(in_window, labels.query, view)
    for note in stored.notes:
        log(f"warning: {note}")

    seg = labels.segments.train
    first = np.asarray(store.frames(view)[seg.indices()])
    train_labels = labels.segment("train")
    first_targets = model_artifact.soft_targets(train_labels, labels.query.min_score)
    tr, va = model_artifact.train_val_split(seg)
    val_stored = _validation_mask(stored)
    x_tr = np.concatenate([first[tr], stored.frames[~val_stored]])
    y_tr = np.concatenate([train_labels.label[tr], stored.label[~val_stored]])
    t_tr = np.concatenate([first_targets[tr], stored.target[~val_stored]])
    x_va = np.concatenate([first[va], stored.frames[val_stored]])
    y_va = np.concatenate([train_labels.label[va], stored.label[val_stored]])
    if not len(y_va) or y_va.all() or not y_va.any():  # one class only: train on everything, no early stopping
        t_va = np.concatenate([first_targets[va], stored.target[val_stored]])
        x_tr, y_tr, t_tr = np.concatenate([x_tr, x_va]), np.concatenate([y_tr, y_va]), np.concatenate([t_tr, t_va])
        x_va, y_va = None, None  # type: ignore[assignment]  # train_models reads None as "no validation"
    t0 = time.perf_counter()
    results = train_models(
        model_artifact.model_family(spec.training.models),
        x_tr,
        y_tr,
        x_va,
        y_va,
        max_epochs=spec.training.max_epochs,
        seed=spec.training.seed,
        train_targets=t_tr,
        query_key=labels.query.key(),
    )
    models_dir, dd_dir = work / "models", work / "difference"
    model_artifact.save_models(results, labels.query, models_dir)
    dds = difference_artifact.fit_difference(store, labels, dd_dir, view=view)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    stages.optimize(
        spec, store, labels, [r.model for r in results], dds, out_path=work / "cascade.json",
        models_dir=models_dir, dd_dir=dd_dir, view=view, certify=True,
    )  # fmt: skip
    window = TrainingWindow(
        judged_day=judged_day,
        days=days,
        initial_frames=len(seg.indices()),
        stored_frames=len(stored.label),
        stored_unbiased=int(stored.unbiased.sum()),
        stored_chosen=int((~stored.unbiased).sum()),
        stored_positive=int(stored.label.sum()),
        validation_frames=0 if y_va is None else len(y_va),
        skipped=stored.skipped,
        notes=stored.notes,
    )
    trained = TrainedCascade.load(work / "cascade.json", models_dir, dd_dir)
    return Challenger(trained, window, train_s, time.perf_counter() - t0)


@dataclass(frozen=True)
class AnswerCost:
    """What one cascade's certified answers of the judged footage cost and promised."""

    cascade: str  # the cascade in words (the candidate that answered the first file)
    frames: int
    reference_calls: int  # routed to the reference by the cascade
    certify_frames: int  # drawn at random by certification
    tighten_frames: int  # chosen by tightening
    cheap_ms: float  # measured time of the cheap stages (preprocess, difference detector, model), all files
    reference_ms: float  # the reference's cost per frame as these answers measured it (frames-weighted)
    charged_ms_per_frame: float  # the answers' own charged cost (certification included), as measured
    certified: bool  # every file certified: both bounds within the targets
    fnr_bound: float | None  # the weakest file's
    fpr_bound: float | None
    max_fnr: float
    max_fpr: float

    @property
    def reference_frames(self) -> int:
        return self.reference_calls + self.certify_frames + self.tighten_frames

    def cost_ms_per_frame(self, reference_ms: float) -> float:
        """Cheap stages as measured plus every reference frame at ``reference_ms``, per answered frame."""
        return (self.cheap_ms + self.reference_frames * reference_ms) / max(self.frames, 1)

    def promise_held(self) -> bool:
        return bool(
            self.certified
            and self.fnr_bound is not None
            and self.fpr_bound is not None
            and self.fnr_bound <= self.max_fnr + 1e-12
            and self.fpr_bound <= self.max_fpr + 1e-12
        )

    @classmethod
    def of(cls, results: Sequence[QueryResult]) -> AnswerCost:
        if not results:
            raise QueryError("no answer to price", "answer at least one file")
        frames = [len(r.test_segment) for r in results]
        certs = [r.certificate for r in results]
        bounds = [(c.fnr_bound, c.fpr_bound) if c is not None else (None, None) for c in certs]
        t = results[0].artifact.targets
        total_charged_s = sum(n / max(r.cascade_fps, 1e-9) for n, r in zip(frames, results, strict=True))
        return cls(
            cascade=results[0].artifact.best.describe(),
            frames=sum(frames),
            reference_calls=sum(int(r.reference_calls) for r in results),
            certify_frames=sum(c.frames_drawn for c in certs if c is not None),
            tighten_frames=sum(c.frames_tightened for c in certs if c is not None),
            cheap_ms=1000.0 * sum(sum(r.seconds.get(k, 0.0) for k in ("preprocess", "dd", "model")) for r in results),
            reference_ms=sum(n * 1000.0 / r.reference_fps for n, r in zip(frames, results, strict=True)) / sum(frames),
            charged_ms_per_frame=1000.0 * total_charged_s / max(sum(frames), 1),
            certified=all(r.certified for r in results),
            fnr_bound=_worst([b[0] for b in bounds]),
            fpr_bound=_worst([b[1] for b in bounds]),
            max_fnr=float(t.max_fnr),
            max_fpr=float(t.max_fpr),
        )

    def describe(self, reference_ms: float) -> str:
        bounds = (
            "not certified"
            if self.fnr_bound is None or self.fpr_bound is None
            else f"FNR <= {100 * self.fnr_bound:.2f} % / FPR <= {100 * self.fpr_bound:.2f} %"
        )
        return (
            f"{self.cost_ms_per_frame(reference_ms):.2f} ms/frame ({self.reference_frames} reference frames of "
            f"{self.frames}: {self.reference_calls} routed, {self.certify_frames} drawn, {self.tighten_frames} "
            f"tightened; {bounds})"
        )

    def to_dict(self) -> dict:
        return {
            **{k: getattr(self, k) for k in self.__dataclass_fields__},
            "reference_frames": self.reference_frames,
            "promise_held": self.promise_held(),
        }


def _worst(bounds: Sequence[float | None]) -> float | None:
    """The largest of the files' certified bounds; None when any answer carries none (not certified)."""
    known = [b for b in bounds if b is not None]
    return None if len(known) < len(bounds) else max(known, default=None)


@dataclass(frozen=True)
class Verdict:
    """Whether the champion moves to the challenger, and why, with the numbers."""

    moved: bool
    reason: str
    champion_ms_per_frame: float
    challenger_ms_per_frame: float
    reference_ms: float

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def judge(champion: AnswerCost, challenger: AnswerCost, min_gain: float = DEFAULT_MIN_GAIN) -> Verdict:
    """The champion moves only when (rules in order, first match decides):

    1. the challenger's promise held (certified, both bounds within the targets) — else the champion stays;
    2. both answered the same number of frames — else they were not compared on the same footage;
    3. the challenger did other work than the champion: the same cascade shape paying the same reference frames is
       the same answer, and what differs between the two is timing — the champion stays;
    4. the challenger's cost per frame, priced with one reference cost (the mean both answers measured), is lower
       than the champion's by more than ``min_gain`` (a fraction; 0: strictly lower) — else the champion stays.
    """
    if not 0.0 <= min_gain < 1.0:
        raise QueryError(f"the challenger's required gain must be a fraction in [0, 1), got {min_gain}", "e.g. 0.02")
    ref_ms = (champion.reference_ms + challenger.reference_ms) / 2.0
    mine, theirs = challenger.cost_ms_per_frame(ref_ms), champion.cost_ms_per_frame(ref_ms)
    numbers = (
        f"challenger {challenger.describe(ref_ms)} vs champion {champion.describe(ref_ms)}; "
        f"reference priced at {ref_ms:.2f} ms/frame for both"
    )

    def verdict(moved: bool, why: str) -> Verdict:
        return Verdict(moved, f"{why}: {numbers}", theirs, mine, ref_ms)

    if not challenger.promise_held():
        return verdict(False, "champion kept: the challenger's promise did not hold (its answer is not certified)")
    if challenger.frames != champion.frames:
        return verdict(
            False, f"champion kept: the answers covered {challenger.frames} vs {champion.frames} frames, not the same"
        )
    if challenger.cascade == champion.cascade and challenger.reference_frames == champion.reference_frames:
        return verdict(
            False, "champion kept: the challenger answered with the same cascade and the same reference work"
        )
    if mine < theirs * (1.0 - min_gain):
        gain = 100.0 * (1.0 - mine / theirs) if theirs > 0 else 0.0
        return verdict(True, f"challenger wins: its certified cost is {gain:.1f} % lower and its promise held")
    return verdict(False, "champion kept: the challenger's certified cost is not lower")


@dataclass(frozen=True)
class Duel:
    """Both cascades' certified answers of the same files, and the verdict."""

    videos: tuple[str, ...]
    seed: int
    champion: AnswerCost
    challenger: AnswerCost
    verdict: Verdict
    window: TrainingWindow | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "videos": list(self.videos),
            "certify_seed": self.seed,
            "champion": self.champion.to_dict(),
            "challenger": self.challenger.to_dict(),
            "verdict": self.verdict.to_dict(),
            "window": None if self.window is None else self.window.to_dict(),
            "seconds": dict(self.seconds),
        }


def duel(
    champion: TrainedCascade,
    challenger: Challenger,
    videos: Sequence[str | Path],
    detector_for: Callable[[Path], object],
    *,
    seed: int,
    cache_for: Callable[[Path, object], object] | None = None,
    min_gain: float = DEFAULT_MIN_GAIN,
) -> Duel:
    """Answer every file of ``videos`` with both cascades, certified with the one ``seed`` (the same draws for both),
    and :func:`judge`. ``detector_for(video)``: the camera's reference for that file; ``cache_for(video, detector)``:
    its detection cache (labels bought once serve both answers and every re-run)."""
    if not videos:
        raise QueryError("no footage to judge the challenger on", "answer the day first")
    certify = CertifyOptions(seed=int(seed))
    answers: dict[str, list[QueryResult]] = {"champion": [], "challenger": []}
    seconds: dict[str, float] = {"champion": 0.0, "challenger": 0.0}
    for v in videos:
        v = Path(v)
        for name, trained in (("champion", champion), ("challenger", challenger.trained)):
            detector = detector_for(v)
            cache = cache_for(v, detector) if cache_for is not None else None
            t0 = time.perf_counter()
            answers[name].append(apply_to_video(trained, v, detector, certify=certify, cache=cache))
            seconds[name] += time.perf_counter() - t0
    a, b = AnswerCost.of(answers["champion"]), AnswerCost.of(answers["challenger"])
    return Duel(
        videos=tuple(str(v) for v in videos),
        seed=int(seed),
        champion=a,
        challenger=b,
        verdict=judge(a, b, min_gain=min_gain),
        window=challenger.window,
        seconds={**seconds, "train": challenger.train_seconds, "optimize": challenger.optimize_seconds},
    )
