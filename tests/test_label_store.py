"""The label store keeps every reference label once, says why it was labelled, and survives a killed writer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from noscope_core.common.errors import ArtifactError
from noscope_core.reference.detection import Detection
from noscope_core.reference.label_store import LabelStore, frames_of, uniform_draw
from noscope_core.spec.query import Query

PERSON = Detection("person", 0.9, 0.1, 0.1, 0.2, 0.4)


def _frames(idx, reason, fp="f1", day="2026-01-01"):
    return frames_of(fp, f"/v/{fp}.mp4", list(idx), [[PERSON] if i % 2 else [] for i in idx], "ssd", reason, day)


def test_a_frame_labelled_twice_is_kept_once_with_its_first_reason(tmp_path):
    store = LabelStore(tmp_path)
    first = store.append(_frames(range(10), "risky"))
    again = store.append(_frames(range(5, 15), "random"))
    same = store.append(_frames(range(3), "risky"))
    assert (first.added, again.added, again.new_reasons, same.chunk) == (10, 5, 5, None)
    frames = {f.frame_index: f for f in store.frames()}
    assert len(frames) == 15
    assert frames[7].reason == "risky" and frames[7].also == ("random",)
    assert frames[2].reasons == ("risky",)
    assert frames[12].reasons == ("random",)


def test_only_chance_draws_are_unbiased(tmp_path):
    store = LabelStore(tmp_path)
    store.append(_frames(range(0, 4), "risky") + _frames(range(4, 8), "route") + _frames(range(8, 10), "certify"))
    store.append(_frames(range(20, 30), "random") + _frames(range(100, 110), "segment", fp="train"))
    store.append(_frames([0], "random"))  # a risky frame drawn later at random is a uniform draw all the same
    unbiased = {(f.source_fingerprint, f.frame_index) for f in store.unbiased()}
    assert unbiased == {("f1", i) for i in [0, *range(20, 30)]} | {("train", i) for i in range(100, 110)}
    assert {f.frame_index for f in store.chosen()} == set(range(1, 10))
    s = store.summary()
    assert (s.frames, s.unbiased, s.by_reason["risky"]) == (30, 21, 4)


def test_compaction_keeps_every_record_and_reasons(tmp_path):
    store = LabelStore(tmp_path)
    store.append(_frames(range(10), "risky"))
    store.append(_frames(range(5, 15), "random"))
    before = sorted((f.key, f.reasons, f.detections) for f in store.frames() if f.frame_index < 14)
    target = store.compact()
    assert target is not None and not list(tmp_path.glob("chunk-*"))
    store.append(_frames(range(14, 20), "route"))
    store.compact()
    assert len(list(tmp_path.glob("compact-*"))) == 1
    after = {f.key: f for f in store.frames()}
    assert sorted((k, f.reasons, f.detections) for k, f in after.items() if k[1] < 14) == before
    assert after[("f1", 14, "ssd")].reasons == ("random", "route") and len(after) == 20


def test_a_reader_between_compaction_steps_sees_each_record_once(tmp_path):
    store = LabelStore(tmp_path)
    store.append(_frames(range(10), "random"))
    chunk = next(tmp_path.glob("chunk-*"))
    kept = chunk.read_bytes()
    store.compact()
    chunk.write_bytes(kept)  # the instant after the compact file landed and before the chunk was deleted
    assert len(store.frames()) == 10


def test_labels_follow_the_query(tmp_path):
    store = LabelStore(tmp_path)
    store.append(_frames(range(4), "segment"))
    q = Query(object_class="person")
    assert [f.label(q) for f in store.frames()] == [False, True, False, True]


def test_a_foreign_file_in_the_store_is_a_clear_error(tmp_path):
    (tmp_path / "chunk-0001.json").write_text('{"format": "other"}')
    with pytest.raises(ArtifactError, match="not a label store file"):
        LabelStore(tmp_path).frames()


def test_uniform_draw_skips_labelled_frames_and_respects_the_budget():
    rng = np.random.default_rng(0)
    got = uniform_draw(100, 30, exclude=range(0, 90), rng=rng)
    assert len(got) == 10 and set(got.tolist()) == set(range(90, 100))
    got = uniform_draw(1000, 50, exclude=[], rng=rng)
    assert len(set(got.tolist())) == 50 and got.max() < 1000
    with pytest.raises(ValueError, match="0 or more"):
        uniform_draw(10, -1, [], rng)


_WRITER = """
import sys
from noscope_core.reference.label_store import LabelStore, frames_of
store = LabelStore(sys.argv[1])
for k in range(100000):
    store.append(frames_of("f", "/v", list(range(k * 50, k * 50 + 50)), [[] for _ in range(50)], "ssd", "random"))
    if k % 7 == 6:
        store.compact()
"""


def test_a_killed_writer_loses_at_most_its_last_append(tmp_path):
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path)], env=env, cwd=root)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list(tmp_path.glob("compact-*"))) == 0:
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    frames = LabelStore(tmp_path).frames()
    idx = sorted(f.frame_index for f in frames)
    assert idx and idx == list(range(len(idx))), "appends are whole and in order: no gap, no duplicate"
    assert len(idx) % 50 == 0
    LabelStore(tmp_path).append(frames_of("f", "/v", [len(idx)], [[]], "ssd", "random"))  # and it still appends
    assert len(LabelStore(tmp_path)) == len(idx) + 1
