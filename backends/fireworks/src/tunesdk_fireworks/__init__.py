"""Fireworks AI backend for tunesdk.

``job.run(backend="fireworks")`` uploads the data as a Fireworks dataset, creates a supervised
fine-tuning or DPO job with the official ``fireworks-ai`` SDK and follows it to the end. Importing
this package does not import the SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunesdk_fireworks.backend import FireworksBackend
    from tunesdk_fireworks.emulator import FireworksEmulator

__all__ = ["FireworksBackend", "FireworksEmulator"]


def __getattr__(name: str) -> Any:
    if name == "FireworksBackend":
        from tunesdk_fireworks.backend import FireworksBackend

        return FireworksBackend
    if name == "FireworksEmulator":
        from tunesdk_fireworks.emulator import FireworksEmulator

        return FireworksEmulator
    raise AttributeError(f"module 'tunesdk_fireworks' has no attribute {name!r}")
