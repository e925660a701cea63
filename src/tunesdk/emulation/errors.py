"""`ProviderError`: the base of each provider emulator's error (each defines its own ``body``)."""

from __future__ import annotations

from typing import Any


class ProviderError(Exception):
    """An answer with an error status, in the provider's shape (subclasses define ``body``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message}}


__all__ = ["ProviderError"]
