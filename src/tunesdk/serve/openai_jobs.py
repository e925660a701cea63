"""OpenAI's fine-tuning jobs API over tunesdk runs: ``/v1/fine_tuning/jobs``.

Create maps the body onto a `tunesdk.Job` (`tunesdk.serve.job_mapping`) and submits it with
``Run.submit`` in a worker thread — training happens in tunesdk's worker process or at the
provider, never in the server. The job id is the run id. Listing reads the ownership table
(indexed by owner and creation time) one page at a time, then each run's ``state.json``; nothing
scans the store. Objects: `tunesdk.serve.job_view`.
"""

from __future__ import annotations

import asyncio
import os
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
from tunesdk.serve.http import answer, json_body, limit_param, list_object
from tunesdk.serve.job_mapping import JobRequest, build_job, parse_request
from tunesdk.serve.job_view import (
    checkpoint_objects,
    event_object,
    hide_paths,
    job_object,
    results_csv,
    seq_of_event_id,
)
from tunesdk.store import RunRecord

_WHERE_PARAMS = {
    "data": "training_file",
    "job.data": "training_file",
    "eval_data": "validation_file",
    "job.eval_data": "validation_file",
    "model": "model",
    "job.model": "model",
}


def facts_for(request: JobRequest, job: Any, body_model: str, created_at: int) -> dict[str, Any]:
    """The OpenAI-side facts of a new job: what the job object reports besides the run."""
    default_lr = job.method.default_learning_rate
    hyper: dict[str, Any] = {
        "n_epochs": job.epochs,
        "batch_size": job.batch_size,
        "learning_rate_multiplier": round((job.learning_rate or default_lr) / default_lr, 6),
    }
    if request.method == "dpo":
        hyper["beta"] = job.beta
    if request.method == "reinforcement":
        hyper.update(
            {
                k: request.requested.get(k)
                for k in ("reasoning_effort", "compute_multiplier", "eval_interval", "eval_samples")
            }
        )
        if job.eval_steps is not None:
            hyper["eval_interval"] = job.eval_steps
    return {
        "model": body_model,
        "backend": request.backend,
        "created_at": created_at,
        "training_file": request.training_file,
        "validation_file": request.validation_file,
        "method": request.method,
        "requested": request.requested,
        "hyperparameters": hyper,
        "grader": request.grader,
        "suffix": request.suffix,
        "seed": job.seed,
        "metadata": request.metadata,
        "integrations": request.integrations,
    }


def facts_from_run(record: RunRecord) -> dict[str, Any]:
    """Facts for a run the server owns but did not create through this API (the native API)."""
    try:
        job = record.job
    except Exception:
        return {
            "model": "unknown",
            "created_at": 0,
            "training_file": "",
            "method": "supervised",
            "hyperparameters": {},
            "seed": 0,
        }
    objective = job.objective or "sft"
    method = {"dpo": "dpo", "grpo": "reinforcement"}.get(objective, "supervised")
    default_lr = job.method.default_learning_rate
    hyper: dict[str, Any] = {
        "n_epochs": job.epochs,
        "batch_size": job.batch_size,
        "learning_rate_multiplier": round((job.learning_rate or default_lr) / default_lr, 6),
    }
    if method == "dpo":
        hyper["beta"] = job.beta
    from datetime import datetime

    try:
        created = int(datetime.fromisoformat(record.created_at).timestamp())
    except (ValueError, TypeError):
        created = 0
    model = job.model if isinstance(job.model, str) else job.model.name
    data = job.data if isinstance(job.data, str) else "inline"
    return {
        "model": model,
        "created_at": created,
        "training_file": Path(data).name if data != "inline" else data,
        "validation_file": None,
        "method": method,
        "hyperparameters": hyper,
        "seed": job.seed,
    }


