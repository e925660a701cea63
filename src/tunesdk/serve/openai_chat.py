"""``POST /v1/chat/completions`` on a model this server fine-tuned for the caller.

``model`` is a finished job's ``fine_tuned_model`` (the handle's URI, ``local:/...`` or
``together:acct/model``), or a checkpoint's, from a job the caller's key owns; anything else is
404 ``model_not_found``. A local model whose engine loads it (trl, unsloth, axolotl) is loaded
into this process — at most `ServeConfig.max_loaded_models` at once, least recently used dropped
first (`tunesdk.serve.model_cache`) — and generates in worker threads (`chat_generation`), so the
event loop keeps serving; a provider's model is asked at the provider through its handle.
``stream: true`` answers with ``chat.completion.chunk`` server-sent events and ``data: [DONE]``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from tunesdk.errors import TuneError
from tunesdk.serve.chat_generation import (
    Delta,
    Finish,
    Generator,
    HandleGenerator,
    LocalGenerator,
    Sampling,
    usage,
)
from tunesdk.serve.chat_objects import (
    DONE,
    chunk_object,
    completion_id,
    completion_object,
    delta_choice,
    sse_data,
    usage_object,
)
from tunesdk.serve.context import ServeContext
from tunesdk.serve.errors import ServeError, bad_request
from tunesdk.serve.http import answer, json_body

log = logging.getLogger("tunesdk.serve")
ROLES = ("system", "developer", "user", "assistant", "tool")
#: fields of a chat request that are read; any other is accepted and ignored (as many
#: OpenAI-compatible servers do), except those that would change the answer's shape
REFUSED = ("tools", "functions", "response_format", "audio", "modalities", "logprobs")
#: OpenAI's own limits
MAX_CHOICES = 128
#: new tokens one choice may ask for: a bound on what one cheap request can make the GPU do
MAX_NEW_TOKENS = 32_768
MAX_STOPS = 4


def _model_not_found(model: str) -> ServeError:
    return ServeError(
        404,
        f"The model `{model}` does not exist or you do not have access to it. Use the"
        " fine_tuned_model of one of your succeeded fine-tuning jobs.",
        param="model",
        code="model_not_found",
    )


def _not_servable(model: str, exc: TuneError) -> ServeError:
    return ServeError(
        400,
        f"The model {model} cannot answer here: {exc.message}",
        param="model",
        code="model_not_servable",
    )


def _messages(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise bad_request("Missing required parameter: 'messages'.", param="messages")
    messages = []
    for i, message in enumerate(value):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise bad_request(
                f"messages[{i}] must be an object with a role ({', '.join(ROLES)}).",
                param=f"messages[{i}].role",
            )
        content = message.get("content")
        if isinstance(content, list):  # content parts: keep the text ones
            content = "".join(
                str(part.get("text", ""))
                for part in content
                if isinstance(part, dict) and part.get("type") == "text"
            )
        if not isinstance(content, str):
            raise bad_request(
                f"messages[{i}].content must be text.", param=f"messages[{i}].content"
            )
        role = "system" if message["role"] == "developer" else str(message["role"])
        messages.append({"role": role, "content": content})
    return messages


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def sampling_of(body: dict[str, Any]) -> Sampling:
    """The request's generation settings, each checked (400 naming it)."""
    param = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    most = body.get(param)
    if most is not None and (not _whole(most) or not 1 <= most <= MAX_NEW_TOKENS):
        raise bad_request(
            f"{param} must be a whole number from 1 to {MAX_NEW_TOKENS}.", param=param
        )
    temperature = body.get("temperature")
    if temperature is not None and (not _number(temperature) or not 0 <= temperature <= 2):
        raise bad_request("temperature must be a number from 0 to 2.", param="temperature")
    top_p = body.get("top_p")
    if top_p is not None and (not _number(top_p) or not 0 < top_p <= 1):
        raise bad_request("top_p must be a number above 0 and at most 1.", param="top_p")
    n = body.get("n")
    n = 1 if n is None else n
    if not _whole(n) or not 1 <= n <= MAX_CHOICES:
        raise bad_request(f"n must be a whole number from 1 to {MAX_CHOICES}.", param="n")
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else stop if stop is not None else []
    if (
        not isinstance(stops, list)
        or len(stops) > MAX_STOPS
        or not all(isinstance(s, str) and s for s in stops)
    ):
        raise bad_request(
            f"stop must be a string or a list of at most {MAX_STOPS} non-empty strings.",
            param="stop",
        )
    return Sampling(
        max_tokens=most,
        temperature=None if temperature is None else float(temperature),
        top_p=None if top_p is None else float(top_p),
        n=n,
        stop=tuple(stops),
    )


