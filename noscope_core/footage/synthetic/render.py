"""One frame of a synthetic scene: background, swaying foliage, the objects present, lighting, sensor noise."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from noscope_core.footage.synthetic.drawing import (
    SKIN_TONES,
    draw_animal,
    draw_person,
    draw_vehicle,
    paste_sprite,
    pixel,
)
from noscope_core.footage.synthetic.scene import SyntheticScene, drawing_kind
from noscope_core.footage.synthetic.schedule import Tracks, track_boxes


class Renderer:
    """Draws frame ``f`` of a scene: background, foliage, objects, lighting, noise. All state fixed by the seed."""

    def __init__(self, scene: SyntheticScene, tracks: Tracks) -> None:
        self.scene = scene
        self.tracks = tracks
        self.background = self._background()
        self.foliage = self._foliage()
        self.background_drifted = self.background
        if scene.drift_frame is not None and any(scene.drift_shift_px):
            shift = np.array([[1, 0, scene.drift_shift_px[0]], [0, 1, scene.drift_shift_px[1]]], np.float32)
            size = (scene.width, scene.height)
            # what enters the view at the edge is more of the same street, not a black band
            self.background_drifted = cv2.warpAffine(self.background, shift, size, borderMode=cv2.BORDER_REFLECT)
        rng = np.random.default_rng([scene.seed, 6])
        self.light_phase = rng.uniform(0, 2 * np.pi, 2)
        pad = 16
        bank = rng.normal(0, scene.noise_sigma, (8, scene.height + pad, scene.width + pad, 3))
        bank = np.rint(bank).clip(-255, 255).astype(np.int16)
        # Saturating add/subtract of two unsigned parts is much faster than int16 arithmetic per frame.
        self.noise_pos = np.maximum(bank, 0).astype(np.uint8)
        self.noise_neg = np.maximum(-bank, 0).astype(np.uint8)
        self.noise_pick = rng.integers(0, [8, pad, pad], size=(4096, 3))
        kinds = [drawing_kind(c) for c in scene.classes]
        # Classes drawn alike (e.g. "car" and "taxi") get 1, 2, ... white stripes, so they stay separable.
        self.stripes = [kinds[:i].count(kind) for i, kind in enumerate(kinds)]

    def _background(self) -> np.ndarray:
        s = self.scene
        W, H = s.width, s.height
        rng = np.random.default_rng([s.seed, 1])
        img = np.zeros((H, W, 3), np.uint8)

        def texture(h: int, w: int, base: tuple[int, int, int], amp: float, blur: float) -> np.ndarray:
            n: np.ndarray = rng.normal(0, 1, (h, w, 1)).astype(np.float32)
            n = cv2.GaussianBlur(n, (0, 0), blur)[..., None]
            n = n / max(float(n.std()), 1e-6)
            return np.clip(np.asarray(base, np.float32) + amp * n, 0, 255).astype(np.uint8)

        y_lawn, y_road, y_walk, y_grass = int(0.28 * H), int(0.57 * H), int(0.84 * H), int(0.96 * H)
        img[:y_lawn] = texture(y_lawn, W, (150, 160, 170), 10, 2)  # wall / sky
        for _ in range(3 + W // 120):  # buildings with window grids
            bx0, bw = int(rng.uniform(0, W * 0.85)), int(rng.uniform(0.12, 0.3) * W)
            by0 = int(rng.uniform(0, 0.12) * H)
            col = tuple(int(c) for c in rng.integers(70, 200, 3))
            cv2.rectangle(img, (bx0, by0), (bx0 + bw, y_lawn), col, -1)
            for wy in range(by0 + 4, y_lawn - 6, max(6, H // 30)):
                for wx in range(bx0 + 4, bx0 + bw - 6, max(7, W // 35)):
                    cv2.rectangle(img, (wx, wy), (wx + max(2, W // 100), wy + max(2, H // 80)), (60, 50, 40), -1)
        img[y_lawn:y_road] = texture(y_road - y_lawn, W, (60, 130, 70), 18, 1.2)  # lawn
        img[y_road:y_walk] = texture(y_walk - y_road, W, (90, 90, 92), 7, 0.8)  # asphalt
        mid = (y_road + y_walk) // 2 + int(0.01 * H)
        for x in range(0, W, max(16, W // 12)):  # lane dashes
            cv2.rectangle(img, (x, mid - 1), (x + max(6, W // 30), mid + 1), (200, 210, 215), -1)
        img[y_walk:y_grass] = texture(y_grass - y_walk, W, (150, 155, 160), 9, 0.7)  # pavement
        for x in range(0, W, max(10, W // 20)):
            cv2.line(img, (x, y_walk), (x, y_grass), (125, 128, 132), 1)
        img[y_grass:] = texture(H - y_grass, W, (55, 120, 65), 15, 1.0)
        return img

    def _foliage(self) -> list[tuple[np.ndarray, np.ndarray, int, int, float, float, float]]:
        """Bushes / tree crowns on the lawn's edges: (sprite, mask, x, y, amplitude px, frequency Hz, phase)."""
        s = self.scene
        W, H = s.width, s.height
        rng = np.random.default_rng([s.seed, 5])
        out = []
        for _ in range(s.distractors):
            r = int(rng.uniform(0.06, 0.1) * H)
            size = 2 * r + 1
            mask = np.zeros((size, size), np.uint8)
            for _ in range(6):  # a lumpy crown from overlapping discs
                cx, cy = rng.integers(r // 2, size - r // 2, 2)
                cv2.circle(mask, (int(cx), int(cy)), int(rng.uniform(0.45, 0.7) * r), 1, -1)
            tex: np.ndarray = rng.normal(0, 1, (size, size, 1)).astype(np.float32)
            tex = cv2.GaussianBlur(tex, (0, 0), 0.8)[..., None]
            sprite = np.clip(np.array([35, 95, 40], np.float32) + 28 * tex / max(float(tex.std()), 1e-6), 0, 255)
            x = int(rng.choice([rng.uniform(0.0, 0.25), rng.uniform(0.75, 1.0)]) * W) - r
            y = int(rng.uniform(0.26, 0.5) * H) - r
            out.append(
                (
                    sprite.astype(np.uint8),
                    mask,
                    x,
                    y,
                    rng.uniform(2, 5),
                    rng.uniform(0.15, 0.6),
                    rng.uniform(0, 6.3),
                )
            )
        return out

    def render(self, f: int, active: Sequence[int]) -> np.ndarray:
        s = self.scene
        t = f / s.fps
        drifted = s.drifted(f)
        img = (self.background_drifted if drifted else self.background).copy()
        sx, sy = s.drift_shift_px if drifted else (0, 0)
        for sprite, mask, x, y, amp, freq, ph in self.foliage:
            dx = int(round(amp * math.sin(2 * math.pi * freq * t + ph)))
            dy = int(round(0.4 * amp * math.sin(2 * math.pi * freq * 1.3 * t + 2 * ph)))
            paste_sprite(img, sprite, mask, x + dx + sx, y + dy + sy)
        tr = self.tracks
        for k in sorted(active, key=lambda k: tr.y_in[k] + tr.y_out[k]):  # far objects first, near ones occlude them
            x0, y0, x1, y1 = (float(v[0]) for v in track_boxes(tr, k, np.array([float(f)]), s))
            ci = int(tr.cls[k])
            kind = drawing_kind(s.classes[ci])
            colour = tuple(int(c) for c in tr.colour[k])
            colour2 = tuple(int(c) for c in tr.colour2[k])
            moving_left = tr.x_out[k] < tr.x_in[k]
            if kind in ("car", "big"):
                draw_vehicle(img, x0, y0, x1, y1, colour, big=kind == "big", left=moving_left)
            elif kind == "animal":
                draw_animal(img, x0, y0, x1, y1, colour, t * 3.0 + tr.phase[k], left=moving_left)
            else:
                skin = SKIN_TONES[k % len(SKIN_TONES)]
                draw_person(img, x0, y0, x1, y1, colour, colour2, skin, t * 0.9 + tr.phase[k])
            n_stripes = self.stripes[ci]
            for j in range(n_stripes):
                yy = int(y0 + (j + 1) * (y1 - y0) / (n_stripes + 1))
                cv2.line(img, pixel(x0 + 2, yy), pixel(x1 - 2, yy), (255, 255, 255), 1)
        gain = s.drift_gain if drifted else 1.0
        if s.lighting_drift > 0:
            a, b = self.light_phase
            gain *= 1 + s.lighting_drift * (
                0.75 * math.sin(2 * math.pi * t / 300 + a) + 0.25 * math.sin(2 * math.pi * t / 41 + b)
            )
        if gain != 1.0:
            img = cv2.convertScaleAbs(img, alpha=gain)
        if s.noise_sigma > 0:
            bi, oy, ox = self.noise_pick[f % len(self.noise_pick)]
            oy = (oy + f // len(self.noise_pick)) % 16  # never the same noise twice in a row, nor periodic
            sl = (bi, slice(oy, oy + s.height), slice(ox, ox + s.width))
            img = cv2.subtract(cv2.add(img, self.noise_pos[sl]), self.noise_neg[sl])
        return img
