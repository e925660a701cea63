"""The one error a grader raises while it scores."""

from __future__ import annotations

from tunesdk.errors import TuneError


class GraderError(TuneError, ValueError):
    """A grader could not score a sample: its ``where`` names the grader (``grader 'exact'``).

    ``kind`` mirrors the error flags of OpenAI's ``/graders/run`` answer
    (``invalid_variable_error``, ``python_grader_runtime_error``, ``model_grader_parse_error``,
    ``formula_parse_error``, ``other_error``, ...).
    """

    def __init__(
        self,
        message: str,
        *,
        grader: str | None = None,
        kind: str = "other_error",
        fix: str | None = None,
    ) -> None:
        self.grader = grader
        self.kind = kind
        super().__init__(message, where=f"grader {grader!r}" if grader else None, fix=fix)
