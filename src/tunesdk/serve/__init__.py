"""``tunesdk serve``: OpenAI's fine-tuning API over every backend, a native runs API with a
server-sent-events stream, and a dashboard — one Starlette app over the ordinary run store.

The server only submits and follows: training happens in tunesdk's workers or at the provider, so
restarting the server loses nothing. Modules, one job each:

- `config`: `ServeConfig` (host, port, default backend, API keys, size limits) and the bind check
- `errors`: `ServeError`, answered in OpenAI's error shape
- `auth`: bearer keys → an owner id (a key's hash; the key itself is never stored)
- `context`: `ServeContext`, what every route module gets (config, run store, ownership)
- `app`: `create_app(config)` assembling the route modules; `server`: run it under uvicorn
- route modules (each exposes ``routes(ctx) -> list[BaseRoute]``): `openai_files`, `openai_jobs`,
  `openai_chat`, `native`, `dashboard`
- what the OpenAI routes share: `http` (JSON bodies, ``limit``/``after``, list objects, ids),
  `file_store` (files and Uploads under generated names), `job_mapping` (a create body → a
  `tunesdk.Job` and its backend), `job_view` (a run as FineTuningJob / events / checkpoints)
- what chat completions use: `chat_objects` (OpenAI's completion and chunk objects),
  `chat_generation` (settings, local generation with tokens/n/stop/streaming, other handles),
  `model_cache` (the LRU of loaded local models)
"""

from __future__ import annotations

from tunesdk.serve.config import ServeConfig

__all__ = ["ServeConfig"]
