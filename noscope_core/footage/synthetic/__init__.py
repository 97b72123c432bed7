"""A synthetic fixed-angle camera of any length, written as a real video file, with exact ground truth.

The scene is a street seen from a fixed camera: buildings, a lawn, a two-lane road and a pavement. Cars drive
along the lanes and persons walk along the pavement or across the lawn (smaller, farther away), with random sizes
and colours, so a small CNN has to learn shapes rather than a colour. What makes it a camera rather than a
slideshow: a textured static background, slow lighting drift, sensor noise, and swaying foliage that moves but is
never an object (difference detectors see motion there; the labels stay negative).

Objects of a class arrive as a Poisson process (mean gap ``mean_gap_s``) and cross the view in about
``mean_stay_s``, so a class is present in roughly ``1 - exp(-stay/gap)`` of frames (about 35% by default).
The first N frames (pixels and truth) do not depend on how many frames are written after them.

Drift (``drift_frame``): from that frame on, the light steps by ``drift_gain`` and/or the camera is nudged by
``drift_shift_px`` (background, foliage and objects move together; the truth boxes move with them), so footage
after it looks unlike anything a model trained on the frames before it saw.

``write.write_synthetic_video`` is the entry point; the modules each do one step: ``scene`` (what determines a
video, and how each class moves and is drawn), ``schedule`` (who appears when and where), ``truth`` (the ground
truth a schedule implies), ``render`` (one frame), ``drawing`` (the objects' shapes) and ``write`` (the video and
its truth sidecar). The sidecar's record and reader live below the detectors, in
:mod:`noscope_core.reference.synthetic_truth`, so the synthetic detector reads it without reaching the camera.
"""
