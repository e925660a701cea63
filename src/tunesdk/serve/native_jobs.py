"""A tunesdk Job from a native API request body, and tunesdk's errors as the API's 400s.

The body of ``POST /tunesdk/v1/runs``, ``/plan`` and ``/estimate`` is ``{"job": {...}, "backend":
"..."}``: the job in the same schema as a job YAML file (`tunesdk.Job.from_dict`), the backend
defaulting to the server's. A bad field is a 400 whose ``param`` names it (``job.learning_rate``),
like OpenAI's API.

A server with API keys serves clients on other machines, so their jobs may not name anything on
the server's disk or run the server's code: ``data``/``eval_data`` must be records given inline (a
list of objects) or an uploaded file's id (``file-...``, from ``files.create``); ``output_dir``,
``chat_template`` files, local model folders and ``module:function`` rewards are refused. A
loopback server without keys belongs to the user running it, who may name local paths.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesdk.errors import (
    BackendUnavailable,
    DataError,
    JobError,
    TuneError,
    UnknownBackend,
    UnsupportedOption,
)
from tunesdk.serve.errors import ServeError, bad_request

if TYPE_CHECKING:
    from tunesdk.job import Job
    from tunesdk.serve.context import ServeContext

#: job fields that name a file or folder on the server
_PATH_FIELDS = ("output_dir", "chat_template")


def backend_of(body: dict[str, Any], ctx: ServeContext) -> str:
    """``body["backend"]``, or the server's default backend."""
    backend = body.get("backend", ctx.config.default_backend)
    if not isinstance(backend, str) or not backend.strip():
        raise bad_request("backend must be a backend name, e.g. 'trl'", param="backend")
    return backend.strip()


def job_of(body: dict[str, Any], ctx: ServeContext, owner: str) -> Job:
    """The Job in ``body["job"]`` (400 naming the field on any problem)."""
    from tunesdk.job import Job

    data = body.get("job")
    if not isinstance(data, dict):
        raise bad_request(
            "job must be an object with the job's fields (the schema of a job YAML file), e.g."
            ' {"job": {"model": "Qwen/Qwen2.5-0.5B-Instruct", "data": [...]}}',
            param="job",
        )
    data = dict(data)
    if ctx.config.authenticated:
        _refuse_server_paths(data)
        _refuse_elsewhere(data)
        if not ctx.config.allow_backend_options:
            _refuse_engine_config(data)
    if not ctx.config.allow_python_graders:
        _refuse_python_rewards(data)
    for role in ("data", "eval_data"):
        value = data.get(role)
        if isinstance(value, str) and value.startswith("file-"):
            data[role] = str(_uploaded_file(ctx, owner, value, f"job.{role}"))
    try:
        return Job.from_dict(data, where="job")
    except TuneError as exc:
        raise as_bad_request(exc) from None


def _refuse_server_paths(data: dict[str, Any]) -> None:
    for role in ("data", "eval_data"):
        value = data.get(role)
        inline = value is None or isinstance(value, list)
        if not inline and not (isinstance(value, str) and value.startswith("file-")):
            raise bad_request(
                f"{role} must be records inline (a list of objects) or an uploaded file's id: a"
                " server with API keys reads no path (or other source) on its own disk; upload"
                " the file with files.create (purpose fine-tune) and pass its id (file-...)",
                param=f"job.{role}",
            )
    for name in _PATH_FIELDS:
        if data.get(name) not in (None, ""):
            raise bad_request(
                f"{name} names a path on the server, which a server with API keys does not"
                " accept: leave it out (outputs go to the run folder)",
                param=f"job.{name}",
            )
    model = data.get("model")
    names: list[object] = [model] if isinstance(model, str) else []
    if isinstance(model, dict):  # a ModelRef: its name and per-backend ids
        names = [model.get("name"), *(model.get("ids") or {}).values()]
    if any(_local_path(name) for name in names):
        raise bad_request(
            "model names a folder on the server, which a server with API keys does not read:"
            " use a model id (a Hugging Face id, or a provider's model)",
            param="job.model",
        )
    for reward in data.get("rewards") or []:
        if isinstance(reward, str):
            raise bad_request(
                f"rewards entry {reward[:60]!r} names server code ('module:function'), which a"
                " server with API keys does not run: use a grader object (tunesdk.graders)",
                param="job.rewards",
            )


#: backend option names that point the server's provider key or code somewhere else
_CONNECTION_WORDS = (
    "url",
    "endpoint",
    "host",
    "address",
    "key",
    "token",
    "secret",
    "credential",
    "account",
    "organization",
    "project",
    "path",
    "dir",
    "file",
    "command",
    "env",
    "proxy",
)


