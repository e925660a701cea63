"""The native API under ``/tunesdk/v1``: what OpenAI's shape cannot say (the JSON is documented in
docs/guide/serve.md, "Native API"; the dashboard is its client).

========================================  ====================================================
``GET  /tunesdk/v1/runs``                 the caller's runs, newest first (``status``,
                                          ``backend``, ``limit``, ``after``)
``POST /tunesdk/v1/runs``                 submit ``{"job": {...}, "backend": "..."}``
``GET  /tunesdk/v1/runs/{id}``            one run: status, model, metrics, result, plan
``DELETE /tunesdk/v1/runs/{id}``          delete a run that has ended (``tunesdk rm``)
``POST /tunesdk/v1/runs/{id}/cancel``     ask the run to stop
``GET  /tunesdk/v1/runs/{id}/events``     its events as JSON (``after``, ``limit``); with
                                          ``Accept: text/event-stream`` the live stream
``GET  /tunesdk/v1/runs/{id}/events/stream``  the same, live, as server-sent events (`sse`)
``GET  /v1/fine_tuning/jobs/{id}/events/stream``  the same in OpenAI's event shape
``POST /tunesdk/v1/plan``                 the plan of a job on a backend (pure)
``POST /tunesdk/v1/estimate``             ``job.estimate()``
``GET  /tunesdk/v1/backends``             every backend, usable here or the fix
========================================  ====================================================

Each key sees only the runs it created (404 for others'); on a loopback server without keys the
one local user sees every run of the store, as ``tunesdk runs`` does. JSON routes are plain
functions, which Starlette runs in its thread pool: submitting, reading run folders and asking a
provider never block the event loop.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tunesdk.errors import ProviderError, RunDamaged, RunNotFound, TuneError
from tunesdk.events import TERMINAL_STATUSES, Completed, Failed, summarize
from tunesdk.serve.context import ServeContext
from tunesdk.serve.errors import ServeError, bad_request, not_found
from tunesdk.serve.native_jobs import as_bad_request, backend_of, job_of
from tunesdk.serve.sse import (
    Line,
    as_stored,
    event_stream,
    lines_after,
    resume_point,
    shaped,
)
from tunesdk.store import RunRecord, RunSummary
from tunesdk.store.state import DAMAGED, STATUSES, summarize_folder

PREFIX = "/tunesdk/v1"
RUN_KIND = "run"
#: events per page of ``GET .../events``
EVENTS_DEFAULT, EVENTS_MAX = 1000, 10_000
RUNS_DEFAULT, RUNS_MAX = 20, 100
#: the first window of index rows a filtered listing reads
WINDOW_MIN = 64


def routes(ctx: ServeContext) -> list[BaseRoute]:
    api = NativeAPI(ctx)
    return [
        Route(f"{PREFIX}/runs", api.list_runs, methods=["GET"]),
        Route(f"{PREFIX}/runs", api.create_run, methods=["POST"]),
        Route(f"{PREFIX}/runs/{{run_id}}", api.get_run, methods=["GET"]),
        Route(f"{PREFIX}/runs/{{run_id}}", api.delete_run, methods=["DELETE"]),
        Route(f"{PREFIX}/runs/{{run_id}}/cancel", api.cancel_run, methods=["POST"]),
        Route(f"{PREFIX}/runs/{{run_id}}/events", api.list_events, methods=["GET"]),
        Route(f"{PREFIX}/runs/{{run_id}}/events/stream", api.stream_events, methods=["GET"]),
        Route("/v1/fine_tuning/jobs/{job_id}/events/stream", api.stream_job, methods=["GET"]),
        Route(f"{PREFIX}/plan", api.plan, methods=["POST"]),
        Route(f"{PREFIX}/estimate", api.estimate, methods=["POST"]),
        Route(f"{PREFIX}/backends", api.backends, methods=["GET"]),
    ]


class NativeAPI:
    """The native routes over one `ServeContext`."""

    def __init__(self, ctx: ServeContext) -> None:
        from tunesdk.serve.stream_limit import StreamLimit

        self.ctx = ctx
        self.streams = StreamLimit()

    def _json(self, payload: dict[str, Any], status_code: int = 200) -> Response:
        """``payload`` as JSON, uploaded files' server paths (a job's ``data``, plan rows, the
        data report) replaced by the files' ids, and with keys the server's Python (a plan's
        launch command) as ``python``: a client never learns the server's folders."""
        from tunesdk.serve.job_view import hide_paths

        text = hide_paths(
            json.dumps(payload, ensure_ascii=False, separators=(",", ":")), self.ctx.files_dir
        )
        if self.ctx.config.authenticated:  # a plan's launch command: not where Python lives here
            for python in {sys.executable, os.path.realpath(sys.executable)} - {""}:
                text = text.replace(json.dumps(python)[1:-1], "python")
        return Response(
            text,
            status_code=status_code,
            media_type="application/json",
        )

    # ---- who sees what ------------------------------------------------------------------------

    def _record(self, owner: str, run_id: str) -> RunRecord:
        """The run if ``owner`` may see it: with keys, a run it created; without, any run of the
        store. 404 otherwise, also for an unknown or malformed id."""
        if self.ctx.config.authenticated:
            return self.ctx.run_for(owner, run_id, kind=RUN_KIND)
        from tunesdk.store.ids import is_run_id

        if not is_run_id(run_id):
            raise not_found(RUN_KIND, run_id[:80])
        try:
            return self.ctx.store.get(run_id)  # a damaged run is shown, status "damaged"
        except (RunNotFound, RunDamaged):
            raise not_found(RUN_KIND, run_id) from None

    # ---- runs ---------------------------------------------------------------------------------

    def list_runs(self, request: Request) -> Response:
        owner = self.ctx.owner(request)
        query = request.query_params
        status = query.get("status") or None
        if status is not None and status not in STATUSES | {DAMAGED}:
            raise bad_request(
                f"Unknown status {status[:40]!r}: use one of {', '.join(sorted(STATUSES))}"
                f" or {DAMAGED}",
                param="status",
            )
        backend = query.get("backend") or None
        limit = _int_param(query.get("limit"), "limit", RUNS_DEFAULT, 1, RUNS_MAX)
        after = query.get("after") or None
        rows, has_more = self._page(owner, status, backend, limit, after)
        data = [_summary_json(row) for row in rows]
        return self._json(
            {
                "object": "list",
                "data": data,
                "has_more": has_more,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )

    def _page(
        self, owner: str, status: str | None, backend: str | None, limit: int, after: str | None
    ) -> tuple[list[RunSummary], bool]:
        """One page of ``owner``'s runs, newest first, and whether more follow.

        Unfiltered pages of a key's runs come from the ownership table (a page costs ``limit``
        folder reads however many runs the store holds); filters use the run index."""
        store = self.ctx.store
        if self.ctx.config.authenticated and status is None and backend is None:
            owned = self.ctx.ownership.list(RUN_KIND, owner, limit=limit + 1, after=after)
            rows = []
            for item in owned:
                try:
                    rows.append(summarize_folder(store.runs_dir / item.object_id))
                except RunNotFound:
                    continue  # deleted with `tunesdk rm`
            return rows[:limit], len(rows) > limit
        # Filtered (or a keyless server's whole store): newest matches from the run index in
        # growing windows, the key's own picked out of each window with one query, until the
        # page (after the cursor) is full or the index has no more. A page costs a few small
        # index queries whatever the store's size, unless the key owns few of the matches.
        window = max(WINDOW_MIN, 4 * (limit + 1))
        while True:
            page = store.query(status=status, backend=backend, limit=window)
            found = page.runs
            if self.ctx.config.authenticated:
                ids = [row.run_id for row in found]
                mine = self.ctx.ownership.owned_among(RUN_KIND, owner, ids)
                found = [row for row in found if row.run_id in mine]
            complete = len(page.runs) >= page.total
            if after is not None:
                at = next((i for i, row in enumerate(found) if row.run_id == after), None)
                if at is None and complete:
                    raise bad_request(
                        f"after={after[:80]!r} is not one of your runs (with these filters)",
                        param="after",
                    )
                found = found[at + 1 :] if at is not None else []
                if at is None:
                    window *= 4
                    continue
            if len(found) > limit or complete:
                return found[:limit], len(found) > limit
            window *= 4

    async def create_run(self, request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        from tunesdk.serve.http import json_body

        owner = self.ctx.owner(request)
        body = await json_body(request)
        payload = await run_in_threadpool(self._submit, owner, body)
        return self._json(payload, status_code=201)

    def _submit(self, owner: str, body: dict[str, Any]) -> dict[str, Any]:
        backend = backend_of(body, self.ctx)
        job = job_of(body, self.ctx, owner)
        try:
            run = job.submit(backend)
        except ProviderError as exc:
            raise _provider_refusal(exc) from None
        except TuneError as exc:
            raise as_bad_request(exc) from None
        self.ctx.claim_run(owner, run.run_id)
        return _run_json(run.record)

    def get_run(self, request: Request) -> Response:
        owner = self.ctx.owner(request)
        record = self._record(owner, request.path_params["run_id"])
        return self._json(_run_json(record))

    def delete_run(self, request: Request) -> Response:
        """Delete a run that has ended, outputs included (as ``tunesdk rm``); 409 while live."""
        from tunesdk.errors import RunStillRunning

        owner = self.ctx.owner(request)
        record = self._record(owner, request.path_params["run_id"])
        try:
            self.ctx.store.delete(record.run_id)
        except RunStillRunning as exc:
            raise ServeError(
                409,
                f"Run {record.run_id} is still {exc.status}: cancel it first",
                param="run_id",
                code="run_not_ended",
            ) from None
        except RunNotFound:
            raise not_found(RUN_KIND, record.run_id) from None
        self.ctx.ownership.release("run", record.run_id)
        return self._json({"object": "tunesdk.run.deleted", "id": record.run_id, "deleted": True})

    def cancel_run(self, request: Request) -> Response:
        owner = self.ctx.owner(request)
        record = self._record(owner, request.path_params["run_id"])
        status = _status(record)
        if status == DAMAGED:
            raise ServeError(
                409,
                f"Run {record.run_id} is damaged ({summarize_folder(record.dir).problem}): its"
                " state cannot be read, so it cannot be cancelled here; see `tunesdk logs`",
                param="run_id",
                code="run_damaged",
            )
        if status in TERMINAL_STATUSES:
            raise ServeError(
                409,
                f"Run {record.run_id} has already ended ({status}): nothing to cancel",
                param="run_id",
                code="run_ended",
            )
        try:
            self.ctx.cancel(record.run_id)
        except ProviderError as exc:
            raise _provider_refusal(exc) from None
        return self._json(_run_json(record))

    # ---- events -------------------------------------------------------------------------------

    def list_events(self, request: Request) -> Response:
        if "text/event-stream" in request.headers.get("accept", ""):
            return self.stream_events(request)  # an SSE client asking the plain URL
        owner = self.ctx.owner(request)
        record = self._record(owner, request.path_params["run_id"])
        after = _int_param(request.query_params.get("after"), "after", 0, 0, None)
        limit = _int_param(
            request.query_params.get("limit"), "limit", EVENTS_DEFAULT, 1, EVENTS_MAX
        )
        lines = lines_after(record.events_path, after, limit + 1)
        page = lines[:limit]
        return self._json(
            {
                "object": "list",
                "data": [line.data for line in page],  # each event as the log holds it
                "has_more": len(lines) > limit,
                "last_seq": page[-1].seq if page else after,
                "status": _status(record),
            }
        )

    def stream_events(self, request: Request) -> Response:
        owner = self.ctx.owner(request)
        record = self._record(owner, request.path_params["run_id"])
        after = resume_point(request)
        self.streams.admit(owner)
        self._follow(record)
        from tunesdk.serve.job_view import hide_paths

        files_dir = self.ctx.files_dir

        def render(line: Line) -> bytes:  # the stored event, uploaded files' paths as their ids
            return hide_paths(as_stored(line).decode(), files_dir).encode()

        return self.streams.counted(owner, event_stream(record, after, render))

    def stream_job(self, request: Request) -> Response:
        owner = self.ctx.owner(request)
        # the job id is the run id (tunesdk.serve.job_view), and the event shape is the one
        # fine_tuning.jobs.list_events answers with
        from tunesdk.serve.job_view import event_object

        record = self.ctx.run_for(owner, request.path_params["job_id"], kind="fine-tuning job")
        after = resume_point(request)
        self.streams.admit(owner)
        self._follow(record)
        files_dir = self.ctx.files_dir
        stream = event_stream(record, after, shaped(lambda event: event_object(event, files_dir)))
        return self.streams.counted(owner, stream)

    def _follow(self, record: RunRecord) -> None:
        """Make sure someone polls the run's backend while clients watch it (a run submitted
        by `tunesdk run` in a process that has since exited, say). A no-op when followed."""
        try:
            ended = record.terminal
        except RunDamaged:
            return  # nothing to follow: the stream sends what the log holds
        if self.ctx.supervisor is not None and not ended:
            self.ctx.supervisor.watch(record.run_id)

    # ---- plan, estimate, backends -------------------------------------------------------------

    async def plan(self, request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        from tunesdk.serve.http import json_body

        owner = self.ctx.owner(request)
        body = await json_body(request)
        return self._json(await run_in_threadpool(self._plan, owner, body))

    def _plan(self, owner: str, body: dict[str, Any]) -> dict[str, Any]:
        backend = backend_of(body, self.ctx)
        job = job_of(body, self.ctx, owner)
        try:
            plan = job.plan(backend)
        except TuneError as exc:
            raise as_bad_request(exc) from None
        return {
            "object": "tunesdk.plan",
            **plan.model_dump(mode="json"),
            "native_text": plan.native_text(),
            "warnings": plan.warnings(),
        }

    async def estimate(self, request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        from tunesdk.serve.http import json_body

        owner = self.ctx.owner(request)
        body = await json_body(request)
        return self._json(await run_in_threadpool(self._estimate, owner, body))

    def _estimate(self, owner: str, body: dict[str, Any]) -> dict[str, Any]:
        job = job_of(body, self.ctx, owner)
        params = body.get("params")
        if params is not None and not isinstance(params, str | int):
            raise bad_request(
                "params must be a model size such as '7B' or 7000000000", param="params"
            )
        try:
            # the server's own price table (clients may not point it at files on the server)
            estimate = job.estimate(params=params)
        except TuneError as exc:
            raise as_bad_request(exc) from None
        return {"object": "tunesdk.estimate", **estimate.model_dump(mode="json")}

    def backends(self, request: Request) -> Response:
        from tunesdk.registry import backends

        self.ctx.owner(request)
        data = [
            {"object": "tunesdk.backend", **info.model_dump(mode="json")} for info in backends()
        ]
        return self._json(
            {"object": "list", "data": data, "default": self.ctx.config.default_backend}
        )


# ---- JSON shapes ----------------------------------------------------------------------------


def _summary_json(row: RunSummary) -> dict[str, Any]:
    """One row of the run list (what the dashboard's table shows)."""
    return {
        "object": "tunesdk.run",
        "id": row.run_id,
        "status": row.status,
        "backend": row.backend,
        "model": _model_name(row.dir),
        "created_at": row.created_at,
        "created": _unix(row.created_at),
        "updated_at": row.updated_at,
        "problem": row.problem,
    }


def _run_json(record: RunRecord) -> dict[str, Any]:
    """One run in full: the list row plus objective, method, metrics, result, error, the job as
    stored (secrets redacted) and the plan (native request and one row per option)."""
    summary = summarize_folder(record.dir)
    events = record.events(strict=False)
    final = next((event for event in reversed(events) if event.terminal), None)
    metrics = final.metrics if isinstance(final, Completed) and final.metrics else None
    try:
        plan: dict[str, Any] | None = record.plan.model_dump(mode="json")
    except RunDamaged:
        plan = None
    job = _read_json(record.dir / "job.json")
    status = summary.status if summary.damaged else _status(record)
    result = None
    if isinstance(final, Completed):
        result = {"model": final.model.to_uri(), "handle": final.model.model_dump(mode="json")}
    return {
        **_summary_json(summary),
        "status": status,
        "objective": (plan or {}).get("objective"),
        "method": _method_of(record),
        "last_seq": events[-1].seq if events else 0,
        "metrics": metrics or summarize(events),
        "result": result,
        "error": final.error if isinstance(final, Failed) else None,
        "cancel_requested": bool(_state_flag(record, "cancel_requested")),
        "job": job,
        "plan": plan,
    }


def _status(record: RunRecord) -> str:
    """The run's status, ``"damaged"`` when its state cannot be read."""
    try:
        return record.status
    except RunDamaged:
        return DAMAGED


def _method_of(record: RunRecord) -> str | None:
    try:
        return str(record.job.method.kind)
    except RunDamaged:
        return None


def _model_name(folder: Any) -> str | None:
    job = _read_json(folder / "job.json")
    model = (job or {}).get("model")
    if isinstance(model, dict):
        return str(model.get("name")) if model.get("name") else None
    return model if isinstance(model, str) else None


def _read_json(path: Any) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _state_flag(record: RunRecord, key: str) -> Any:
    data = _read_json(record.dir / "state.json") or {}
    return data.get(key)


def _unix(stamp: str | None) -> int | None:
    if not stamp:
        return None
    try:
        return int(datetime.fromisoformat(stamp).timestamp())
    except ValueError:
        return None


def _int_param(raw: str | None, name: str, default: int, low: int, high: int | None) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < low or (high is not None and int(raw) > high):
        bound = f"between {low} and {high}" if high is not None else f"of at least {low}"
        raise bad_request(f"Invalid {name} {raw[:40]!r}: use a whole number {bound}", param=name)
    return int(raw)


def _provider_refusal(exc: ProviderError) -> ServeError:
    """A provider's refusal, passed on without the server's credentials: 400 for a request the
    provider rejected, 502 for a provider that failed or refused the server's key."""
    from tunesdk.errors import InvalidRequest, ModelNotFound

    if isinstance(exc, InvalidRequest | ModelNotFound):
        return as_bad_request(exc)
    return ServeError(
        502,
        f"The backend's provider refused or failed the request: {exc.message}",
        code="provider_error",
    )


__all__ = ["PREFIX", "NativeAPI", "routes"]
