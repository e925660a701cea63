"""Local paths in a job, resolved once, and base models that must be loadable before training.

A job names local things by path: the base model (a folder), ``data`` / ``eval_data`` (files,
folders, globs, or ``{path: ..., columns: ...}`` mappings), ``output_dir`` and a ``chat_template``
file. ``resolve_job_paths`` makes every one of them absolute against one folder — the job file's
folder for YAML, the current directory for Python — so a run, its artifacts and ``tunesdk resume``
mean the same files from any directory.

``require_model`` answers, in milliseconds, whether a base model can be loaded here: a local
folder, a snapshot in the Hugging Face cache, or a hub id while the hub is reachable. Offline
(``HF_HUB_OFFLINE=1``, or the hub's host cannot be reached) a name that is neither fails at once,
naming what was tried, instead of transformers retrying the network for a minute.
"""

from __future__ import annotations

import glob
import os
import re
import socket
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from tunesdk.errors import JobError

if TYPE_CHECKING:
    from tunesdk.job import Job

#: ``name`` or ``org/name``, the shape of a Hugging Face repo id
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_TRUE = ("1", "true", "yes", "on")
#: seconds the reachability probe waits for the hub's host
PROBE_TIMEOUT_S = 2.0
#: chat template files are recognised by these suffixes even before they exist
TEMPLATE_SUFFIXES = (".jinja", ".jinja2", ".j2")


# ---- resolving ----------------------------------------------------------------------------------


def is_remote(value: str) -> bool:
    """A URL (``s3://``, ``https://``, ``hf://``...), never resolved against a folder."""
    return "://" in value


def looks_like_path(value: str) -> bool:
    """Written as a path: absolute, ``./``/``../``/``~``, or more slashes than ``org/name``."""
    return (
        value.startswith(("/", "./", "../", "~", ".\\", "..\\"))
        or value in (".", "..")
        or value.count("/") > 1
        or "\\" in value
    )


def absolute(value: str | Path, base: Path) -> Path:
    """``value`` (``~`` expanded) joined to ``base`` when relative, normalised, links kept."""
    path = Path(value).expanduser()
    return Path(os.path.abspath(path if path.is_absolute() else base / path))


def _candidates(value: str, base: Path) -> list[Path]:
    """Where a relative ``value`` may be: ``base`` first, then the current directory."""
    first = absolute(value, base)
    cwd = absolute(value, Path.cwd())
    return [first] if cwd == first else [first, cwd]


def resolve_data_path(value: str, base: Path) -> str:
    """A data path made absolute: the first existing candidate (or glob with matches), else the
    path under ``base`` (so an error names the full path that was tried)."""
    if is_remote(value):
        return value
    candidates = _candidates(value, base)
    pattern = glob.has_magic(value)
    for candidate in candidates:
        if candidate.exists() or (pattern and glob.glob(str(candidate), recursive=True)):
            return str(candidate)
    return str(candidates[0])


def resolve_data_source(value: Any, base: Path) -> Any:
    """``data`` / ``eval_data`` with a path (or a mapping's ``path``) made absolute."""
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        return resolve_data_path(value, base)
    if isinstance(value, Mapping) and isinstance(value.get("path"), str | Path):
        return {**value, "path": resolve_data_path(str(value["path"]), base)}
    return value


def resolve_model_name(name: str, base: Path) -> str:
    """A local model folder made absolute; a hub or provider id (nothing of that name on disk)
    unchanged. A name written as a path (``./m``, ``~/m``) that does not exist is made absolute
    too, so the error that follows names the full path."""
    if is_remote(name):
        return name
    candidates = _candidates(name, base)
    for candidate in candidates:
        if candidate.is_dir():
            return str(candidate)
    if name.startswith(("./", "../", "~", ".\\", "..\\")) or name in (".", ".."):
        return str(candidates[0])
    return name


def resolve_chat_template(value: str, base: Path) -> str:
    """A chat template given as a file path made absolute; Jinja text unchanged."""
    if "\n" in value or "{" in value or is_remote(value):
        return value
    for candidate in _candidates(value, base):
        if candidate.is_file():
            return str(candidate)
    if value.lower().endswith(TEMPLATE_SUFFIXES):
        raise JobError(
            f"no chat template file at {value!r} (tried "
            f"{', '.join(str(c) for c in _candidates(value, base))})",
            where="job.chat_template",
            fix="check the path, or give the Jinja template text itself",
        )
    return value