def routes(ctx: ServeContext) -> list[BaseRoute]:
    def facts(record: RunRecord) -> dict[str, Any]:
        return ctx.job_facts.get(record.run_id) or facts_from_run(record)

    results_lock = threading.Lock()

    def view(record: RunRecord, *, live: bool = True) -> dict[str, Any]:
        events = record.events(strict=False) if live else None
        found = facts(record)
        if events is not None and "method" in found and "created_at" in found:
            found = with_results_file(record, found, events)
        return job_object(record, found, ctx.outcomes, events=events)

    def with_results_file(
        record: RunRecord, found: dict[str, Any], events: list[Any]
    ) -> dict[str, Any]:
        """Once a job has succeeded: its metrics as OpenAI's results file (purpose
        ``fine-tune-results``, owned by the job's owner), listed in ``result_files``."""
        if found.get("result_file") or ctx.job_facts.get(record.run_id) is None:
            return found
        if not any(getattr(e, "type", None) == "completed" for e in events):
            return found
        with results_lock:
            found = ctx.job_facts.get(record.run_id) or found
            if found.get("result_file"):
                return found
            owner = ctx.ownership.owner_of("run", record.run_id)
            if owner is None:
                return found
            meta = ctx.files.add("step_metrics.csv", "fine-tune-results", [results_csv(events)])
            ctx.ownership.claim("file", meta["id"], owner, time.time())
            tokens = estimated_tokens(record, events)
            found = {**found, "result_file": meta["id"], "trained_tokens": tokens}
            ctx.job_facts.save(record.run_id, found)
        return found

    def stored_file(owner: str, file_id: str, param: str) -> Path:
        meta = ctx.files.get(file_id) if ctx.ownership.owner_of("file", file_id) == owner else None
        path = ctx.files.path(file_id) if meta is not None else None
        if meta is None or path is None:
            raise bad_request(
                f"invalid {param}: no such file {file_id}", param=param, code=f"invalid_{param}"
            )
        if meta["purpose"] != "fine-tune":
            raise bad_request(
                f"File {file_id} has purpose {meta['purpose']!r}; upload it with purpose"
                " 'fine-tune'.",
                param=param,
                code=f"invalid_{param}",
            )
        return ctx.files.pin(file_id)

    def owned_base_model(owner: str, model: str) -> str:
        """``model`` as the backend reads it. A path into the run store (a fine-tuned model or
        checkpoint: ``local:/...`` as ``fine_tuned_model`` shows it, or the bare path) must be
        one of ``owner``'s runs — continuing your own model is fine, training on another key's
        is a 400 like a model that does not exist; the server's own files are never a model.
        Any other folder is read only by a server without keys (loopback, one user)."""
        path_text = model.removeprefix("local:")
        if not path_text.startswith(("/", ".", "~")) and not os.path.isdir(path_text):
            return model
        path = Path(path_text).expanduser().resolve()
        home = ctx.store.home.resolve()
        if not path.is_relative_to(home):
            if ctx.config.authenticated:  # as the native API: keys never open the server's disk
                raise bad_request(
                    f"The model {model} names a folder on the server, which a server with API"
                    " keys does not read: use a model id (a Hugging Face id or a provider's"
                    " model), or the fine_tuned_model of one of your jobs.",
                    param="model",
                    code="model_not_found",
                )
            return str(path) if model.startswith("local:") else model
        runs = ctx.store.runs_dir.resolve()
        run_id = path.relative_to(runs).parts[0] if path.is_relative_to(runs) else None
        if run_id is None or ctx.ownership.owner_of("run", run_id) != owner:
            raise bad_request(
                f"The model {model} does not exist or you do not have access to it.",
                param="model",
                code="model_not_found",
            )
        return str(path)

    def refusal(exc: TuneError, paths: dict[str, str]) -> ServeError:
        """A TuneError from planning or preflight as a 400, server paths replaced by file ids."""
        text = str(exc)
        for path, file_id in paths.items():
            text = text.replace(path, file_id)
        text = hide_paths(text, ctx.files_dir)
        where = (exc.where or "").split(":", 1)[0].split(" ", 1)[0]
        param = _WHERE_PARAMS.get(where)
        if param is None:
            param = next((p for f, p in paths_params(paths) if f in text), None)
        return bad_request(text, param=param, code="invalid_job")

    async def create_job(request: Request) -> Response:
        from tunesdk.registry import installed_names
        from tunesdk.run import Run

        owner = ctx.owner(request)
        body = await json_body(request)
        job_request = parse_request(
            body,
            default_backend=ctx.config.default_backend,
            backends=installed_names(),
            allow_python=ctx.config.allow_python_graders,
        )
        data = stored_file(owner, job_request.training_file, "training_file")
        eval_data = (
            stored_file(owner, job_request.validation_file, "validation_file")
            if job_request.validation_file
            else None
        )
        job_request.model = owned_base_model(owner, job_request.model)
        job = build_job(job_request, data, eval_data)
        paths = {str(data): job_request.training_file}
        if eval_data is not None and job_request.validation_file:
            paths[str(eval_data)] = job_request.validation_file
        # the folders too: a message may name them rather than the files
        paths.update({str(Path(p).parent): f for p, f in list(paths.items())})
        created_at = int(time.time())
        try:
            run = await asyncio.to_thread(Run.submit, job, job_request.backend)
        except TuneError as exc:
            raise refusal(exc, paths) from None
        record = run.record
        ctx.job_facts.save(
            record.run_id, facts_for(job_request, job, str(body["model"]).strip(), created_at)
        )
        for message in job_request.warnings:
            record.log(message, level="warning")
        ctx.claim_run(owner, record.run_id)
        return answer(view(record))

    async def list_jobs(request: Request) -> Response:
        owner = ctx.owner(request)
        limit = limit_param(request, default=20)
        after = request.query_params.get("after") or None
        wanted = {
            key[len("metadata[") : -1]: value
            for key, value in request.query_params.items()
            if key.startswith("metadata[") and key.endswith("]")
        }
        null_metadata = request.query_params.get("metadata") == "null"
        filtered = bool(wanted) or null_metadata
        page: list[dict[str, Any]] = []
        more = False
        cursor = after
        while True:
            batch = ctx.ownership.list("run", owner, limit=limit + 1, after=cursor)
            for row in batch:
                record = _record(ctx, row.object_id)
                if record is None:
                    continue
                found = facts(record)
                if filtered:
                    metadata = found.get("metadata")
                    if null_metadata and metadata is not None:
                        continue
                    if any((metadata or {}).get(k) != v for k, v in wanted.items()):
                        continue
                if len(page) == limit:
                    more = True
                    break
                page.append(job_object(record, found, ctx.outcomes))
            if more or len(batch) <= limit:
                break
            cursor = batch[-1].object_id
        return answer(list_object(page, more, ids=False))

    async def retrieve_job(request: Request) -> Response:
        record = ctx.run_for(ctx.owner(request), request.path_params["job_id"])
        return answer(await asyncio.to_thread(view, record))

    async def cancel_job(request: Request) -> Response:
        record = ctx.run_for(ctx.owner(request), request.path_params["job_id"])
        if record.terminal:
            status = view(record, live=False)["status"]
            raise bad_request(f"Job {record.run_id} has already {status}; it cannot be cancelled.")
        try:
            # as the native API: the supervisor enforces the backend's cancel grace
            await asyncio.to_thread(ctx.cancel, record.run_id)
        except TuneError as exc:
            raise bad_request(f"Job {record.run_id} could not be cancelled: {exc}") from None
        return answer(view(record))

    def pause_or_resume(action: str) -> Any:
        async def handle(request: Request) -> Response:
            from tunesdk.run import Run

            record = ctx.run_for(ctx.owner(request), request.path_params["job_id"])
            run = Run.attach(record.run_id, home=ctx.store.home)
            if not run.backend.capabilities.pause:
                raise bad_request(
                    f"Job {record.run_id} runs on the {record.backend} backend, which cannot"
                    f" {action} jobs (only backends with pause can: openai). Cancel it instead;"
                    " a new job can resume from its last checkpoint.",
                    code="unsupported_operation",
                )
            if record.terminal:
                status = view(record, live=False)["status"]
                raise bad_request(f"Job {record.run_id} has already {status}; it cannot {action}.")
            act = run.pause if action == "pause" else run.unpause
            try:
                await asyncio.to_thread(act)
            except TuneError as exc:
                raise bad_request(f"Job {record.run_id} could not {action}: {exc}") from None
            return answer(view(record))

        return handle

    async def list_events(request: Request) -> Response:
        record = ctx.run_for(ctx.owner(request), request.path_params["job_id"])
        limit = limit_param(request, default=20)
        after = request.query_params.get("after") or None
        before_seq = None
        if after is not None:
            before_seq = seq_of_event_id(record.run_id, after)
            if before_seq is None:
                raise bad_request(
                    f"Invalid after {after!r}: not an event of this job.", param="after"
                )
        events = await asyncio.to_thread(record.events, strict=False)
        newest_first = [e for e in reversed(events) if before_seq is None or e.seq < before_seq]
        page = [event_object(e, ctx.files_dir) for e in newest_first[:limit]]
        return answer(list_object(page, len(newest_first) > limit, ids=False))

    async def list_checkpoints(request: Request) -> Response:
        record = ctx.run_for(ctx.owner(request), request.path_params["job_id"])
        limit = limit_param(request, default=10)
        after = request.query_params.get("after") or None
        events = await asyncio.to_thread(record.events, strict=False)
        found = list(reversed(checkpoint_objects(record.run_id, record.backend, events)))
        if after is not None:
            ids = [c["id"] for c in found]
            if after not in ids:
                raise bad_request(
                    f"Invalid after {after!r}: not a checkpoint of this job.", param="after"
                )
            found = found[ids.index(after) + 1 :]
        return answer(list_object(found[:limit], len(found) > limit))

    return [
        Route("/v1/fine_tuning/jobs", create_job, methods=["POST"]),
        Route("/v1/fine_tuning/jobs", list_jobs, methods=["GET"]),
        Route("/v1/fine_tuning/jobs/{job_id}", retrieve_job, methods=["GET"]),
        Route("/v1/fine_tuning/jobs/{job_id}/cancel", cancel_job, methods=["POST"]),
        Route("/v1/fine_tuning/jobs/{job_id}/pause", pause_or_resume("pause"), methods=["POST"]),
        Route("/v1/fine_tuning/jobs/{job_id}/resume", pause_or_resume("resume"), methods=["POST"]),
        Route("/v1/fine_tuning/jobs/{job_id}/events", list_events, methods=["GET"]),
        Route("/v1/fine_tuning/jobs/{job_id}/checkpoints", list_checkpoints, methods=["GET"]),
    ]