def _refuse_elsewhere(data: dict[str, Any]) -> None:
    """Options that would send the server's provider key (or the job) to a host the client
    names, or run it on a cluster: ``backend_options.<b>.base_url`` and its kin, and every
    ``launcher_options``. The server's own environment decides where jobs go."""
    options = data.get("backend_options")
    if isinstance(options, dict):
        for backend, settings in options.items():
            for name in settings if isinstance(settings, dict) else ():
                lowered = str(name).lower()
                if any(word in lowered for word in _CONNECTION_WORDS):
                    raise bad_request(
                        f"backend_options.{str(backend)[:40]}.{str(name)[:40]} says where the"
                        " backend connects or what it reads, which a server with API keys does"
                        " not let a client choose (its provider keys would go there): leave it"
                        " out; the server's environment sets it",
                        param=f"job.backend_options.{str(backend)[:40]}.{str(name)[:40]}",
                    )
    if data.get("launcher_options"):
        raise bad_request(
            "launcher_options choose where a job runs (a Ray cluster's address, a SkyPilot"
            " cloud), which a server with API keys does not let a client choose: leave it out",
            param="job.launcher_options",
        )


#: backends whose options configure nothing real (the simulated backend runs no code)
_HARMLESS_OPTIONS = frozenset({"simulated"})


def _refuse_engine_config(data: dict[str, Any]) -> None:
    """A real backend's options go to its engine unchanged (an Axolotl config's
    ``trust_remote_code`` or ``plugins``, accelerate's config, file paths): with keys they are
    the server's to set, unless it runs with ``--allow-backend-options``."""
    options = data.get("backend_options")
    for backend, settings in options.items() if isinstance(options, dict) else ():
        if backend not in _HARMLESS_OPTIONS and settings:
            raise bad_request(
                f"backend_options.{str(backend)[:40]} configures the engine on the server (passed"
                " through unchanged), which this server does not let clients do: use the job's"
                " own fields, or start the server with --allow-backend-options if every key"
                " holder may configure it",
                param=f"job.backend_options.{str(backend)[:40]}",
            )


def _refuse_python_rewards(data: dict[str, Any]) -> None:
    from tunesdk.serve.job_mapping import _has_python

    rewards = data.get("rewards")
    if isinstance(rewards, list) and any(_has_python(reward) for reward in rewards):
        raise bad_request(
            "Python graders are refused by this server: their code would run on the server's"
            " machine. Use string_check, text_similarity, score_model or multi graders, or start"
            " the server with --allow-python-graders if every client may run code there.",
            param="job.rewards",
            code="invalid_grader",
        )


def _local_path(name: object) -> bool:
    return isinstance(name, str) and (name.startswith(("/", ".", "~")) or os.path.isdir(name))


def _uploaded_file(ctx: ServeContext, owner: str, file_id: str, param: str) -> Path:
    """Where the bytes of ``file_id`` are, when ``owner`` uploaded it (400 otherwise)."""
    path = ctx.files.path(file_id) if ctx.ownership.owner_of("file", file_id) == owner else None
    if path is None or not path.is_file():
        raise bad_request(f"No such file: {file_id}", param=param)
    return path


def as_bad_request(exc: TuneError) -> ServeError:
    """A 400 for a tunesdk error about the request, ``param`` the field it names."""
    problems = getattr(exc, "problems", None)
    param: str | None = None
    if problems:
        first = problems[0][0]
        param = f"job.{first}" if first else "job"
    elif isinstance(exc, UnknownBackend | BackendUnavailable):
        param = "backend"
    elif exc.where:
        param = _param_from_where(exc.where)
    if isinstance(exc, DataError) and param in (None, "job"):
        param = "job.data"  # the data's problems (the report names each file and line)
    message = exc.message if exc.fix is None else f"{exc.message} (fix: {exc.fix})"
    code = {
        UnknownBackend: "unknown_backend",
        BackendUnavailable: "backend_unavailable",
        UnsupportedOption: "unsupported_option",
        DataError: "invalid_data",
        JobError: "invalid_job",
    }
    return bad_request(message, param=param, code=_code(exc, code))


def _code(exc: TuneError, codes: dict[type, str]) -> str | None:
    for kind, code in codes.items():
        if isinstance(exc, kind):
            return code
    return None


def _param_from_where(where: str) -> str | None:
    """``job.learning_rate`` from a ``where`` of ``job.learning_rate``, ``learning_rate`` or a
    file position (``data.jsonl:3``: the data)."""
    where = where.strip()
    if where.startswith("backend"):
        return "backend"
    head = where.removeprefix("job.").removeprefix("job").lstrip(".: ")
    field = head.split(" ")[0].split(":")[0]
    if field.endswith((".jsonl", ".json", ".csv", ".parquet")) or "/" in field:
        return "job.data"  # a position in the data file
    from tunesdk.job import Job

    if field.split(".")[0] in Job.model_fields:
        return f"job.{field}"
    return "job"


__all__ = ["as_bad_request", "backend_of", "job_of"]
