"""The chat route's parts that need no model: request settings, stop sequences over streamed
pieces, and the LRU of loaded models (a real tiny model answers in test_openai_backends)."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from typing import Any

import pytest

from tunesdk.serve.chat_generation import StopScanner, cut_at_stop
from tunesdk.serve.errors import ServeError
from tunesdk.serve.model_cache import ModelCache
from tunesdk.serve.openai_chat import sampling_of


def test_settings_are_checked_and_each_refusal_names_its_field() -> None:
    sampling = sampling_of(
        {"max_completion_tokens": 5, "temperature": 0.5, "top_p": 1, "n": 2, "stop": "\n"}
    )
    assert (sampling.max_tokens, sampling.temperature, sampling.n) == (5, 0.5, 2)
    assert sampling.stop == ("\n",) and sampling_of({"max_tokens": 7}).max_tokens == 7
    for body, param in [
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_completion_tokens": "5"}, "max_completion_tokens"),
        ({"temperature": 3}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"n": 129}, "n"),
        ({"n": True}, "n"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stop": [""]}, "stop"),
    ]:
        with pytest.raises(ServeError) as refused:
            sampling_of(body)
        assert refused.value.status == 400 and refused.value.param == param, body


def test_stop_sequences_are_cut_out_even_across_streamed_pieces() -> None:
    assert cut_at_stop("one. two", (".", "tw")) == ("one", True)
    assert cut_at_stop("abc", ("x",)) == ("abc", False)
    scanner = StopScanner(("END",))
    pieces = ["he", "llo E", "N", "D more", " text"]
    assert "".join(scanner.feed(p) for p in pieces) + scanner.flush() == "hello "
    scanner = StopScanner(("END",))
    held = [scanner.feed(p) for p in ["so E", "ND? no: EN", "d"]]
    assert held == ["so ", "", ""] and scanner.stopped
    scanner = StopScanner(("END",))
    assert scanner.feed("ten E") == "ten " and scanner.feed("x") == "Ex"  # not a stop after all
    assert scanner.flush() == ""
    free = StopScanner(())
    assert free.feed("E") == "E" and free.flush() == ""


class Weights:
    """Stands in for a model's weights (only its lifetime matters)."""


def test_the_cache_holds_at_most_its_capacity_dropping_the_least_recently_used() -> None:
    loads: list[str] = []
    alive: dict[str, Any] = {}

    def loader(key: str) -> Any:
        def load() -> tuple[Any, Any]:
            loads.append(key)
            weights = Weights()
            alive[key] = weakref.ref(weights)
            return weights, object()

        return load

    cache = ModelCache(2)
    a = cache.get("a", loader("a"))
    cache.get("b", loader("b"))
    assert cache.get("a", loader("a")) is a  # a hit: no second load, and "a" is the newest
    cache.get("c", loader("c"))
    assert cache.keys() == ["a", "c"] and loads == ["a", "b", "c"]
    gc.collect()
    assert alive["b"]() is None  # dropped from memory, not only from the table
    del a
    cache.get("b", loader("b"))  # back again: loaded anew, "a" (least recent) goes
    assert cache.keys() == ["c", "b"] and loads == ["a", "b", "c", "b"]
    gc.collect()
    assert alive["a"]() is None
    with pytest.raises(ValueError, match="at least 1"):
        ModelCache(0)


def test_requests_for_a_model_not_loaded_yet_load_it_once() -> None:
    loads = []

    def slow_load() -> tuple[Any, Any]:
        loads.append(1)
        time.sleep(0.2)
        return Weights(), object()

    cache = ModelCache(2)
    got: list[Any] = []
    threads = [
        threading.Thread(target=lambda: got.append(cache.get("m", slow_load))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1 and len({id(entry) for entry in got}) == 1


def test_a_failed_load_leaves_nothing_behind() -> None:
    def broken() -> tuple[Any, Any]:
        raise RuntimeError("no weights")

    cache = ModelCache(1)
    with pytest.raises(RuntimeError):
        cache.get("m", broken)
    assert cache.keys() == []
    assert cache.get("m", lambda: (Weights(), object())).key == "m"
