"""tunesdk backend for the Tinker training API, through the official ``tinker`` SDK.

Importing this package is light: the SDK is imported when a client is first needed, the offline
server (``tunesdk_tinker.emulator``, torch + PEFT) only when you import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunesdk_tinker.backend import TinkerBackend

__all__ = ["TinkerBackend"]


def __getattr__(name: str) -> Any:
    if name == "TinkerBackend":
        from tunesdk_tinker.backend import TinkerBackend

        return TinkerBackend
    raise AttributeError(name)
