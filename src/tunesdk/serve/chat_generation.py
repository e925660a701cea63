"""Chat replies for ``POST /v1/chat/completions``: what one request asks (`Sampling`) and the two
ways a fine-tuned model answers it.

- `LocalGenerator`: a local model the server loaded (`tunesdk.serve.model_cache`) through its
  engine's ``load()`` (transformers model + tokenizer): token counts from the tokenizer, ``n``
  choices, ``stop`` sequences, and token-by-token streaming.
- `HandleGenerator`: any other handle (a provider's model, a local engine without ``load()``)
  through ``handle.chat()``: one choice, the whole text at once, no token counts.

Both answer `complete` (every choice at once) and `stream` (`Delta` and `Finish` events handed
to a callback, from a worker thread). torch and transformers are imported only here, only when a
local model answers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tunesdk.serve.chat_objects import usage_object
from tunesdk.serve.errors import bad_request
from tunesdk.serve.model_cache import Loaded

#: new tokens when the request sets no ``max_tokens`` / ``max_completion_tokens``
DEFAULT_MAX_TOKENS = 512


@dataclass(frozen=True)
class Sampling:
    """The generation settings of one request, checked (`tunesdk.serve.openai_chat`)."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    n: int = 1
    stop: tuple[str, ...] = ()

    def given(self) -> dict[str, Any]:
        """The settings the request set, by their OpenAI names (``n`` only above 1)."""
        found: dict[str, Any] = {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop": list(self.stop) or None,
        }
        if self.n != 1:
            found["n"] = self.n
        return {k: v for k, v in found.items() if v is not None}


@dataclass(frozen=True)
class Choice:
    text: str
    #: ``stop`` (the model ended, or a stop sequence) or ``length`` (``max_tokens`` reached)
    finish_reason: str
    #: generated tokens; None where the backend does not say
    tokens: int | None = None


@dataclass(frozen=True)
class Reply:
    choices: list[Choice]
    prompt_tokens: int | None = None


@dataclass(frozen=True)
class Delta:
    """Streamed text of choice ``index``."""

    index: int
    text: str


@dataclass(frozen=True)
class Finish:
    """Choice ``index`` is done."""

    index: int
    finish_reason: str
    tokens: int | None = None


Emit = Callable[[Delta | Finish], None]


def usage(prompt_tokens: int | None, choices: list[Choice]) -> dict[str, int] | None:
    """OpenAI's ``usage`` object, or None when the tokens are not known."""
    counts = [c.tokens for c in choices]
    if prompt_tokens is None or any(t is None for t in counts):
        return None
    return usage_object(prompt_tokens, sum(t for t in counts if t is not None))


