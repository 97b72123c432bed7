"""The shapes of a synthetic scene's objects (vehicles, persons, animals) drawn into a frame, and sprite pasting."""

from __future__ import annotations

import math

import cv2
import numpy as np


def paste_sprite(img: np.ndarray, sprite: np.ndarray, mask: np.ndarray, x: int, y: int) -> None:
    """Copy ``sprite`` where ``mask`` is set into ``img`` at ``(x, y)`` (top-left), clipped to the frame."""
    H, W = img.shape[:2]
    h, w = mask.shape
    ax0, ay0, ax1, ay1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if ax1 <= ax0 or ay1 <= ay0:
        return
    sub = (slice(ay0 - y, ay1 - y), slice(ax0 - x, ax1 - x))
    cv2.copyTo(sprite[sub], mask[sub], img[ay0:ay1, ax0:ax1])  # writes into the view of img


def pixel(x: float, y: float) -> tuple[int, int]:
    """The nearest pixel of a point, as OpenCV's drawing functions take it."""
    return int(round(x)), int(round(y))


def draw_vehicle(img, x0, y0, x1, y1, colour, big: bool, left: bool) -> None:
    w, h = x1 - x0, y1 - y0
    dark = tuple(int(c * 0.55) for c in colour)
    wheel_r = max(1, int(h * 0.17))
    body_top = y0 + h * (0.05 if big else 0.38)
    cv2.rectangle(img, pixel(x0, body_top), pixel(x1, y1 - wheel_r * 0.6), colour, -1)
    if big:  # box truck / bus: tall body with a cab window at the front and a row of windows
        front = x0 if left else x1 - w * 0.2
        cv2.rectangle(
            img, pixel(front + w * 0.03, y0 + h * 0.15), pixel(front + w * 0.17, y0 + h * 0.45), (50, 40, 35), -1
        )
        cv2.line(img, pixel(x0, y0 + h * 0.6), pixel(x1, y0 + h * 0.6), dark, max(1, int(h * 0.04)))
    else:  # car: cabin with windows on top of a long body
        cx0, cx1 = x0 + w * (0.18 if left else 0.25), x1 - w * (0.25 if left else 0.18)
        cv2.rectangle(img, pixel(cx0, y0), pixel(cx1, body_top), colour, -1)
        cv2.rectangle(img, pixel(cx0 + w * 0.04, y0 + h * 0.07), pixel(cx1 - w * 0.04, body_top), (60, 45, 40), -1)
        cv2.line(
            img, pixel((cx0 + cx1) / 2, y0 + h * 0.07), pixel((cx0 + cx1) / 2, body_top), colour, max(1, int(w * 0.02))
        )
    light = x0 + 1 if left else x1 - 2
    cv2.circle(img, pixel(light, body_top + h * 0.12), max(1, int(h * 0.06)), (170, 230, 250), -1)
    for wx in (x0 + w * 0.2, x1 - w * 0.2):
        cv2.circle(img, pixel(wx, y1 - wheel_r), wheel_r, (20, 20, 20), -1)
        cv2.circle(img, pixel(wx, y1 - wheel_r), max(1, wheel_r // 2), (130, 130, 130), -1)


SKIN_TONES = ((60, 90, 140), (90, 130, 180), (130, 165, 215), (45, 65, 100))


def draw_person(img, x0, y0, x1, y1, shirt, trousers, skin, phase: float) -> None:
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    head_r = max(1, int(h * 0.09))
    swing = math.sin(phase * 2 * math.pi) * w * 0.35
    leg_t = max(1, int(w * 0.22))
    hip_y = y0 + h * 0.55
    cv2.line(img, pixel(cx, hip_y), pixel(cx + swing, y1), trousers, leg_t)
    cv2.line(img, pixel(cx, hip_y), pixel(cx - swing, y1), trousers, leg_t)
    cv2.ellipse(img, pixel(cx, y0 + h * 0.38), (max(1, int(w * 0.45)), max(1, int(h * 0.2))), 0, 0, 360, shirt, -1)
    cv2.line(img, pixel(cx, y0 + h * 0.25), pixel(cx - swing * 0.6, hip_y), shirt, max(1, int(w * 0.15)))
    cv2.circle(img, pixel(cx, y0 + head_r), head_r, skin, -1)


def draw_animal(img, x0, y0, x1, y1, fur, phase: float, left: bool) -> None:
    w, h = x1 - x0, y1 - y0
    body_y = y0 + h * 0.45
    cv2.ellipse(img, pixel((x0 + x1) / 2, body_y), (max(1, int(w * 0.35)), max(1, int(h * 0.22))), 0, 0, 360, fur, -1)
    hx = x0 + w * 0.1 if left else x1 - w * 0.1
    cv2.circle(img, pixel(hx, y0 + h * 0.25), max(1, int(h * 0.2)), fur, -1)
    swing = math.sin(phase * 2 * math.pi) * w * 0.08
    for lx in (x0 + w * 0.28, x1 - w * 0.28):
        cv2.line(img, pixel(lx, body_y), pixel(lx + swing, y1), fur, max(1, int(w * 0.06)))
