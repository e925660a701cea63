"""How a TRL run is launched: one worker process, or ``accelerate launch`` over several ranks.

``Job.resources`` maps to an accelerate config file written into the run folder (passed with
``--config_file``, so a user's ``~/.cache/huggingface/accelerate/default_config.yaml`` never changes
a run) and ``accelerate launch --config_file ... -m tunesdk.worker RUN_DIR``. The config contents
follow accelerate's documented keys (the same files TRL ships in ``examples/accelerate_configs``).

Everything here except `hardware_problem` is pure: no torch import, so plans stay instant.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from tunesdk.errors import JobError
from tunesdk.job import Job

CONFIG_FILE = "accelerate_config.yaml"
#: ``backend_options={"trl": {"accelerate": {...}}}``: extra accelerate config keys
LAUNCH_OPTIONS_KEY = "accelerate"
RENDEZVOUS_KEYS = ("main_process_ip", "main_process_port", "machine_rank")
DISTRIBUTED_TYPES = {
    "auto": "MULTI_GPU",
    "ddp": "MULTI_GPU",
    "fsdp": "FSDP",
    "deepspeed": "DEEPSPEED",
}


def launch_options(job: Job) -> dict[str, Any]:
    """The job's extra accelerate config keys (``backend_options["trl"]["accelerate"]``)."""
    options = job.backend_options.get("trl", {}).get(LAUNCH_OPTIONS_KEY, {})
    if not isinstance(options, dict):
        raise JobError(
            f"backend_options['trl']['accelerate'] must be a dict, not {type(options).__name__}",
            where="backend_options.trl.accelerate",
            fix="pass accelerate config keys, e.g. {'main_process_ip': '10.0.0.1', ...}",
        )
    return options


def processes_per_node(job: Job) -> int:
    """Ranks per node: ``resources.processes``, or one per GPU when only ``gpus`` (or the count
    in ``accelerators``) is given."""
    return job.resources.processes_per_node()


def world_size(job: Job) -> int:
    return processes_per_node(job) * job.resources.nodes


def is_distributed(job: Job) -> bool:
    """Whether the run needs ``accelerate launch`` (several ranks, or FSDP/DeepSpeed wrapping)."""
    return world_size(job) > 1 or job.resources.strategy in ("fsdp", "deepspeed")


def gradient_accumulation(job: Job) -> int:
    """``batch_size / (micro_batch_size × ranks)``: ``batch_size`` is the effective batch."""
    return job.accumulation_for(world_size(job))


def visible_devices(job: Job, current: str | None) -> str | None:
    """``CUDA_VISIBLE_DEVICES`` for ``resources.gpus=N``: the first N of the devices visible now
    (``current``), so a user's own ``CUDA_VISIBLE_DEVICES`` is narrowed, never replaced."""
    gpus = job.resources.gpus
    if gpus is None:
        return None
    if current is not None and current.strip():
        return ",".join(current.split(",")[:gpus])
    return ",".join(str(i) for i in range(gpus))


def accelerate_config(job: Job) -> dict[str, Any] | None:
    """The accelerate config file's contents, or None when the run is a single plain process."""
    if not is_distributed(job):
        return None
    resources = job.resources
    config: dict[str, Any] = {
        "compute_environment": "LOCAL_MACHINE",
        "debug": False,
        "distributed_type": DISTRIBUTED_TYPES[resources.strategy],
        "downcast_bf16": "no",
        "gpu_ids": "all",  # resources.gpus narrows CUDA_VISIBLE_DEVICES instead
        "machine_rank": 0,
        "main_training_function": "main",
        "mixed_precision": resources.mixed_precision or "no",
        "num_machines": resources.nodes,
        # accelerate's num_processes counts every rank on every node
        "num_processes": world_size(job),
        "rdzv_backend": "static",
        "same_network": True,
        "tpu_env": [],
        "tpu_use_cluster": False,
        "tpu_use_sudo": False,
        "use_cpu": False,
    }
    if resources.nodes == 1:
        config["main_process_port"] = 0  # a free port, so parallel runs never collide
    if resources.strategy == "fsdp":
        config["fsdp_config"] = {
            "fsdp_version": 2,
            "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
            "fsdp_cpu_ram_efficient_loading": True,
            "fsdp_offload_params": False,
            "fsdp_reshard_after_forward": True,
            # a full state dict gathered on rank 0 so the final adapter/model folder loads with
            # plain transformers/peft (sharded checkpoints would need accelerate to merge)
            "fsdp_state_dict_type": "FULL_STATE_DICT",
            "fsdp_activation_checkpointing": False,
        }
    if resources.strategy == "deepspeed":
        stage = resources.deepspeed_stage or 2
        config["deepspeed_config"] = {
            "deepspeed_multinode_launcher": "standard",
            "gradient_accumulation_steps": gradient_accumulation(job),
            "offload_optimizer_device": "none",
            "offload_param_device": "none",
            "zero3_init_flag": stage == 3,
            "zero3_save_16bit_model": stage == 3,
            "zero_stage": stage,
        }
    extra = launch_options(job)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def config_path(run_dir: Path | str) -> Path:
    return Path(run_dir) / CONFIG_FILE


