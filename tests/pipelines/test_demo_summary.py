"""The demo's summary line of a footage answer: its certified speed-up, the rate it was charged at, its promise."""

from pipelines.demo import footage_line

ANSWER = {
    "file": "/x/footage/cam-h2.mp4",
    "frames": 6000,
    "speedup": 3.24,
    "speedup_e2e": 2.51,
    "reference_fps": 8.53,
    "confidence": 0.95,
    "certified": True,
    "fnr_bound": 0.0412,
    "fpr_bound": 0.0133,
    "certify_frames": 1234,
    "certify_reason": "certified",
}


def test_footage_line_shows_certified_speedup_bounds_frames_and_reference_rate():
    line = footage_line(ANSWER)
    assert "cam-h2.mp4: 6,000 frames, 3.2× certified over the reference at 8.5 frames/s measured" in line
    assert "2.5× end to end" in line and "FNR <= 4.12 %  FPR <= 1.33 % at 0.95 confidence" in line
    assert "(1,234 reference frames checked)" in line


def test_footage_line_says_when_the_promise_was_not_made():
    line = footage_line({**ANSWER, "fnr_bound": None, "certify_reason": "certification off (--no-certify)"})
    assert "not certified: certification off" in line and "FNR <=" not in line
    assert footage_line({"file": "/x/old.mp4", "frames": 10}) == "  old.mp4: 10 frames"
