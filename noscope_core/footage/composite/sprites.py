"""Real people cut out of a fixed camera's frames and linked into tracks, so a re-inserted person keeps their own gait.

A cut-out is the reference detector's box, grown a little, with an alpha mask from the difference to the empty
background (soft edges). Only clean views are kept: boxes that touch no other person and no frame edge, with a
plausible share of changed pixels; a track is split where a view is not clean. Boxes are smoothed along the track
so the detector's jitter does not make the person jump.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: a box grown by this share of its height on every side before cutting (loose feet, hair, arms)
CROP_MARGIN = 0.12
#: background difference (0-255, max over channels, after a 3x3 blur) above which a pixel belongs to the person
DIFF_THRESHOLD = 28
MIN_TRACK_FRAMES = 10


@dataclass(frozen=True)
class SpriteTrack:
    """A sequence of RGBA cut-outs of one real object, each with its foot point in crop pixels.

    ``source_foot_rows`` are the (smoothed) foot points in the source: scaling a cut-out to a new
    row divides the perspective height there by the height at its source row. ``speed_heights_per_frame`` is the
    walking speed in body heights per source frame; ``facing`` is +1 walking right, -1 left, 0 mostly in depth.
    Frames ``[0, loop_len)`` repeat with the smallest jump; ``still_index`` is the view used while standing.
    """

    track_id: int
    class_name: str
    rgba: tuple[np.ndarray, ...]
    anchors_px: np.ndarray  # (n, 2) foot (x, y) in each crop
    source_frames: np.ndarray  # (n,)
    source_feet_px: np.ndarray  # (n, 2) smoothed foot (x, y) in the source frame
    speed_heights_per_frame: float
    facing: int
    loop_len: int
    still_index: int

    def __len__(self) -> int:
        return len(self.rgba)

    @property
    def source_foot_rows(self) -> np.ndarray:
        return self.source_feet_px[:, 1]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return float(inter / union) if union > 0 else 0.0


def link_tracks(
    boxes_per_frame: list[np.ndarray], min_iou: float = 0.3, max_gap: int = 3
) -> list[list[tuple[int, int]]]:
    """Greedy IoU linking of boxes over consecutive frames; returns tracks as lists of (frame, box index).

    A box joins the open track whose last box overlaps it most (at least ``min_iou``, less across a gap); a
    track missing for more than ``max_gap`` frames ends (the detector misses a person now and then:
    :func:`fill_gaps` bridges those frames).
    """
    tracks: list[list[tuple[int, int]]] = []
    open_tracks: list[int] = []
    for f, boxes in enumerate(boxes_per_frame):
        pairs = []
        for t in open_tracks:
            lf, lb = tracks[t][-1]
            prev = boxes_per_frame[lf][lb]
            for j, box in enumerate(boxes):
                v = iou(prev, box)
                if v >= min_iou / (f - lf):
                    pairs.append((v, t, j))
        pairs.sort(key=lambda p: -p[0])
        used_t: set[int] = set()
        used_j: set[int] = set()
        for _, t, j in pairs:
            if t in used_t or j in used_j:
                continue
            tracks[t].append((f, j))
            used_t.add(t)
            used_j.add(j)
        still_open = [t for t in open_tracks if f - tracks[t][-1][0] < max_gap]
        for j in range(len(boxes)):
            if j not in used_j:
                tracks.append([(f, j)])
                still_open.append(len(tracks) - 1)
        open_tracks = still_open
    return tracks


def fill_gaps(track: list[tuple[int, int]], boxes_per_frame: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """A linked track as (frames, boxes) with one box per frame: a missed frame gets the interpolated box."""
    frames = np.array([f for f, _ in track])
    boxes = np.array([boxes_per_frame[f][j] for f, j in track], dtype=np.float64).reshape(-1, 4)
    every = np.arange(frames[0], frames[-1] + 1)
    filled = np.stack([np.interp(every, frames, boxes[:, c]) for c in range(4)], axis=1)
    return every, filled


def is_part_of(inner: np.ndarray, outer: np.ndarray) -> bool:
    """Whether box ``inner`` is a second, smaller detection of the object in ``outer`` (SSD often adds one for the
    upper body): mostly inside it and clearly smaller."""
    ix = max(0.0, min(inner[0] + inner[2], outer[0] + outer[2]) - max(inner[0], outer[0]))
    iy = max(0.0, min(inner[1] + inner[3], outer[1] + outer[3]) - max(inner[1], outer[1]))
    area = inner[2] * inner[3]
    return bool(ix * iy > 0.8 * area and area < 0.6 * outer[2] * outer[3])


def neighbours(box: np.ndarray, others: np.ndarray) -> list[np.ndarray]:
    """The boxes among ``others`` that are other objects: not ``box`` itself and not a part detection of it."""
    return [o for o in np.asarray(others).reshape(-1, 4) if not np.allclose(o, box) and not is_part_of(o, box)]


def overlaps(box: np.ndarray, others: np.ndarray, share: float = 0.05) -> bool:
    """Whether another object's box covers more than ``share`` of ``box`` (``box`` being a part detection of a
    larger box counts as covered)."""
    x, y, w, h = box
    for o in neighbours(box, others):
        ix = max(0.0, min(x + w, o[0] + o[2]) - max(x, o[0]))
        iy = max(0.0, min(y + h, o[1] + o[3]) - max(y, o[1]))
        if ix * iy > share * w * h:
            return True
    return False


def clean_runs(
    tracks: list[list[tuple[int, int]]],
    boxes_per_frame: list[np.ndarray],
    width: int,
    height: int,
    min_len: int = MIN_TRACK_FRAMES,
    edge_px: int = 3,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Gap-filled tracks split where a view is not clean (covered by another box, or at a frame edge); runs of at
    least ``min_len`` frames, as (frames, boxes)."""
    runs: list[tuple[np.ndarray, np.ndarray]] = []
    for tr in tracks:
        if tr[-1][0] - tr[0][0] + 1 < min_len:
            continue
        frames, boxes = fill_gaps(tr, boxes_per_frame)
        ok = np.array(
            [
                edge_px <= b[0] <= width - edge_px - b[2]
                and edge_px <= b[1] <= height - edge_px - b[3]
                and not overlaps(b, boxes_per_frame[f])
                for f, b in zip(frames.tolist(), boxes, strict=True)
            ]
        )
        edges = np.flatnonzero(np.diff(np.concatenate([[0], ok.astype(np.int8), [0]])))
        for s, e in zip(edges[::2], edges[1::2], strict=True):
            if e - s >= min_len:
                runs.append((frames[s:e], boxes[s:e]))
    return runs


