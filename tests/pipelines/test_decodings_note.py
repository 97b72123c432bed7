"""A camera's ``training.decodings`` is not silently ignored by the Dagster assets (which train the exact view)."""

from noscope_core.spec.camera import CameraSpec, TrainingOptions
from noscope_core.spec.query import ROI, Query
from pipelines.assets.models import decodings_note


def test_the_assets_say_they_train_the_exact_view_and_name_the_command_that_compares_decodings():
    cam = CameraSpec(
        "/videos/cam.mp4",
        Query("person", roi=ROI(0.0, 0.5, 0.5, 1.0)),
        camera_id="lot",
        training=TrainingOptions(decodings=("lr2", "nlf")),
    )
    note = decodings_note(cam)
    assert note is not None and "exact decoding only" in note
    assert "noscope query /videos/cam.mp4 --object person --roi 0,0.5,0.5,1 --decodings lr2,nlf" in note


def test_no_note_without_decodings():
    assert decodings_note(CameraSpec("/videos/cam.mp4", Query("person"), camera_id="lot")) is None