#: training files larger than this are not counted for ``trained_tokens`` (it stays null)
COUNTED_BYTES = 64 * 1024 * 1024


def estimated_tokens(record: RunRecord, events: list[Any]) -> int | None:
    """Tokens trained on, for backends that do not report them: the data's tokens per epoch
    (the base model's tokenizer where it loads, else an approximation) times the epochs run —
    scaled down to the examples seen when ``max_steps`` stopped early."""
    from tunesdk.estimation.tokens import count_training_tokens

    try:
        job = record.job
        if not isinstance(job.data, str) or Path(job.data).stat().st_size > COUNTED_BYTES:
            return None
        counted = count_training_tokens(job)
    except Exception:  # an estimate must never fail a request
        return None
    steps = max((e.step for e in events if getattr(e, "type", None) == "progress"), default=0)
    if job.max_steps is None or not steps or not counted.examples:
        return counted.training_tokens
    seen = steps * job.batch_size / counted.examples
    return int(min(counted.training_tokens, counted.tokens_per_epoch * seen))


def paths_params(paths: dict[str, str]) -> list[tuple[str, str]]:
    """(file id, param) for the files of a create request, training file first."""
    ids = list(dict.fromkeys(paths.values()))
    return list(zip(ids, ("training_file", "validation_file"), strict=False))


def _record(ctx: ServeContext, run_id: str) -> RunRecord | None:
    from tunesdk.store.ids import is_run_id

    folder = ctx.store.runs_dir / run_id
    if not is_run_id(run_id) or not (folder / "state.json").is_file():
        return None
    return RunRecord(folder)


__all__ = ["facts_for", "facts_from_run", "routes"]
