"""`ModelCache`: the local models the chat route has loaded, at most ``capacity`` at once.

A loaded model holds its weights in this process (GPU or CPU memory) for as long as it stays
cached. The least recently used one is dropped before another is loaded — never more than
``capacity`` (`ServeConfig.max_loaded_models`) are held by the cache, though one dropped while it
is still answering a request lives until that answer ends. Each entry carries its own lock:
transformers models are not re-entrant, so one model answers one request at a time.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class Loaded:
    """One loaded model: the transformers model, its tokenizer, and the lock generation holds."""

    key: str
    model: Any
    tokenizer: Any
    lock: threading.Lock = field(default_factory=threading.Lock)


class ModelCache:
    """Loaded models by key (the model's URI), least recently used dropped first."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"max_loaded_models must be at least 1, got {capacity}")
        self.capacity = capacity
        self._entries: OrderedDict[str, Loaded] = OrderedDict()
        self._lock = threading.Lock()
        #: one lock per key being loaded: two requests for a new model load it once
        self._loading: dict[str, threading.Lock] = {}

    def keys(self) -> list[str]:
        """The cached keys, least recently used first."""
        with self._lock:
            return list(self._entries)

    def get(self, key: str, load: Callable[[], tuple[Any, Any]]) -> Loaded:
        """The entry for ``key``, loading it with ``load()`` -> (model, tokenizer) when absent
        (after dropping the least recently used entry if the cache is full)."""
        with self._lock:
            found = self._hit(key)
            if found is not None:
                return found
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                found = self._hit(key)
                if found is not None:
                    return found
                dropped = []
                while len(self._entries) >= self.capacity:
                    dropped.append(self._entries.popitem(last=False)[1])
            if dropped:
                del dropped
                release_memory()
            try:
                model, tokenizer = load()
            finally:
                with self._lock:
                    self._loading.pop(key, None)
            entry = Loaded(key, model, tokenizer)
            with self._lock:
                self._entries[key] = entry
            return entry

    def _hit(self, key: str) -> Loaded | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
        release_memory()


def release_memory() -> None:
    """Free what dropped models held: Python's cycles, and CUDA's cached blocks where torch runs."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


__all__ = ["Loaded", "ModelCache", "release_memory"]
