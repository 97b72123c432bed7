"""The one spec: every caller builds the same ``CameraSpec`` with the same defaults, and bad values stop early."""

from __future__ import annotations

from pathlib import Path

import pytest

from noscope_core.common.errors import QueryError
from noscope_core.spec.camera import (
    DEFAULT_CONFIDENCE,
    DEFAULT_MAX_EPOCHS,
    DEFAULT_MAX_FNR,
    DEFAULT_MAX_FPR,
    DEFAULT_REFERENCE,
    DEFAULT_SPLIT,
    CameraSpec,
    SplitSpec,
    Targets,
    TrainingOptions,
)
from noscope_core.spec.query import Query
from noscope_core.spec.registry import camera_from_dict


def test_the_command_line_and_a_bare_registry_entry_build_the_same_default_spec(tmp_path):
    from noscope_cli.main import build_parser
    from noscope_cli.query import options_from_args

    video = tmp_path / "cam.avi"
    args = build_parser().parse_args(["query", str(video), "--object", "person"])
    from_cli = options_from_args(args).spec
    from_yaml = camera_from_dict({"id": "query", "video": str(video), "object": "person"})
    assert from_cli == from_yaml == CameraSpec(video, Query("person"))
    assert (from_cli.reference, from_cli.targets, from_cli.split, from_cli.training) == (
        DEFAULT_REFERENCE,
        Targets(DEFAULT_MAX_FNR, DEFAULT_MAX_FPR, DEFAULT_CONFIDENCE),
        SplitSpec(DEFAULT_SPLIT, None),
        TrainingOptions(DEFAULT_MAX_EPOCHS, 0, None),
    )
    assert DEFAULT_CONFIDENCE == 0.95  # the targets are promises unless asked otherwise (issue 11)
    opts = options_from_args(args)
    assert opts.certify is True and opts.certify_budget is None


def test_confidence_none_on_the_command_line_and_null_in_the_registry_restore_the_point_rule(tmp_path):
    from noscope_cli.main import build_parser
    from noscope_cli.query import options_from_args

    video = tmp_path / "cam.avi"
    args = build_parser().parse_args(["query", str(video), "--object", "person", "--confidence", "none"])
    assert options_from_args(args).spec.targets.confidence is None
    entry = {"id": "query", "video": str(video), "object": "person"}
    assert camera_from_dict({**entry, "confidence": None}).targets.confidence is None  # explicit null
    assert camera_from_dict(entry).targets.confidence == DEFAULT_CONFIDENCE  # key missing: the default
    args = build_parser().parse_args(["query", str(video), "--object", "person", "--confidence", "0.9"])
    assert options_from_args(args).spec.targets.confidence == 0.9


def test_certify_flags_reach_the_query_options(tmp_path):
    from noscope_cli.main import build_parser
    from noscope_cli.query import options_from_args

    argv = ["query", str(tmp_path / "cam.avi"), "--object", "person"]
    opts = options_from_args(build_parser().parse_args([*argv, "--no-certify", "--certify-budget", "500"]))
    assert (opts.certify, opts.certify_budget) == (False, 500)
    with pytest.raises(QueryError, match="certify-budget"):
        options_from_args(build_parser().parse_args([*argv, "--certify-budget", "-1"]))


def test_registry_keys_fill_the_nested_options():
    cam = camera_from_dict(
        {
            "id": "lobby",
            "video": "/v/a.avi",
            "object": "car",
            "max_fnr": 0.05,
            "confidence": 0.9,
            "split": [0.4, 0.3, 0.3],
            "split_blocks": 2,
            "max_epochs": 3,
            "seed": 7,
            "models": ["a", "b"],
            "colour": "red",
        }
    )
    assert cam.targets == Targets(0.05, DEFAULT_MAX_FPR, 0.9)
    assert cam.split == SplitSpec((0.4, 0.3, 0.3), 2)
    assert cam.training == TrainingOptions(3, 7, ("a", "b"))
    assert cam.extra == {"colour": "red"}  # unknown keys are kept, not dropped silently
    assert cam.to_dict()["max_fnr"] == 0.05 and cam.to_dict()["split_blocks"] == 2


@pytest.mark.parametrize(
    "build",
    [
        lambda: Targets(max_fnr=1.5),
        lambda: Targets(max_fpr=-0.1),
        lambda: Targets(confidence=1.0),
        lambda: Targets(confidence="maybe"),
        lambda: SplitSpec((0.6, 0.6, 0.1)),
        lambda: SplitSpec(blocks=0),
        lambda: TrainingOptions(max_epochs=0),
        lambda: CameraSpec(Path("a.avi"), Query("person"), camera_id="../up"),
    ],
)
def test_bad_values_are_refused_when_the_spec_is_built(build):
    with pytest.raises(QueryError):
        build()


def test_the_bare_synthetic_reference_reads_the_queried_video():
    spec = CameraSpec(Path("/v/a.avi"), Query("car"), reference="synthetic")
    assert spec.reference_spec() == "synthetic:/v/a.avi"
    assert spec.reference_spec("/v/b.avi") == "synthetic:/v/b.avi"
    assert CameraSpec(Path("/v/a.avi"), Query("car")).reference_spec("/v/b.avi") == DEFAULT_REFERENCE
