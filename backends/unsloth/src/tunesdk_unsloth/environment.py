"""What this machine offers Unsloth: a supported GPU (or the opt-in CPU mode), the interpreter
that trains (the engine environment, see `tunesdk.engines`) and its versions.

Never imports unsloth in the caller: versions come from ``importlib.metadata`` (or the engine's
install record) and presence from ``importlib.util.find_spec``. Without torch in the caller, the
GPU is looked for by the engine's interpreter.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import subprocess
from typing import TYPE_CHECKING, Any

from tunesdk.errors import BackendUnavailable

if TYPE_CHECKING:
    from tunesdk.engines import Engine

#: Test hook, for tests only: "1" makes the backend behave as if a supported GPU were present, so
#: the event flow can be tested on CPU with a stand-in ``unsloth`` package on the worker's path.
ASSUME_GPU_ENV = "TUNESDK_UNSLOTH_ASSUME_GPU"

#: "1" lets Unsloth train on the CPU (its CPU mode) when no GPU is found, for every job
ALLOW_CPU_ENV = "TUNESDK_UNSLOTH_ALLOW_CPU"
#: the per-job switch: backend_options={"unsloth": {"allow_cpu": True}}
ALLOW_CPU_OPTION = "allow_cpu"

NO_GPU = "needs an NVIDIA/AMD/Intel GPU; found none"
NO_GPU_FIX = (
    "run on a machine with a supported GPU, or use the trl backend on this one (--backend trl; "
    "backend='trl' in Python), or opt in to Unsloth's CPU mode: "
    "`backend_options: {unsloth: {allow_cpu: true}}` in the job file "
    '(backend_options={"unsloth": {"allow_cpu": True}} in Python), or '
    f"{ALLOW_CPU_ENV}=1"
)
INSTALL_FIX = (
    "tunesdk engine install unsloth (its own environment; CPU mode on machines without a GPU), "
    "or pip install 'tunesdk-unsloth[gpu]' on the GPU machine"
)
CPU_MODE = "Unsloth's CPU mode (no GPU found; allowed by allow_cpu)"
TRAINING_PACKAGES = ("torch", "transformers", "trl", "peft", "datasets", "accelerate")


def version_of(distribution: str) -> str | None:
    """The installed version of ``distribution``, or None."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def unsloth_version() -> str | None:
    """The installed Unsloth's version (None when it is not importable here)."""
    if importlib.util.find_spec("unsloth") is None:
        return None
    return version_of("unsloth") or "unknown"


def allow_cpu(job: Any = None) -> bool:
    """Whether training may fall back to Unsloth's CPU mode: ``$TUNESDK_UNSLOTH_ALLOW_CPU=1`` or
    the job's ``backend_options["unsloth"]["allow_cpu"]``."""
    if os.environ.get(ALLOW_CPU_ENV) == "1":
        return True
    options = job.backend_options.get("unsloth", {}) if job is not None else {}
    return options.get(ALLOW_CPU_OPTION) is True


def engine() -> Engine | None:
    """The Unsloth engine environment, when one is set up (else the caller's interpreter)."""
    from tunesdk import engines

    return engines.find("unsloth")


_GPU_PROBE = (
    "import torch\n"
    "if torch.cuda.is_available():\n"
    "    vendor = 'AMD' if getattr(torch.version, 'hip', None) else 'NVIDIA'\n"
    "    print(vendor + ' ' + torch.cuda.get_device_name(0))\n"
    "elif getattr(torch, 'xpu', None) is not None and torch.xpu.is_available():\n"
    "    print('Intel ' + torch.xpu.get_device_name(0))\n"
)
_probed: dict[str, str | None] = {}


def _probe_gpu(python: str) -> str | None:
    """The GPU as the engine's interpreter sees it (asked once per process)."""
    if python not in _probed:
        try:
            done = subprocess.run(
                [python, "-c", _GPU_PROBE], capture_output=True, text=True, timeout=120
            )
            found = done.stdout.strip().splitlines()
            _probed[python] = found[-1] if done.returncode == 0 and found else None
        except (OSError, subprocess.TimeoutExpired):
            _probed[python] = None
    return _probed[python]


def find_gpu(in_engine: Engine | None = None) -> str | None:
    """A short description of the GPU Unsloth would use, or None when there is none. Looked up
    with this process's torch, or by ``in_engine``'s interpreter when this one has no torch."""
    if os.environ.get(ASSUME_GPU_ENV) == "1":
        return f"assumed ({ASSUME_GPU_ENV}=1, for tests only)"
    if importlib.util.find_spec("torch") is None:
        return _probe_gpu(str(in_engine.python)) if in_engine is not None else None
    from tunesdk.hardware import quick_gpu

    decided, gpu = quick_gpu()  # torch's build and the driver's GPU list: no `import torch`
    if decided:
        return gpu
    import torch

    if torch.cuda.is_available():
        vendor = "AMD" if getattr(torch.version, "hip", None) else "NVIDIA"
        return f"{vendor} {torch.cuda.get_device_name(0)}"
    xpu = getattr(torch, "xpu", None)
    if xpu is not None and xpu.is_available():
        return f"Intel {xpu.get_device_name(0)}"
    return None


def require_gpu(job: Any = None) -> str:
    """The GPU's description (or `CPU_MODE` when the job allows the CPU); BackendUnavailable
    (before anything is loaded) when there is neither."""
    gpu = find_gpu()
    if gpu is None:
        if allow_cpu(job):
            return CPU_MODE
        raise BackendUnavailable("unsloth", NO_GPU, fix=NO_GPU_FIX)
    return gpu


def require_unsloth(job: Any = None) -> None:
    """A supported GPU (or the CPU mode the job allows) and an importable Unsloth, checked in
    that order, importing nothing."""
    require_gpu(job)
    if importlib.util.find_spec("unsloth") is None:
        raise BackendUnavailable("unsloth", "unsloth is not installed", fix=INSTALL_FIX)


def prepare_cpu_mode() -> None:
    """In the worker, before ``import unsloth``: without a GPU, ask for its CPU mode explicitly
    (``UNSLOTH_FORCE_CPU``; a user's own setting wins)."""
    if find_gpu() is None:
        os.environ.setdefault("UNSLOTH_FORCE_CPU", "1")


def unsloth_usable() -> bool:
    """True when Unsloth can be imported and run here (GPU present or CPU mode allowed, package
    installed)."""
    return (find_gpu() is not None or allow_cpu()) and importlib.util.find_spec(
        "unsloth"
    ) is not None