def chat_template_text(value: str | None) -> str | None:
    """The Jinja text of a job's ``chat_template``: the file's content when it names a file
    (an absolute path, as ``resolve_job_paths`` leaves it, or one ending in .jinja/.j2)."""
    if value is None or "\n" in value or "{" in value:
        return value
    path = Path(value).expanduser()
    if (path.is_absolute() or value.lower().endswith(TEMPLATE_SUFFIXES)) and path.is_file():
        return path.read_text(encoding="utf-8")
    return value


def resolve_job_paths(job: Job, base_dir: str | Path | None = None) -> Job:
    """A copy of ``job`` whose local paths are absolute against ``base_dir`` (default: cwd).

    Idempotent: absolute paths, hub ids, URLs and in-memory data pass unchanged.
    """
    from tunesdk.job import ModelRef

    base = absolute(base_dir if base_dir is not None else ".", Path.cwd())
    update: dict[str, Any] = {}
    model = job.model
    if isinstance(model, ModelRef):
        name = resolve_model_name(model.name, base)
        ids = {key: resolve_model_name(value, base) for key, value in model.ids.items()}
        if name != model.name or ids != model.ids:
            update["model"] = model.model_copy(update={"name": name, "ids": ids})
    else:
        name = resolve_model_name(model, base)
        if name != model:
            update["model"] = name
    for key in ("data", "eval_data"):
        value = getattr(job, key)
        resolved = resolve_data_source(value, base)
        if resolved is not value and resolved != value:
            update[key] = resolved
    if job.output_dir and not is_remote(job.output_dir):
        resolved_dir = str(absolute(job.output_dir, base))
        if resolved_dir != job.output_dir:
            update["output_dir"] = resolved_dir
    if job.chat_template:
        template = resolve_chat_template(job.chat_template, base)
        if template != job.chat_template:
            update["chat_template"] = template
    if not update:
        return job
    fields_set = set(job.model_fields_set)
    copy = job.model_copy(update=update)
    object.__setattr__(copy, "__pydantic_fields_set__", fields_set)  # resolving sets nothing
    return copy


# ---- is the base model loadable? ----------------------------------------------------------------


def hub_offline() -> bool:
    """True when the user turned the hub off (``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``)."""
    return any(
        os.environ.get(name, "").strip().lower() in _TRUE
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache folder, following huggingface_hub's environment variables."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(name):
            return Path(os.environ[name]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return root / "huggingface" / "hub"


def cached_snapshot(repo_id: str) -> Path | None:
    """A snapshot of model ``repo_id`` in the hub cache holding a config.json, if any."""
    snapshots = hub_cache_dir() / f"models--{repo_id.replace('/', '--')}" / "snapshots"
    if not snapshots.is_dir():
        return None
    for snapshot in sorted(snapshots.iterdir()):
        if (snapshot / "config.json").exists():
            return snapshot
    return None


def _hub_host() -> tuple[str, int]:
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    url = urlparse(proxy or os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    return url.hostname or "huggingface.co", url.port or (443 if url.scheme != "http" else 80)


@lru_cache(maxsize=4)
def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def hub_reachable() -> bool:
    """Whether the hub (or the HTTPS proxy) accepts a TCP connection; probed once per process."""
    return not hub_offline() and _reachable(*_hub_host())


def require_model(name: str, *, where: str = "job.model") -> None:
    """JobError, at once, when base model ``name`` cannot be loaded here.

    Fine: an existing local folder, a hub id cached locally, or a hub id while the hub is
    reachable (whether the repo exists is then the hub's answer).
    """
    path = Path(name).expanduser()
    if path.is_dir():
        return
    tried = [f"the folder {absolute(name, Path.cwd())}"]
    if looks_like_path(name) or not _HUB_ID.match(name):
        raise JobError(
            f"no model folder at {name!r} (tried {tried[0]})",
            where=where,
            fix="give the path of a folder written by save_pretrained(), or a Hugging Face id",
        )
    if cached_snapshot(name) is not None:
        return
    tried.append(f"the Hugging Face cache {hub_cache_dir()}")
    if hub_offline():
        reason = "the hub is switched off (HF_HUB_OFFLINE)"
    elif not hub_reachable():
        host, port = _hub_host()
        reason = f"the hub cannot be reached ({host}:{port} does not answer)"
    else:
        return
    raise JobError(
        f"model {name!r} is neither a local folder nor in the Hugging Face cache, and "
        f"{reason}; tried {' and '.join(tried)}",
        where=where,
        fix="give the path of a local model folder (relative paths in a job file resolve "
        "against its folder), or download it first with `hf download "
        f"{name}` while online",
    )


__all__ = [
    "cached_snapshot",
    "chat_template_text",
    "hub_cache_dir",
    "hub_offline",
    "hub_reachable",
    "looks_like_path",
    "require_model",
    "resolve_data_source",
    "resolve_job_paths",
    "resolve_model_name",
]
