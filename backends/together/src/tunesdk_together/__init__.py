"""tunesdk backend for Together AI fine-tuning, through the official ``together`` SDK.

Importing this package is light: the SDK is imported when a client is first needed, the emulator
(``tunesdk_together.emulator``) only when you import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunesdk_together.backend import TogetherBackend

__all__ = ["TogetherBackend"]


def __getattr__(name: str) -> Any:
    if name == "TogetherBackend":
        from tunesdk_together.backend import TogetherBackend

        return TogetherBackend
    raise AttributeError(name)