def cut_at_stop(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
    """``text`` up to the first stop sequence (OpenAI's replies never contain it), and whether
    one was found."""
    at = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
    return (text[:at], True) if at >= 0 else (text, False)


class StopScanner:
    """Streamed text with stop sequences held back: what may be the start of a stop sequence
    waits for the next piece; from a stop sequence on nothing more is let through."""

    def __init__(self, stop: tuple[str, ...]) -> None:
        self.stop = stop
        self.pending = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        if self.stopped:
            return ""
        self.pending += piece
        text, found = cut_at_stop(self.pending, self.stop)
        if found:
            self.stopped, self.pending = True, ""
            return text
        keep = max(
            (k for s in self.stop for k in range(1, len(s)) if self.pending.endswith(s[:k])),
            default=0,
        )
        ready = self.pending[: len(self.pending) - keep]
        self.pending = self.pending[len(ready) :]
        return ready

    def flush(self) -> str:
        rest, self.pending = ("" if self.stopped else self.pending), ""
        return rest


class HandleGenerator:
    """A handle that answers through ``handle.chat()``: one choice, no token counts."""

    #: OpenAI's settings a provider's chat API takes, and a local engine's ``chat()``
    PROVIDER = frozenset({"max_tokens", "temperature", "top_p", "stop"})
    LOCAL = frozenset({"max_tokens", "temperature", "top_p"})

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def check(self, sampling: Sampling) -> None:
        """400 naming the first setting this handle cannot honour."""
        from tunesdk.models import LocalModel

        local = isinstance(self.handle, LocalModel)
        supported = self.LOCAL if local else self.PROVIDER
        where = f"models of the {self.handle.engine} engine" if local else "provider models"
        for name in sampling.given():
            if name not in supported:
                detail = "one choice per request" if name == "n" else f"no {name}"
                raise bad_request(
                    f"{name} is not supported for {where} here (they answer with {detail}).",
                    param=name,
                )

    def _options(self, sampling: Sampling) -> dict[str, Any]:
        from tunesdk.models import LocalModel

        options: dict[str, Any] = {}
        local = isinstance(self.handle, LocalModel)
        if sampling.max_tokens is not None:
            options["max_new_tokens" if local else "max_tokens"] = sampling.max_tokens
        if sampling.temperature is not None:
            if not local:
                options["temperature"] = sampling.temperature
            elif sampling.temperature > 0:
                options.update(do_sample=True, temperature=sampling.temperature)
        if sampling.top_p is not None:
            options["top_p"] = sampling.top_p
        if sampling.stop:
            options["stop"] = list(sampling.stop)
        return options

    def complete(self, messages: list[dict[str, str]], sampling: Sampling) -> Reply:
        text = str(self.handle.chat(messages, **self._options(sampling)))
        return Reply([Choice(text, "stop")])

    def stream(
        self,
        messages: list[dict[str, str]],
        sampling: Sampling,
        emit: Emit,
        cancelled: threading.Event,
    ) -> int | None:
        (choice,) = self.complete(messages, sampling).choices
        emit(Delta(0, choice.text))
        emit(Finish(0, choice.finish_reason))
        return None


class LocalGenerator:
    """A loaded local model answering with transformers' ``generate``."""

    def __init__(self, loaded: Loaded) -> None:
        self.loaded = loaded

    def check(self, sampling: Sampling) -> None:
        """Every setting maps here."""

    # ---- shared -------------------------------------------------------------------------------

    def _inputs(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        model, tokenizer = self.loaded.model, self.loaded.tokenizer
        inputs = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        return {key: value.to(model.device) for key, value in dict(inputs).items()}

    def _options(self, sampling: Sampling, *, sample: bool) -> dict[str, Any]:
        tokenizer = self.loaded.tokenizer
        options: dict[str, Any] = {
            "max_new_tokens": sampling.max_tokens or DEFAULT_MAX_TOKENS,
            "do_sample": sample,
            "pad_token_id": tokenizer.pad_token_id or tokenizer.eos_token_id,
        }
        if sample:
            # OpenAI's default temperature is 1; n > 1 without one samples at it
            options["temperature"] = sampling.temperature or 1.0
            if sampling.top_p is not None:
                options["top_p"] = sampling.top_p
        if sampling.stop:
            options.update(stop_strings=list(sampling.stop), tokenizer=tokenizer)
        return options

    @staticmethod
    def _samples(sampling: Sampling) -> bool:
        """Greedy unless a temperature above 0 is set, or several choices are asked for without
        one (copies of one greedy answer otherwise; temperature 0 gives exactly that)."""
        if sampling.temperature is not None:
            return sampling.temperature > 0
        return sampling.n > 1

    def _counted(self, new_tokens: Any) -> int:
        """Generated tokens up to and including the end-of-sequence token (not the padding)."""
        tokenizer = self.loaded.tokenizer
        eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id or tokenizer.eos_token_id
        count = 0
        for token in new_tokens.tolist():
            if token == eos:
                return count + 1
            if token == pad:
                return count
            count += 1
        return count

    def _choice(self, new_tokens: Any, sampling: Sampling, limit: int) -> Choice:
        tokenizer = self.loaded.tokenizer
        text = str(tokenizer.decode(new_tokens, skip_special_tokens=True))
        text, stopped = cut_at_stop(text, sampling.stop)
        tokens = self._counted(new_tokens)
        ended = stopped or tokens < limit or int(new_tokens[-1]) == tokenizer.eos_token_id
        return Choice(text, "stop" if ended else "length", tokens)

    # ---- all at once --------------------------------------------------------------------------

    def complete(self, messages: list[dict[str, str]], sampling: Sampling) -> Reply:
        import torch

        from tunesdk.quiet import quiet_hf

        sample = self._samples(sampling)
        options = self._options(sampling, sample=sample)
        batch = sampling.n if sample else 1
        with self.loaded.lock, quiet_hf(), torch.no_grad():
            inputs = self._inputs(messages)
            output = self.loaded.model.generate(**inputs, num_return_sequences=batch, **options)
        start = inputs["input_ids"].shape[1]
        limit = int(options["max_new_tokens"])
        choices = [self._choice(row[start:], sampling, limit) for row in output]
        if len(choices) < sampling.n:  # greedy: every choice is the same answer
            choices *= sampling.n
        return Reply(choices, int(inputs["input_ids"].shape[1]))

    # ---- streaming ----------------------------------------------------------------------------

    def stream(
        self,
        messages: list[dict[str, str]],
        sampling: Sampling,
        emit: Emit,
        cancelled: threading.Event,
    ) -> int | None:
        """Generate each choice in turn, handing its text to ``emit`` as tokens decode; returns
        the prompt's tokens. ``cancelled`` (the client went away) stops generating at once."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        from tunesdk.quiet import quiet_hf

        class Cancelled(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), cancelled.is_set(), dtype=torch.bool)

        sample = self._samples(sampling)
        options = self._options(sampling, sample=sample)
        limit = int(options["max_new_tokens"])
        tokenizer = self.loaded.tokenizer
        with self.loaded.lock, quiet_hf():
            inputs = self._inputs(messages)
            start = inputs["input_ids"].shape[1]
            for index in range(sampling.n):
                if cancelled.is_set():
                    break
                streamer = TextIteratorStreamer(
                    tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600
                )
                result: dict[str, Any] = {}

                def run(streamer: Any = streamer, result: dict[str, Any] = result) -> None:
                    try:
                        with torch.no_grad():
                            result["output"] = self.loaded.model.generate(
                                **inputs,
                                streamer=streamer,
                                stopping_criteria=StoppingCriteriaList([Cancelled()]),
                                **options,
                            )
                    except BaseException as exc:  # handed to the request below
                        result["error"] = exc
                        streamer.end()

                worker = threading.Thread(target=run, name="tunesdk-serve-generate", daemon=True)
                worker.start()
                scanner = StopScanner(sampling.stop)
                for piece in streamer:
                    text = scanner.feed(piece)
                    if text:
                        emit(Delta(index, text))
                worker.join()
                if "error" in result:
                    raise result["error"]
                if text := scanner.flush():
                    emit(Delta(index, text))
                choice = self._choice(result["output"][0][start:], sampling, limit)
                emit(Finish(index, choice.finish_reason, choice.tokens))
        return int(start)


Generator = LocalGenerator | HandleGenerator

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "Choice",
    "Delta",
    "Finish",
    "Generator",
    "HandleGenerator",
    "LocalGenerator",
    "Reply",
    "Sampling",
    "StopScanner",
    "cut_at_stop",
    "usage",
]