def _stream_options(body: dict[str, Any]) -> bool:
    """Whether the stream ends with a usage chunk (``stream_options.include_usage``)."""
    options = body.get("stream_options")
    if options is None:
        return False
    if not body.get("stream"):
        raise bad_request(
            "stream_options is only allowed with stream: true.", param="stream_options"
        )
    if not isinstance(options, dict) or not isinstance(options.get("include_usage", False), bool):
        raise bad_request(
            'stream_options must be an object such as {"include_usage": true}.',
            param="stream_options",
        )
    return bool(options.get("include_usage"))


def loads_itself(handle: Any) -> bool:
    """Whether ``handle`` is a local model whose engine loads it as (model, tokenizer)."""
    from tunesdk.backend import Backend
    from tunesdk.models import LocalModel
    from tunesdk.registry import get_backend

    if not isinstance(handle, LocalModel):
        return False
    try:
        engine = type(get_backend(handle.engine))
    except TuneError:
        return False
    return engine.load is not Backend.load


def routes(ctx: ServeContext) -> list[BaseRoute]:
    handles: dict[str, Any] = {}
    lock = threading.Lock()

    def owned_model(owner: str, model: str) -> Any:
        """The handle of ``model`` if one of ``owner``'s finished jobs produced it."""
        from tunesdk.models import load_model

        run_id = ctx.outcomes.by_model.get(model)
        if run_id is None or ctx.ownership.owner_of("run", run_id) != owner:
            run_id = _find_run(ctx, owner, model)
        engine = None
        if run_id is None:
            run_id, engine = _checkpoint_run(ctx, owner, model)
        if run_id is None:
            raise _model_not_found(model)
        with lock:
            handle = handles.get(model)
        if handle is None:
            try:
                handle = load_model(model)
            except TuneError:
                raise _model_not_found(model) from None
            if engine is not None:
                handle = handle.model_copy(update={"engine": engine})
            with lock:
                handles[model] = handle
        return handle

    def generator_for(owner: str, model: str) -> Generator:
        """How ``model`` answers: loaded here (the LRU of local models), or through its handle."""
        handle = owned_model(owner, model)
        if not loads_itself(handle):
            return HandleGenerator(handle)
        try:
            return LocalGenerator(ctx.models.get(model, handle.load))
        except TuneError as exc:
            raise _not_servable(model, exc) from None

    async def chat_completions(request: Request) -> Response:
        owner = ctx.owner(request)
        body = await json_body(request)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise bad_request("Missing required parameter: 'model'.", param="model")
        messages = _messages(body.get("messages"))
        for name in REFUSED:
            if body.get(name):
                raise bad_request(
                    f"{name} is not supported by tunesdk serve's chat completions.", param=name
                )
        sampling = sampling_of(body)
        include_usage = _stream_options(body)
        generator = await asyncio.to_thread(generator_for, owner, model)
        generator.check(sampling)
        if body.get("stream"):
            return StreamingResponse(
                _chunks(generator, model, messages, sampling, include_usage),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        try:
            reply = await asyncio.to_thread(generator.complete, messages, sampling)
        except TuneError as exc:
            raise _not_servable(model, exc) from None
        choices = [(c.text, c.finish_reason) for c in reply.choices]
        return answer(completion_object(model, choices, usage(reply.prompt_tokens, reply.choices)))

    return [Route("/v1/chat/completions", chat_completions, methods=["POST"])]


async def _chunks(
    generator: Generator,
    model: str,
    messages: list[dict[str, str]],
    sampling: Sampling,
    include_usage: bool,
) -> AsyncIterator[bytes]:
    """The stream of one request: a role chunk per choice, its text as it decodes, its finish
    reason, then (``include_usage``) the usage chunk, then ``[DONE]``. Generation runs in a
    worker thread; a client that goes away stops it."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    cancelled = threading.Event()
    ended = object()

    def emit(item: Any) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    def produce() -> None:
        try:
            emit(("prompt_tokens", generator.stream(messages, sampling, emit, cancelled)))
        except BaseException as exc:
            emit(exc)
        finally:
            emit(ended)

    chat_id, created = completion_id(), int(time.time())

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return sse_data(
            chunk_object(chat_id, created, model, choices, include_usage=include_usage, **extra)
        )

    threading.Thread(target=produce, name="tunesdk-serve-chat-stream", daemon=True).start()
    started: set[int] = set()
    completion_tokens: list[int | None] = []
    prompt_tokens: int | None = None
    try:
        while (item := await queue.get()) is not ended:
            if isinstance(item, BaseException):
                if not isinstance(item, TuneError):  # the traceback for the operator only
                    log.error("chat completion stream of %s failed", model, exc_info=item)
                message = item.message if isinstance(item, TuneError) else "generation failed"
                error = ServeError(400 if isinstance(item, TuneError) else 500, message)
                yield sse_data(error.body())
                return
            if isinstance(item, tuple):
                prompt_tokens = item[1]
                continue
            if item.index not in started:
                started.add(item.index)
                yield chunk([delta_choice(item.index, role=True, content="")])
            if isinstance(item, Delta):
                yield chunk([delta_choice(item.index, content=item.text)])
            elif isinstance(item, Finish):
                completion_tokens.append(item.tokens)
                yield chunk([delta_choice(item.index, finish_reason=item.finish_reason)])
        known = prompt_tokens is not None and None not in completion_tokens
        if include_usage and known:
            counted = sum(t for t in completion_tokens if t is not None)
            yield chunk([], usage=usage_object(prompt_tokens or 0, counted))
        yield DONE
    finally:
        cancelled.set()


def _checkpoint_run(ctx: ServeContext, owner: str, model: str) -> tuple[str | None, str | None]:
    """(run id, engine) when ``model`` is a checkpoint (``fine_tuned_model_checkpoint``) of one
    of ``owner``'s runs that finished; (None, None) otherwise."""
    from tunesdk.events import Checkpoint, Completed
    from tunesdk.models import LocalModel

    if not model.startswith("local:"):
        return None, None
    path = Path(model.removeprefix("local:")).resolve()
    runs = ctx.store.runs_dir.resolve()
    if not path.is_relative_to(runs) or path == runs:
        return None, None
    run_id = path.relative_to(runs).parts[0]
    if ctx.ownership.owner_of("run", run_id) != owner:
        return None, None
    try:
        events = ctx.store.get(run_id).events(strict=False)
    except Exception:
        return None, None
    if not any(
        isinstance(e, Checkpoint) and e.path and Path(e.path).resolve() == path for e in events
    ):
        return None, None
    final = next((e for e in reversed(events) if isinstance(e, Completed)), None)
    engine = (
        final.model.engine if final is not None and isinstance(final.model, LocalModel) else None
    )
    return run_id, engine


def _find_run(ctx: ServeContext, owner: str, model: str) -> str | None:
    """The owner's completed run whose model is ``model`` (newest first; outcomes are cached)."""
    for row in ctx.ownership.list("run", owner):
        try:
            record = ctx.store.get(row.object_id)
            if record.status != "completed":
                continue
        except Exception:
            continue
        if ctx.outcomes.of(record).get("fine_tuned_model") == model:
            return row.object_id
    return None


__all__ = ["routes"]
