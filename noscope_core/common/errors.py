"""User-facing errors: each carries a one-line message and, where useful, what to do about it.

The CLI prints ``str(err)`` without a traceback and exits non-zero; Dagster steps fail with the same text.
"""

from __future__ import annotations


class NoScopeError(Exception):
    """Base class for expected, user-actionable failures."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message} ({hint})")


class VideoError(NoScopeError):
    """A video is missing, not a video, empty, or too short for what was asked."""


class DetectorError(NoScopeError):
    """A reference detector's files are missing, corrupt, or produce output of the wrong shape."""


class QueryError(NoScopeError):
    """A query is malformed: unknown class, bad region of interest, bad targets or split."""


class DegenerateLabelsError(NoScopeError):
    """The reference labels are all positive or all negative, so no cheap model can be trained."""


class FetchError(NoScopeError):
    """A default asset (video, detector weights) could not be obtained or failed verification."""


class ArtifactError(NoScopeError):
    """An artifact is missing, stale or unreadable (e.g. a model trained for another query)."""
