"""What travels with a Ray job: the run spec and every local file the job names.

The bundle is a folder in the run's own folder (``<run>/ray_bundle``) that becomes the Ray job's
``runtime_env.working_dir``: Ray zips it, uploads it to the cluster's GCS and unpacks it on each
node that runs a piece of the job. It holds

- ``tunesdk_run.json``: the run id, backend, how many training processes, where outputs go;
- ``job.json`` / ``plan.json``: the run's job (as stored: secrets already redacted), its local
  paths rewritten to ``./files/...`` inside the bundle and ``resources.launcher`` set to
  ``local`` (on the cluster the worker is a plain local run);
- ``files/``: the base model folder, data and eval data files (or folders, or a glob's matches)
  and a chat template file — each only when it exists on this disk and is not under one of the
  ``shared_paths`` the cluster sees itself. URIs (``s3://``, ``hf://``) and hub ids are read by
  the cluster.

Ray caps a working_dir at its gRPC message size (512 MiB by default); a job whose local files
are bigger gets a `JobError` before anything is submitted, naming the file and the ways out.
"""

from __future__ import annotations

import glob
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesdk.errors import JobError
from tunesdk.paths import is_remote

if TYPE_CHECKING:
    from tunesdk.job import Job
    from tunesdk.store import RunRecord

BUNDLE_DIR = "ray_bundle"
SPEC_FILE = "tunesdk_run.json"
FILES = "files"
#: Ray's default limit for a runtime_env package (its gRPC message size), in MiB
DEFAULT_MAX_SHIP_MB = 500


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _is_shared(path: Path, shared: list[str]) -> bool:
    return any(path == Path(s) or Path(s) in path.parents for s in shared)


def _data_path(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("path"), str):
        return str(value["path"])
    return None


def local_files(job: Job, shared: list[str]) -> dict[str, list[Path]]:
    """Job field -> the local files or folders to ship for it (globs expanded)."""
    found: dict[str, list[Path]] = {}
    model = job.model_name
    if not is_remote(model) and Path(model).expanduser().is_dir():
        found["model"] = [Path(model).expanduser()]
    for key in ("data", "eval_data"):
        value = _data_path(getattr(job, key))
        if value is None or is_remote(value):
            continue
        if glob.has_magic(value):
            matches = [Path(m) for m in sorted(glob.glob(value, recursive=True))]
            if matches:
                found[key] = matches
        elif Path(value).exists():
            found[key] = [Path(value)]
    template = job.chat_template
    if template and "\n" not in template and "{" not in template and Path(template).is_file():
        found["chat_template"] = [Path(template)]
    return {k: v for k, v in found.items() if not all(_is_shared(p, shared) for p in v)}


def check_shippable(job: Job, shared: list[str], max_mb: float) -> None:
    """JobError when the local files the job names exceed what a Ray working_dir can carry."""
    total = 0
    for key, paths in local_files(job, shared).items():
        size = sum(_size(p) for p in paths)
        total += size
        if total > max_mb * 2**20:
            raise JobError(
                f"{key} ({paths[0]}{' ...' if len(paths) > 1 else ''}, {size / 2**20:.0f} MiB) "
                f"exists only on this disk and the files to ship come to more than {max_mb:.0f} "
                "MiB, what a Ray job's working_dir can carry",
                where=f"job.{key}",
                fix="put it where the cluster reads it itself — a URI (s3://, gs://, hf://), a hub "
                "id for models, or a shared folder named in launcher_options.ray.shared_paths",
            )


def stage(run: RunRecord, spec: dict[str, Any], shared: list[str]) -> Path:
    """Write the bundle for ``run`` (see the module docstring) and return its folder."""
    bundle = run.dir / BUNDLE_DIR
    if bundle.exists():
        shutil.rmtree(bundle)
    (bundle / FILES).mkdir(parents=True)
    job = run.job
    stored = json.loads((run.dir / "job.json").read_text("utf-8"))
    original = {"model": job.model_name}
    for key, paths in local_files(job, shared).items():
        target = bundle / FILES / key
        target.mkdir()
        for path in paths:
            if path.is_dir():
                shutil.copytree(path, target / path.name, symlinks=False)
            else:
                shutil.copy2(path, target / path.name)
        relative = f"./{FILES}/{key}/"
        if key == "model":
            shipped = relative + paths[0].name
            if isinstance(stored.get("model"), dict):
                stored["model"]["name"] = shipped
                stored["model"]["ids"] = {
                    name: shipped if value == job.model_name else value
                    for name, value in stored["model"].get("ids", {}).items()
                }
            else:
                stored["model"] = shipped
        elif key in ("data", "eval_data"):
            value = getattr(job, key)
            raw = _data_path(value) or ""
            shipped = relative + (Path(raw).name if glob.has_magic(raw) else paths[0].name)
            stored[key] = {**value, "path": shipped} if isinstance(value, dict) else shipped
        else:
            stored[key] = relative + paths[0].name
    resources = stored.setdefault("resources", {})
    resources["launcher"] = "local"
    stored.pop("launcher_options", None)
    stored["output_dir"] = spec["output_dir"]
    (bundle / "job.json").write_text(json.dumps(stored, indent=2), encoding="utf-8")
    shutil.copy2(run.dir / "plan.json", bundle / "plan.json")
    full = {**spec, "original": original}
    (bundle / SPEC_FILE).write_text(json.dumps(full, indent=2), encoding="utf-8")
    return bundle


__all__ = [
    "BUNDLE_DIR",
    "DEFAULT_MAX_SHIP_MB",
    "SPEC_FILE",
    "check_shippable",
    "local_files",
    "stage",
]