def launch_command(job: Job, run_dir: Path | str, python: str | None = None) -> list[str]:
    """The exact command that starts training for a run in ``run_dir`` (``python``: the
    interpreter that trains, e.g. the trl engine environment's; default this one)."""
    worker = ["-m", "tunesdk.worker", str(run_dir)]
    if not is_distributed(job):
        return [python or sys.executable, *worker]
    return [
        python or sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(config_path(run_dir)),
        *worker,
    ]


def write_config(job: Job, run_dir: Path | str) -> Path | None:
    """Write the accelerate config file into the run folder (None for a single process)."""
    import yaml

    config = accelerate_config(job)
    if config is None:
        return None
    path = config_path(run_dir)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def check_layout(job: Job) -> None:
    """Launch options that cannot work on any machine: a clear JobError before launch."""
    resources = job.resources
    gradient_accumulation(job)
    launch_options(job)
    if resources.processes > 1 and resources.gpus and resources.gpus != resources.processes:
        raise JobError(
            f"resources.processes={resources.processes} but resources.gpus={resources.gpus}: "
            "GPU training runs one process per GPU",
            where="resources.processes",
            fix=f"set processes={resources.gpus} (or gpus={resources.processes})",
        )
    if resources.deepspeed_stage is not None and resources.strategy != "deepspeed":
        raise JobError(
            f"resources.deepspeed_stage={resources.deepspeed_stage} needs strategy='deepspeed'",
            where="resources.deepspeed_stage",
            fix="set resources.strategy='deepspeed' or drop deepspeed_stage",
        )
    if resources.nodes > 1 and resources.launcher == "local":  # cluster launchers rendezvous
        missing = [key for key in RENDEZVOUS_KEYS if key not in launch_options(job)]
        if missing:
            raise JobError(
                f"resources.nodes={resources.nodes} needs the rendezvous options {missing}: every "
                "node runs the same job and must find node 0",
                where="backend_options.trl.accelerate",
                fix="pass backend_options={'trl': {'accelerate': {'main_process_ip': '<node 0 IP>', "
                "'main_process_port': 29500, 'machine_rank': <0 on node 0, 1, 2, ...>}}}",
            )


def hardware_problem(job: Job) -> tuple[str, str] | None:
    """(reason, fix) when this machine cannot run the job's launch layout, else None.

    Imports torch (to count CUDA devices), so it belongs in ``check_job``, not in ``plan``.
    """
    resources = job.resources
    if not is_distributed(job) and not resources.gpus:
        return None  # gpus=0 or None on one process: nothing to check
    import torch

    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if resources.gpus == 0:
        visible = 0  # CUDA_VISIBLE_DEVICES="" for the worker: a CPU run
    if resources.strategy in ("fsdp", "deepspeed") and visible == 0:
        return (
            f"strategy={resources.strategy!r} shards the model over CUDA GPUs and this machine "
            "has none",
            "use strategy='ddp' (or 'auto'), which trains on CPUs with the gloo backend",
        )
    if resources.strategy == "deepspeed" and importlib.util.find_spec("deepspeed") is None:
        return ("strategy='deepspeed' needs the deepspeed package", "pip install deepspeed")
    if resources.gpus and resources.gpus > visible:
        return (
            f"resources.gpus={resources.gpus} but {visible} CUDA GPU(s) are visible",
            f"set gpus to at most {visible} (check CUDA_VISIBLE_DEVICES)",
        )
    if visible and processes_per_node(job) > visible:
        return (
            f"{processes_per_node(job)} processes per node but only {visible} CUDA GPU(s) visible:"
            " GPU training runs one process per GPU",
            f"set resources.processes to at most {visible}",
        )
    return None


def describe(job: Job) -> str:
    """One line for the plan: how many ranks, on what, with which strategy."""
    if not is_distributed(job):
        return "one process"
    strategy = job.resources.strategy
    shown: str = "ddp" if strategy == "auto" else strategy
    if strategy == "deepspeed":
        shown += f" ZeRO-{job.resources.deepspeed_stage or 2}"
    nodes = f" on each of {job.resources.nodes} nodes" if job.resources.nodes > 1 else ""
    return f"accelerate launch: {processes_per_node(job)} processes{nodes}, {shown}"
