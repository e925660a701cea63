"""tunesdk backend for OpenAI fine-tuning, OpenAI-compatible servers and Azure OpenAI.

``import tunesdk_openai`` stays light: the ``openai`` SDK is imported when a client is first needed,
and the emulator (``tunesdk_openai.emulator``) only when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunesdk_openai.backend import OpenAIBackend
    from tunesdk_openai.errors import FineTuningUnavailable

__all__ = ["FineTuningUnavailable", "OpenAIBackend"]


def __getattr__(name: str) -> Any:
    if name == "OpenAIBackend":
        from tunesdk_openai.backend import OpenAIBackend

        return OpenAIBackend
    if name == "FineTuningUnavailable":
        from tunesdk_openai.errors import FineTuningUnavailable

        return FineTuningUnavailable
    raise AttributeError(f"module 'tunesdk_openai' has no attribute {name!r}")
