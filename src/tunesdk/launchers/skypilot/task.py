"""A tunesdk Job as a SkyPilot task (the dict form of a task YAML). Pure: no network, no SkyPilot.

The task runs tunesdk's own worker on the cluster, so ``sky jobs launch task.yaml`` needs no
tunesdk on the launching side:

- ``resources``: ``accelerators`` (``resources.accelerators``, e.g. ``H100:8``, the count taken
  from ``resources.gpus`` when only a type is given), ``infra`` (``resources.cloud``),
  ``use_spot`` (``resources.spot``) and ``job_recovery`` (the managed job's recovery strategy),
  plus any ``launcher_options.skypilot.resources`` keys (``disk_size``, ``region``, ...).
- ``num_nodes``: ``resources.nodes``. Every node runs the same command; tunesdk's node script
  turns SkyPilot's ``SKYPILOT_NODE_RANK`` / ``SKYPILOT_NODE_IPS`` / ``SKYPILOT_NUM_NODES`` /
  ``SKYPILOT_NUM_GPUS_PER_NODE`` into the torchrun (``accelerate launch``) rendezvous.
- ``file_mounts``: each local data file (or folder) and a local model folder, shipped by
  SkyPilot at launch; bucket data (``s3://``, ``gs://``, ...) copied from the bucket; and the
  outputs bucket (``launcher_options.skypilot.outputs``) mounted at ``~/tunesdk/outputs``, where
  checkpoints and the model are written (so a recovered spot job resumes, and the model outlives
  the cluster, which a managed job tears down).
- ``setup``: ``pip install`` of tunesdk and the backend at the versions installed here.
- ``run``: writes the job (JSON, data paths rewritten to the mounts) and starts
  ``python -m tunesdk.launchers.skypilot.node``, which runs ``python -m tunesdk.worker`` and
  echoes its events into the job log, where the launcher reads them back.
- ``envs`` hold no secrets; a Hugging Face token goes through SkyPilot's ``secrets``
  (``HF_TOKEN: null``, given at launch with ``--secret HF_TOKEN``), never into the file.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from tunesdk.errors import JobError

if TYPE_CHECKING:
    from tunesdk.job import Job

#: where things live on each node (``~`` is the node's home)
REMOTE_ROOT = "~/tunesdk"
REMOTE_DATA = f"{REMOTE_ROOT}/inputs"
REMOTE_MODEL = f"{REMOTE_ROOT}/model"
REMOTE_OUTPUTS = f"{REMOTE_ROOT}/outputs"
REMOTE_JOB = f"{REMOTE_ROOT}/job.json"
#: the heredoc delimiter the job JSON is written with
JOB_EOF = "TUNESDK_JOB_EOF"
#: schemes SkyPilot mounts or copies from object storage
BUCKET_SCHEMES = ("s3", "gs", "gcs", "r2", "cos", "oci", "az", "azure", "nebius", "cw")
#: the managed job's recovery strategies (``resources.job_recovery.strategy``)
RECOVERY_STRATEGIES = ("EAGER_NEXT_REGION", "FAILOVER")
#: how the outputs bucket is mounted; MOUNT_CACHED writes checkpoints at disk speed and
#: uploads them in the background (SkyPilot's advice for checkpoints)
OUTPUT_MODES = ("MOUNT_CACHED", "MOUNT")
#: in-memory data inlined into the task's run script up to this size; more must be a file
INLINE_LIMIT = 256 * 1024
#: secrets passed by default when set here (values go through SkyPilot, never the file)
DEFAULT_SECRETS = ("HF_TOKEN",)

#: ``launcher_options.skypilot`` keys -> what each does
OPTION_KEYS: dict[str, str] = {
    "outputs": "bucket URI (s3://bucket/prefix) mounted at ~/tunesdk/outputs for checkpoints "
    "and the model; required to launch (a managed job's cluster is torn down at the end)",
    "outputs_local": "where this machine sees the outputs bucket (a mount of it, e.g. with "
    "mountpoint-s3 or gcsfuse): model handles and checkpoints then name local files",
    "outputs_mode": "how the outputs bucket is mounted: MOUNT_CACHED (default) or MOUNT",
    "name": "the managed job's name (default: tunesdk-<run id>)",
    "recovery": "managed-job recovery strategy: EAGER_NEXT_REGION (default) or FAILOVER",
    "max_restarts_on_errors": "restarts after a failure of the training itself (default 0)",
    "resources": "more SkyPilot resources keys (disk_size, region, zone, cpus, memory, "
    "image_id, ...), merged into the task's resources",
    "install": "pip specs installed by setup instead of tunesdk and the backend at this "
    "machine's versions (a wheel, a git URL, an index)",
    "python": "the interpreter on the nodes (default: python)",
    "secrets": "names of environment variables passed as SkyPilot secrets (default: HF_TOKEN "
    "when it is set here)",
    "envs": "extra environment variables for the nodes (no secrets: use `secrets`)",
    "check_accelerators": "false: skip the check that SkyPilot knows the accelerator type "
    "(a Kubernetes cluster with its own GPU labels)",
}


class Script(str):
    """A shell script in the task: written as a YAML literal block (``|``), as people write
    SkyPilot tasks by hand."""


def _script_block(dumper: yaml.SafeDumper, value: Script) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style="|")


yaml.SafeDumper.add_representer(Script, _script_block)


def skypilot_options(job: Job) -> dict[str, Any]:
    """``job.launcher_options["skypilot"]``, each key checked against `OPTION_KEYS`."""
    options = dict(job.launcher_options.get("skypilot", {}))
    for key in options:
        if key not in OPTION_KEYS:
            import difflib

            close = difflib.get_close_matches(key, list(OPTION_KEYS), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise JobError(
                f"unknown skypilot launcher option {key!r}",
                where=f"launcher_options.skypilot.{key}",
                fix=f"{hint}known options: {', '.join(sorted(OPTION_KEYS))}",
            )
    return options


# ---- resources ----------------------------------------------------------------------------------


def accelerators(job: Job) -> tuple[str, int] | None:
    """(type, count per node) from ``resources.accelerators`` (``"H100:8"``, ``"H100"``) and
    ``resources.gpus``; None for a CPU-only task. JobError when they disagree or the type is
    missing."""
    given = job.resources.accelerators
    gpus = job.resources.gpus
    if given is None:
        if gpus:
            raise JobError(
                f"resources.gpus={gpus} does not say which GPU SkyPilot should provision",
                where="resources.accelerators",
                fix=f'set resources.accelerators, e.g. "H100:{gpus}" or "A100-80GB:{gpus}" '
                "(see `sky show-gpus`)",
            )
        return None
    name, _, count_text = given.strip().partition(":")
    name = name.strip()
    if not name or (count_text and not re.fullmatch(r"\s*\d+\s*", count_text)):
        raise JobError(
            f"resources.accelerators={given!r} is not TYPE or TYPE:COUNT",
            where="resources.accelerators",
            fix='write it as SkyPilot does, e.g. "H100:8" or "L4"',
        )
    count = int(count_text) if count_text else (gpus or 1)
    if count < 1:
        raise JobError(
            f"resources.accelerators={given!r} asks for no accelerator",
            where="resources.accelerators",
            fix='use a count of at least 1, e.g. "H100:1"',
        )
    if gpus is not None and gpus != count:
        raise JobError(
            f"resources.accelerators={given!r} and resources.gpus={gpus} disagree",
            where="resources.gpus",
            fix=f"drop resources.gpus or set it to {count}",
        )
    processes = job.resources.processes
    if processes > 1 and processes != count:
        raise JobError(
            f"resources.processes={processes} but resources.accelerators={given!r}: each node "
            "trains with one process per accelerator",
            where="resources.processes",
            fix=f"drop resources.processes (it follows the accelerators) or set it to {count}",
        )
    return name, count


def job_recovery(job: Job, options: Mapping[str, Any]) -> dict[str, Any]:
    """``resources.job_recovery``: the strategy and the restarts after training failures."""
    strategy = str(options.get("recovery", "EAGER_NEXT_REGION")).upper()
    if strategy not in RECOVERY_STRATEGIES:
        raise JobError(
            f"unknown SkyPilot recovery strategy {options.get('recovery')!r}",
            where="launcher_options.skypilot.recovery",
            fix=f"use one of {', '.join(RECOVERY_STRATEGIES)}",
        )
    restarts = options.get("max_restarts_on_errors", 0)
    if not isinstance(restarts, int) or isinstance(restarts, bool) or restarts < 0:
        raise JobError(
            f"max_restarts_on_errors must be a whole number ≥ 0, not {restarts!r}",
            where="launcher_options.skypilot.max_restarts_on_errors",
            fix="use 0 (fail on the first training error) or a small number such as 2",
        )
    return {"strategy": strategy, "max_restarts_on_errors": restarts}


def task_resources(job: Job, options: Mapping[str, Any]) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    found = accelerators(job)
    if found is not None:
        resources["accelerators"] = f"{found[0]}:{found[1]}"
    if job.resources.cloud:
        resources["infra"] = job.resources.cloud
    if job.resources.spot:
        resources["use_spot"] = True
    resources["job_recovery"] = job_recovery(job, options)
    extra = options.get("resources", {})
    if not isinstance(extra, Mapping):
        raise JobError(
            "launcher_options.skypilot.resources must be a mapping of SkyPilot resources keys",
            where="launcher_options.skypilot.resources",
            fix="e.g. {disk_size: 256, region: us-east-1}",
        )
    clash = [key for key in extra if key in ("accelerators", "use_spot", "infra", "cloud")]
    if clash:
        field = {"accelerators": "accelerators", "use_spot": "spot"}.get(clash[0], "cloud")
        raise JobError(
            f"launcher_options.skypilot.resources.{clash[0]} repeats a job field",
            where=f"launcher_options.skypilot.resources.{clash[0]}",
            fix=f"set resources.{field} on the job instead",
        )
    resources.update(extra)
    return resources


# ---- data and outputs ---------------------------------------------------------------------------


def is_bucket(value: str) -> bool:
    """A URI SkyPilot reads from object storage (``s3://bucket/key``, ``gs://...``)."""
    scheme, sep, _ = value.partition("://")
    return bool(sep) and scheme.lower() in BUCKET_SCHEMES


def outputs_uri(options: Mapping[str, Any]) -> str | None:
    """The outputs bucket URI, checked; None when not given."""
    uri = options.get("outputs")
    if uri is None:
        return None
    if not isinstance(uri, str) or not is_bucket(uri):
        raise JobError(
            f"launcher_options.skypilot.outputs={uri!r} is not a bucket URI",
            where="launcher_options.skypilot.outputs",
            fix="give an object-store prefix SkyPilot can mount, e.g. s3://my-bucket/tunesdk "
            "or gs://my-bucket/tunesdk",
        )
    return uri.rstrip("/")


def _data_source(value: Any) -> tuple[str | None, Any]:
    """(path or URI, the rest of a mapping source) of a ``data``/``eval_data`` value."""
    if isinstance(value, Path):
        return str(value), None
    if isinstance(value, str):
        return value, None
    if isinstance(value, Mapping) and isinstance(value.get("path"), str | Path):
        return str(value["path"]), value
    return None, value


def ship_data(job: Job, field: str, mounts: dict[str, Any]) -> Any:
    """The value of ``field`` on the nodes, adding the file mount that puts it there.

    A local file or folder is mounted from this machine (SkyPilot uploads it at launch); a
    bucket URI is copied from the bucket; a list of records is inlined in the job (up to
    `INLINE_LIMIT` bytes); any other in-memory dataset is a JobError.
    """
    value = getattr(job, field)
    if value is None:
        return None
    source, mapping = _data_source(value)
    if source is None:
        if isinstance(value, list):
            size = len(json.dumps(value))
            if size <= INLINE_LIMIT:
                return value
            raise JobError(
                f"{field} is {len(value)} in-memory records ({size // 1024} KiB), too many to "
                "ship inside the SkyPilot task",
                where=f"job.{field}",
                fix=f"write them to a JSONL file (or a bucket) and pass its path as {field}",
            )
        raise JobError(
            f"{field} is an in-memory {type(value).__name__}, which exists only in this process: "
            "nothing can ship it to a SkyPilot cluster",
            where=f"job.{field}",
            fix=f"save it as JSONL (a local file is uploaded at launch, or put it in a bucket) "
            f"and pass the path as {field}",
        )
    if "://" in source and not is_bucket(source):
        remote = source  # e.g. hf:// or https:// — read by the worker itself
    else:
        name = Path(source.rstrip("/")).name or field
        remote = f"{REMOTE_DATA}/{field}/{name}"
        mounts[remote] = source if is_bucket(source) else str(Path(source).expanduser().resolve())
    return {**mapping, "path": remote} if mapping is not None else remote


def ship_model(job: Job, mounts: dict[str, Any]) -> Any:
    """The model on the nodes: a local model folder is mounted; a hub id passes unchanged."""
    from tunesdk.job import ModelRef

    model = job.model
    name = model.name if isinstance(model, ModelRef) else model
    if "://" in name:
        if is_bucket(name):
            mounts[REMOTE_MODEL] = name
            return REMOTE_MODEL if not isinstance(model, ModelRef) else name
        return model if isinstance(model, str) else model.model_dump(mode="json")
    path = Path(name).expanduser()
    if path.is_dir():
        mounts[REMOTE_MODEL] = str(path.resolve())
        if isinstance(model, ModelRef):
            return {**model.model_dump(mode="json"), "name": REMOTE_MODEL}
        return REMOTE_MODEL
    return model if isinstance(model, str) else model.model_dump(mode="json")


# ---- setup and run ------------------------------------------------------------------------------


def backend_distribution(backend: str) -> tuple[str, str] | None:
    """(distribution, version) of the package that provides ``backend`` here."""
    for entry in metadata.entry_points(group="tunesdk.backends"):
        if entry.name == backend and entry.dist is not None:
            return entry.dist.name, entry.dist.version
    return None


def install_specs(job: Job, backend: str, options: Mapping[str, Any]) -> list[str]:
    """What setup pip-installs: the ``install`` option, else tunesdk and the backend's package
    at the versions installed on this machine."""
    given = options.get("install")
    if given is not None:
        if isinstance(given, str):
            return [given]
        if isinstance(given, list) and all(isinstance(s, str) for s in given):
            return list(given)
        raise JobError(
            "launcher_options.skypilot.install must be a pip spec or a list of them",
            where="launcher_options.skypilot.install",
            fix="e.g. ['tunesdk==0.1.0', 'tunesdk-trl==0.1.0']",
        )
    specs = [f"tunesdk=={metadata.version('tunesdk')}"]
    found = backend_distribution(backend)
    if found is not None and found[0] != "tunesdk":
        specs.append(f"{found[0]}=={found[1]}")
    return specs


def secret_names(options: Mapping[str, Any]) -> list[str]:
    """Environment variables passed as SkyPilot secrets (their values never reach the task)."""
    given = options.get("secrets")
    if given is None:
        return [name for name in DEFAULT_SECRETS if os.environ.get(name)]
    if isinstance(given, str):
        given = [given]
    if not isinstance(given, list) or not all(
        isinstance(n, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n) for n in given
    ):
        raise JobError(
            "launcher_options.skypilot.secrets must be a list of environment variable names",
            where="launcher_options.skypilot.secrets",
            fix="e.g. [HF_TOKEN, WANDB_API_KEY]",
        )
    return list(given)


def task_envs(options: Mapping[str, Any]) -> dict[str, str]:
    """``envs``: unbuffered output (events reach the log at once) plus the ``envs`` option,
    refusing values that look like secrets."""
    from tunesdk.secrets import redact

    envs = {"PYTHONUNBUFFERED": "1", "HF_HUB_ENABLE_HF_TRANSFER": "0"}
    extra = options.get("envs", {})
    if not isinstance(extra, Mapping):
        raise JobError(
            "launcher_options.skypilot.envs must be a mapping of names to values",
            where="launcher_options.skypilot.envs",
            fix="e.g. {WANDB_PROJECT: my-project}",
        )
    for key, value in extra.items():
        if redact(str(key), value) != value:
            raise JobError(
                f"launcher_options.skypilot.envs.{key} looks like a secret, and envs are written "
                "into the task file",
                where=f"launcher_options.skypilot.envs.{key}",
                fix=f"pass it as a SkyPilot secret instead: launcher_options.skypilot.secrets: "
                f"[{key}] (its value is read from this machine's environment at launch)",
            )
        envs[str(key)] = str(value)
    return envs


def remote_job(job: Job, mounts: dict[str, Any]) -> dict[str, Any]:
    """The job as the nodes run it: as given, data and model at their mounts, the launcher
    local (on the node), per-node GPUs from the accelerators."""
    from tunesdk.store import redacted_job

    data = redacted_job(job.model_copy(update={"data": None, "eval_data": None}))
    data["model"] = ship_model(job, mounts)
    data["data"] = ship_data(job, "data", mounts)
    if job.eval_data is not None:
        data["eval_data"] = ship_data(job, "eval_data", mounts)
    else:
        data.pop("eval_data", None)
    data.pop("launcher_options", None)
    data.pop("output_dir", None)  # the node puts outputs in the outputs mount
    resources = dict(data.get("resources", {}))
    for key in ("launcher", "accelerators", "cloud", "spot"):
        resources.pop(key, None)
    found = accelerators(job)
    if found is not None:
        resources["gpus"] = found[1]
    if resources:
        data["resources"] = resources
    else:
        data.pop("resources", None)
    return data


def run_script(job_json: str, backend: str, options: Mapping[str, Any], outputs: str | None) -> str:
    python = str(options.get("python", "python"))
    node = [
        python,
        "-m",
        "tunesdk.launchers.skypilot.node",
        REMOTE_JOB,
        "--backend",
        backend,
        "--outputs",
        REMOTE_OUTPUTS,
    ]
    if outputs:
        node += ["--outputs-uri", outputs]
    command = " ".join(shlex.quote(part) if "~" not in part else part for part in node)
    return (
        "set -euo pipefail\n"
        f"mkdir -p {REMOTE_ROOT}\n"
        f"cat > {REMOTE_JOB} <<'{JOB_EOF}'\n"
        f"{job_json}\n"
        f"{JOB_EOF}\n"
        "# every node runs this; the node script reads SKYPILOT_NODE_RANK, SKYPILOT_NODE_IPS,\n"
        "# SKYPILOT_NUM_NODES and SKYPILOT_NUM_GPUS_PER_NODE for the torchrun rendezvous, and\n"
        "# keys the outputs by $TUNESDK_RUN_KEY (set by tunesdk) or $SKYPILOT_TASK_ID (the same\n"
        "# across a managed job's recoveries, so a recovered job resumes its checkpoints)\n"
        f'{command} --key "${{TUNESDK_RUN_KEY:-$SKYPILOT_TASK_ID}}"\n'
    )


def build_task(job: Job, backend: str, *, run_key: str | None = None) -> dict[str, Any]:
    """The SkyPilot task (dict form of its YAML) that trains ``job`` with ``backend``.

    ``run_key``: the tunesdk run id a launch is for (names the outputs folder in the bucket);
    None for an exported task, whose outputs are keyed by ``$SKYPILOT_TASK_ID``.
    """
    options = skypilot_options(job)
    found = accelerators(job)
    if found is not None:  # the nodes train with one process per accelerator
        job.accumulation_for(found[1] * job.resources.nodes)
    mounts: dict[str, Any] = {}
    remote = remote_job(job, mounts)
    outputs = outputs_uri(options)
    mode = str(options.get("outputs_mode", "MOUNT_CACHED")).upper()
    if mode not in OUTPUT_MODES:
        raise JobError(
            f"unknown outputs_mode {options.get('outputs_mode')!r}",
            where="launcher_options.skypilot.outputs_mode",
            fix=f"use one of {', '.join(OUTPUT_MODES)}",
        )
    if outputs is not None:
        mounts[REMOTE_OUTPUTS] = {"source": outputs, "mode": mode}
    envs = task_envs(options)
    if run_key is not None:
        envs["TUNESDK_RUN_KEY"] = run_key
    name = options.get("name") or (f"tunesdk-{run_key}" if run_key else _task_name(job, backend))
    task: dict[str, Any] = {
        "name": _clean_name(str(name)),
        "num_nodes": job.resources.nodes,
        "resources": task_resources(job, options),
        "envs": envs,
    }
    secrets = secret_names(options)
    if secrets:
        task["secrets"] = dict.fromkeys(secrets)
    if mounts:
        task["file_mounts"] = mounts
    specs = " ".join(shlex.quote(spec) for spec in install_specs(job, backend, options))
    python = str(options.get("python", "python"))
    task["setup"] = Script(f"set -e\n{python} -m pip install --upgrade {specs}\n")
    job_json = json.dumps(remote, separators=(",", ":"), sort_keys=True)
    task["run"] = Script(run_script(job_json, backend, options, outputs))
    return task


def _task_name(job: Job, backend: str) -> str:
    from tunesdk.job import ModelRef

    if job.name:
        return f"tunesdk-{job.name}"
    model = job.model.name if isinstance(job.model, ModelRef) else job.model
    return f"tunesdk-{backend}-{Path(model.rstrip('/')).name}"


def _clean_name(name: str) -> str:
    """A cluster-safe job name: lowercase letters, digits and dashes."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    return cleaned[:60] or "tunesdk"


__all__ = [
    "OPTION_KEYS",
    "REMOTE_MODEL",
    "REMOTE_OUTPUTS",
    "accelerators",
    "build_task",
    "install_specs",
    "is_bucket",
    "outputs_uri",
    "secret_names",
    "skypilot_options",
]