def smooth(values: np.ndarray, window: int = 5) -> np.ndarray:
    """Centered moving average with edge values repeated (keeps length)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 3:
        return values.copy()
    window = min(window, len(values) - (1 - len(values) % 2))
    pad = window // 2
    padded = np.pad(values, pad, mode="edge")
    return np.convolve(padded, np.ones(window) / window, mode="valid")


def person_mask(
    frame: np.ndarray,
    background: np.ndarray,
    crop: tuple[int, int, int, int],
    exclude_px: list[np.ndarray] | tuple = (),
) -> np.ndarray:
    """Soft alpha (float32 0-1) of what differs from the background inside ``crop`` (x0, y0, x1, y1), outside the
    boxes ``exclude_px`` (other people)."""
    x0, y0, x1, y1 = crop
    a = cv2.blur(frame[y0:y1, x0:x1], (3, 3)).astype(np.int16)
    b = cv2.blur(background[y0:y1, x0:x1], (3, 3)).astype(np.int16)
    hard = (np.abs(a - b).max(axis=2) > DIFF_THRESHOLD).astype(np.uint8)
    for ex, ey, ew, eh in exclude_px:
        hard[
            max(0, int(ey) - y0) : max(0, int(ey + eh) - y0 + 1), max(0, int(ex) - x0) : max(0, int(ex + ew) - x0 + 1)
        ] = 0
    hard = cv2.morphologyEx(hard, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    hard = cv2.morphologyEx(hard, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(hard, connectivity=8)
    if n > 1:
        # small specks elsewhere in the crop are noise or a neighbour's edge, not this person
        biggest = stats[1:, cv2.CC_STAT_AREA].max()
        keep = np.zeros(n, dtype=np.uint8)
        keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= 0.1 * biggest
        hard = keep[lab]
    hard[:1, :] = 0
    hard[-1:, :] = 0
    hard[:, :1] = 0
    hard[:, -1:] = 0
    # Feather inwards only: the blurred core is cut at the mask's outline. A blur spreading outwards would carry
    # a rim of the old background (grey path) with the person onto the lawn, a halo a detector can notice.
    core = cv2.erode(hard, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    return cv2.GaussianBlur(core.astype(np.float32), (0, 0), 1.0) * hard


def loop_length(alphas: list[np.ndarray]) -> int:
    """Length of the cycle that repeats best: the later frame (in the second half) whose silhouette is most like
    the first one's, compared at 16x32."""
    n = len(alphas)
    if n < 8:
        return n
    small = [cv2.resize(a, (16, 32), interpolation=cv2.INTER_AREA) for a in alphas]
    candidates = range(max(6, n // 2), n)
    return int(min(candidates, key=lambda k: float(np.abs(small[k] - small[0]).mean())))


def still_view(alphas: list[np.ndarray]) -> int:
    """The view with the narrowest lower body (legs together): the one shown while a person stands."""
    widths = []
    for a in alphas:
        legs = a[int(0.6 * a.shape[0]) :] > 0.5
        cols = np.flatnonzero(legs.any(axis=0))
        widths.append((cols[-1] - cols[0]) / a.shape[0] if cols.size else np.inf)
    return int(np.argmin(widths))


def cut_track(
    track_id: int,
    class_name: str,
    frames: dict[int, np.ndarray],
    background: np.ndarray,
    frame_ids: np.ndarray,
    boxes_px: np.ndarray,
    others_px: list[np.ndarray] | None = None,
) -> SpriteTrack | None:
    """Cut one clean run of boxes (one per frame in ``frame_ids``) into a :class:`SpriteTrack`; None if too few
    views have a plausible mask (a post the detector takes for a person differs from nothing). A track that
    hardly moves is kept: it is someone standing, fidgeting.

    ``others_px`` (per source frame, all person boxes) keeps a neighbour's pixels out of the mask.
    """
    height_img, width_img = background.shape[:2]
    foot_x = smooth(boxes_px[:, 0] + boxes_px[:, 2] / 2)
    foot_y = smooth(boxes_px[:, 1] + boxes_px[:, 3])
    h = smooth(boxes_px[:, 3])
    w = smooth(boxes_px[:, 2])
    travel = float(np.hypot(foot_x[-1] - foot_x[0], foot_y[-1] - foot_y[0]))
    rgba, anchors, kept = [], [], []
    for k, f in enumerate(frame_ids.tolist()):
        m = CROP_MARGIN * h[k]
        x0, x1 = int(max(0, foot_x[k] - w[k] / 2 - m)), int(min(width_img, foot_x[k] + w[k] / 2 + m + 1))
        y0, y1 = int(max(0, foot_y[k] - h[k] - m)), int(min(height_img, foot_y[k] + m / 2 + 1))
        if x1 - x0 < 4 or y1 - y0 < 8:
            continue
        exclude = neighbours(boxes_px[k], others_px[f]) if others_px is not None else []
        alpha = person_mask(frames[f], background, (x0, y0, x1, y1), exclude)
        # below the feet is the person's shadow on the old ground (grey path): on the lawn it would be a grey blob
        alpha[max(0, int(foot_y[k] + 0.03 * h[k]) - y0 + 1) :] = 0.0
        share = float((alpha > 0.5).mean())
        if not 0.15 <= share <= 0.9:
            continue
        crop = np.dstack([frames[f][y0:y1, x0:x1], np.round(alpha * 255).astype(np.uint8)])
        rgba.append(crop)
        anchors.append((foot_x[k] - x0, foot_y[k] - y0))
        kept.append(k)
    if len(kept) < MIN_TRACK_FRAMES or len(kept) < 0.8 * len(frame_ids):
        return None
    kept_arr = np.array(kept)
    step = np.hypot(np.diff(foot_x), np.diff(foot_y))
    speed = float(np.median(step / h[1:])) if len(step) else 0.0
    dx = foot_x[-1] - foot_x[0]
    facing = 0 if abs(dx) < 0.3 * travel else int(np.sign(dx))
    alphas = [c[:, :, 3].astype(np.float32) / 255 for c in rgba]
    return SpriteTrack(
        track_id=track_id,
        class_name=class_name,
        rgba=tuple(rgba),
        anchors_px=np.array(anchors, dtype=np.float32),
        source_frames=frame_ids[kept_arr].astype(np.int32),
        source_feet_px=np.stack([foot_x[kept_arr], foot_y[kept_arr]], axis=1).astype(np.float32),
        speed_heights_per_frame=speed,
        facing=facing,
        loop_len=loop_length(alphas),
        still_index=still_view(alphas),
    )


def cut_object(background: np.ndarray, box_px: np.ndarray, class_name: str, track_id: int) -> SpriteTrack:
    """Cut a still object (a parked van) out of the background image itself with GrabCut; one view, no gait."""
    x, y, w, h = (float(v) for v in box_px)
    height_img, width_img = background.shape[:2]
    m = 0.1 * h
    x0, y0 = int(max(0, x - m)), int(max(0, y - m))
    x1, y1 = int(min(width_img, x + w + m)), int(min(height_img, y + h + m))
    crop = np.ascontiguousarray(background[y0:y1, x0:x1])
    mask = np.zeros(crop.shape[:2], np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # GrabCut's k-means start draws from OpenCV's global generator
    rect = (int(x - x0), int(y - y0), int(w), int(h))
    cv2.grabCut(crop, mask, rect, bgd, fgd, 5, cv2.GC_INIT_WITH_RECT)
    hard = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    core = cv2.erode(hard, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    alpha = cv2.GaussianBlur(core.astype(np.float32), (0, 0), 1.0) * hard
    rgba = np.dstack([crop, np.round(alpha * 255).astype(np.uint8)])
    foot = np.array([[x + w / 2 - x0, y + h - y0]], dtype=np.float32)
    return SpriteTrack(
        track_id=track_id,
        class_name=class_name,
        rgba=(rgba,),
        anchors_px=foot,
        source_frames=np.zeros(1, np.int32),
        source_feet_px=np.array([[x + w / 2, y + h]], np.float32),
        speed_heights_per_frame=0.0,
        facing=-1,
        loop_len=1,
        still_index=0,
    )
