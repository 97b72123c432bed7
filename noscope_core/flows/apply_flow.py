"""Apply a trained cascade to new footage and certify the answer: train once, query many days.

The cascade (``cascade.json`` with its models and difference detectors) streams over the new video, decode
included; the answer is then certified on that video's own frames, which is what keeps the promise when the
footage drifted from what the cascade was trained on. Which cascade runs depends on the file's length: the
artifact's priced frontier is priced again for it (:meth:`CascadeArtifact.for_footage`), so a short file may be
answered by the reference alone and a long one by a cheaper cascade than the camera's declared footage chose.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from noscope_core.cascade.execute import Cascade
from noscope_core.cascade.keyframe_run import run_plan
from noscope_core.common.errors import QueryError
from noscope_core.flows.test_segment import QueryResult, decode_fps, reference_cost_ms
from noscope_core.guarantees.certify_answer import CertifyOptions, SegmentReference, certify_run
from noscope_core.optimizer.candidate import Candidate
from noscope_core.optimizer.cascade_artifact import CascadeArtifact, load_cascade
from noscope_core.reference.detect import ReferenceTiming
from noscope_core.reference.detection_cache import CachedDetector
from noscope_core.spec.camera import Targets
from noscope_core.spec.split import Segment
from noscope_core.video.frames import iter_frames
from noscope_core.video.probe import probe_video

#: frames decoded (nothing else) to time the reference's end-to-end rate; the rest of the video is not decoded twice
DECODE_TIMING_FRAMES = 300


@dataclass(frozen=True)
class TrainedCascade:
    """A cascade ready to apply: its artifact and the folders its models and difference detectors are in."""

    artifact: CascadeArtifact
    cascade_json: Path
    models_dir: Path | None
    dd_dir: Path | None

    @classmethod
    def load(
        cls, cascade_json: str | Path, models_dir: str | Path | None = None, dd_dir: str | Path | None = None
    ) -> TrainedCascade:
        """``models_dir`` / ``dd_dir`` default to ``models`` / ``difference`` beside ``cascade.json`` (the layout
        ``noscope query`` writes)."""
        path = Path(cascade_json).expanduser()
        if not path.is_file():
            raise QueryError(
                f"cascade {path} does not exist", "give a cascade.json written by noscope query or Dagster"
            )
        art = CascadeArtifact.load(path)
        # a cascade chosen among several decodings says where its view's models lie, relative to itself
        pieces = path.parent / art.decoding.folder if art.decoding is not None else path.parent
        models = Path(models_dir) if models_dir else pieces / "models"
        dds = Path(dd_dir) if dd_dir else pieces / "difference"
        config = art.best.config
        if config.model_name and not models.is_dir():
            raise QueryError(f"the cascade needs the specialized models folder {models}, which does not exist")
        if config.dd_name and not dds.is_dir():
            raise QueryError(f"the cascade needs the difference detectors folder {dds}, which does not exist")
        # kept whenever they exist: another candidate of the frontier may answer a file of another length
        return cls(art, path, models if models.is_dir() else None, dds if dds.is_dir() else None)

    def has_pieces(self, cand: Candidate) -> bool:
        """Whether ``cand``'s specialized model and difference detector are in this cascade's folders (and were
        there when it was optimized): only such candidates may answer instead of the planned one."""
        art, config = self.artifact, cand.config

        def present(folder: Path | None, fname: str, hashes: dict[str, str]) -> bool:
            return folder is not None and (folder / fname).is_file() and (not hashes or fname in hashes)

        if config.model_name and not present(self.models_dir, f"{config.model_name}.pt", art.model_files):
            return False
        return not config.dd_name or present(self.dd_dir, f"{config.dd_name}.npz", art.dd_files)

    def for_footage(self, footage_frames: int | None, certify: CertifyOptions) -> CascadeArtifact:
        """The artifact to answer ``footage_frames`` frames with: re-planned for that length when the answer is
        certified (the candidate with the lowest expected certified cost among those whose pieces are here);
        the planned choice when it is not, or when the length is unknown (None or 0: a file that does not say)."""
        art = self.artifact
        if not certify.enabled or art.targets.confidence is None or not footage_frames or footage_frames < 1:
            return art
        return art.for_footage(int(footage_frames), available=self.has_pieces)

    def cascade_for(self, detector, artifact: CascadeArtifact | None = None) -> Cascade:
        """The cascade of ``artifact`` (default: this one's) with ``detector`` as its reference. A synthetic
        reference reads each video's own ground truth, so its identity changes with the video: the same kind of
        reference is accepted there."""
        art = self.artifact if artifact is None else artifact
        if detector.identity() != art.reference_identity and detector.name == art.reference_name == "synthetic":
            art = replace(art, reference_identity=detector.identity())
        return load_cascade(art, detector, self.models_dir, self.dd_dir)


def with_confidence(artifact: CascadeArtifact, confidence: float | None) -> CascadeArtifact:
    """The artifact whose answers are certified at ``confidence`` (its error targets unchanged)."""
    t = artifact.targets
    return replace(artifact, targets=Targets(t.max_fnr, t.max_fpr, confidence))


def apply_to_video(
    trained: TrainedCascade,
    video: str | Path,
    detector,
    certify: CertifyOptions | None = None,
    cache=None,
    truth: np.ndarray | None = None,
    reference_timing: ReferenceTiming | None = None,
    route_cache: bool = False,
) -> QueryResult:
    """Stream ``video`` through the cascade (decode included), certify the answer on its own frames at the
    artifact's targets, and report it like ``noscope query`` (its "test segment" is the whole video).

    The cascade is the one with the lowest expected certified cost for this file's frame count
    (:meth:`TrainedCascade.for_footage`); the result's artifact records the choice (``footage_choice``).

    Speed: ``cascade_fps`` excludes decode as NoScope measured it; the reference's end-to-end rate adds the
    decode rate timed on the first ``DECODE_TIMING_FRAMES`` frames. An answer that was the reference on every
    frame is its own timing (1x by construction). Every frame certification sends to the reference is charged at
    the reference's rate (decode included for the end-to-end figure). ``cache``: the file's detection cache, where
    the certificate's labels land; with ``route_cache`` the reference route's too when its cost is declared (a frame
    read back is charged that cost; :class:`CachedDetector`; ``noscope apply`` asks for it, a day's answer does
    not: it keeps the route's labels in its label store, seen as they are detected). ``reference_timing``: the reference's cost
    already measured in this run (a pipeline run's labelling); None: timed once now."""
    certify = CertifyOptions() if certify is None else certify
    info = probe_video(video)
    art = trained.for_footage(info.frame_count, certify)
    # asked for, a declared reference's route frames are read from / added to the file's cache like the certificate's
    cached = route_cache and cache is not None and detector.declared_cost_ms is not None
    cascade = trained.cascade_for(CachedDetector(detector, cache) if cached else detector, art)
    # the keyframe-first plan when the optimizer chose one (dense, saying why, where it cannot run)
    run = run_plan(cascade, art.keyframe_plan, video)
    n = len(run.frame_index)
    if n == 0:
        raise QueryError(f"no frame of {video} could be decoded", "check the file plays")
    reference = SegmentReference(video, detector, cascade.query, run.frame_index, cache=cache)
    cert = certify_run(run, cascade.config, art.targets, reference, certify)
    timing = reference_timing or reference_cost_ms(run, cascade, video, run.frame_index, art.costs.reference_ms)
    ref_ms = timing.ms_per_frame
    if cascade.config.is_reference_only and run.fps_e2e:
        reference_fps_e2e = float(run.fps_e2e)  # the run was the reference on every frame, decode included
    else:
        decode = decode_fps(video, ((0, max(1, min(n, DECODE_TIMING_FRAMES))),))
        reference_fps_e2e = 1000.0 / (ref_ms + 1000.0 / decode)
    return QueryResult.of_run(
        run,
        art,
        video,
        Segment("video", ((int(run.frame_index[0]), int(run.frame_index[-1]) + 1),)),
        fps=info.fps or art.fps,
        cert=cert,
        certify=certify,
        reference=timing,
        reference_fps_e2e=reference_fps_e2e,
        cascade_fps_e2e=float(run.fps_e2e or run.fps),
        truth=truth,
    )


def check_video(path: str | Path) -> Path:
    """A video that exists and decodes at least its first frame, or a one-line error (before any work)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise QueryError(f"{path} is a folder, not a video", "give video files")
    info = probe_video(path)  # raises VideoError naming the file when it does not exist or cannot be opened
    for _ in iter_frames(path, start=0, stop=1):
        return Path(info.path)
    raise QueryError(f"{path}: not a single frame decodes", "check the file plays (e.g. with ffprobe)")
