"""``POST /v1/chat/completions`` on a model this server fine-tuned for the caller.

``model`` is a finished job's ``fine_tuned_model`` (the handle's URI, ``local:/...`` or
``together:acct/model``) from a job the caller's key owns; anything else is 404
``model_not_found``. The handle answers through its backend (`tunesdk.ModelHandle.chat`): a local
adapter loads once in this process (the trl backend caches it) and generates in a worker thread, so
the event loop keeps serving; a provider model is asked at the provider. No streaming.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tunesdk.errors import TuneError
from tunesdk.serve.context import ServeContext
from tunesdk.serve.errors import ServeError, bad_request
from tunesdk.serve.http import answer, json_body

ROLES = ("system", "developer", "user", "assistant", "tool")
#: fields of a chat request that are read; any other is accepted and ignored (as many
#: OpenAI-compatible servers do), except those that would change the answer's shape
REFUSED = ("stream", "tools", "functions", "response_format", "audio", "modalities")


def _model_not_found(model: str) -> ServeError:
    return ServeError(
        404,
        f"The model `{model}` does not exist or you do not have access to it. Use the"
        " fine_tuned_model of one of your succeeded fine-tuning jobs.",
        param="model",
        code="model_not_found",
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


def _generation(body: dict[str, Any], local: bool) -> dict[str, Any]:
    """OpenAI's sampling fields as the handle's ``chat()`` keywords."""
    options: dict[str, Any] = {}
    most = body.get("max_completion_tokens", body.get("max_tokens"))
    if most is not None:
        if not isinstance(most, int) or isinstance(most, bool) or most < 1:
            param = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
            raise bad_request(f"{param} must be a whole number ≥ 1.", param=param)
        options["max_new_tokens" if local else "max_tokens"] = most
    temperature = body.get("temperature")
    if temperature is not None:
        if not isinstance(temperature, int | float) or not 0 <= temperature <= 2:
            raise bad_request("temperature must be a number from 0 to 2.", param="temperature")
        if local:
            if temperature > 0:
                options.update(do_sample=True, temperature=float(temperature))
        else:
            options["temperature"] = float(temperature)
    top_p = body.get("top_p")
    if top_p is not None:
        if not isinstance(top_p, int | float) or not 0 < top_p <= 1:
            raise bad_request("top_p must be a number above 0 and at most 1.", param="top_p")
        options["top_p"] = float(top_p)
    n = body.get("n", 1)
    if n != 1:
        raise bad_request("Only n=1 is supported.", param="n")
    return options


def routes(ctx: ServeContext) -> list[BaseRoute]:
    handles: dict[str, Any] = {}
    lock = threading.Lock()
    # one generation at a time per local model: transformers models are not re-entrant
    generating: dict[str, threading.Lock] = {}

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
                generating.setdefault(model, threading.Lock())
        return handle

    def reply(
        model: str, handle: Any, messages: list[dict[str, str]], options: dict[str, Any]
    ) -> str:
        with generating[model]:
            return str(handle.chat(messages, **options))

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
        handle = await asyncio.to_thread(owned_model, owner, model)
        from tunesdk.models import LocalModel

        options = _generation(body, isinstance(handle, LocalModel))
        try:
            text = await asyncio.to_thread(reply, model, handle, messages, options)
        except TuneError as exc:
            raise ServeError(
                400,
                f"The model {model} cannot answer here: {exc.message}",
                param="model",
                code="model_not_servable",
            ) from None
        prompt_tokens = sum(len(m["content"].split()) for m in messages)
        completion_tokens = len(text.split())
        return answer(
            {
                "id": f"chatcmpl-{secrets.token_hex(12)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "refusal": None},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )

    return [Route("/v1/chat/completions", chat_completions, methods=["POST"])]


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
