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


class FakeGenerator:
    """Streams two choices word by word, or fails after the first word."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.cancelled: threading.Event | None = None

    def stream(self, messages: Any, sampling: Any, emit: Any, cancelled: threading.Event) -> int:
        from tunesdk.serve.chat_generation import Delta, Finish

        self.cancelled = cancelled
        for index in range(sampling.n):
            for word in ("hello ", "there"):
                emit(Delta(index, word))
                if self.fail is not None:
                    raise self.fail
            emit(Finish(index, "length", 2))
        return 7


def _frames(generator: Any, n: int = 1, include_usage: bool = False) -> list[Any]:
    import asyncio
    import json

    from tunesdk.serve.chat_generation import Sampling
    from tunesdk.serve.openai_chat import _chunks

    async def collect() -> list[bytes]:
        stream = _chunks(generator, "m", [], Sampling(n=n), include_usage)
        return [frame async for frame in stream]

    datas = [f.decode().removeprefix("data: ").strip() for f in asyncio.run(collect())]
    return [d if d == "[DONE]" else json.loads(d) for d in datas]


def test_a_stream_is_openais_chunks_then_done() -> None:
    frames = _frames(FakeGenerator(), n=2, include_usage=True)
    assert frames[-1] == "[DONE]"
    chunks = frames[:-1]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1 and all("usage" in c for c in chunks)
    for index in (0, 1):
        mine = [
            c["choices"][0] for c in chunks if c["choices"] and c["choices"][0]["index"] == index
        ]
        assert mine[0]["delta"] == {"role": "assistant", "content": ""}
        assert "".join(c["delta"].get("content", "") for c in mine) == "hello there"
        assert mine[-1]["finish_reason"] == "length"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}
    assert all(c["usage"] is None for c in chunks[:-1])
    assert "usage" not in _frames(FakeGenerator())[0]  # only with stream_options.include_usage


def test_a_failing_stream_ends_with_an_error_the_sdk_raises_and_stops_generating() -> None:
    from tunesdk.errors import TuneError

    generator = FakeGenerator(fail=TuneError("the provider is down"))
    frames = _frames(generator)
    assert frames[-1] != "[DONE]" and frames[-1]["error"]["message"] == "the provider is down"
    assert generator.cancelled is not None and generator.cancelled.is_set()
    hidden = _frames(FakeGenerator(fail=RuntimeError("/secret/path")))
    assert hidden[-1]["error"] == {
        "message": "generation failed",
        "type": "server_error",
        "param": None,
        "code": None,
    }
