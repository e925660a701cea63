"""What this machine offers Unsloth: a supported GPU and the installed versions.

Never imports unsloth: importing it on a machine without a GPU raises. Versions come from
``importlib.metadata`` and presence from ``importlib.util.find_spec``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os

from tunesdk.errors import BackendUnavailable

#: Test hook, for tests only: "1" makes the backend behave as if a supported GPU were present, so
#: the event flow can be tested on CPU with a stand-in ``unsloth`` package on the worker's path.
ASSUME_GPU_ENV = "TUNESDK_UNSLOTH_ASSUME_GPU"

NO_GPU = "needs an NVIDIA/AMD/Intel GPU; found none"
NO_GPU_FIX = "run on a machine with a supported GPU, or use backend='trl' on this one"
INSTALL_FIX = "pip install 'tunesdk-unsloth[gpu]' (on the GPU machine)"
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


def find_gpu() -> str | None:
    """A short description of the GPU Unsloth would use, or None when there is none."""
    if os.environ.get(ASSUME_GPU_ENV) == "1":
        return f"assumed ({ASSUME_GPU_ENV}=1, for tests only)"
    if importlib.util.find_spec("torch") is None:
        return None
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


def require_gpu() -> str:
    """The GPU's description; BackendUnavailable (before anything is loaded) when there is none."""
    gpu = find_gpu()
    if gpu is None:
        raise BackendUnavailable("unsloth", NO_GPU, fix=NO_GPU_FIX)
    return gpu


def require_unsloth() -> None:
    """A supported GPU and an importable Unsloth, checked in that order, importing nothing."""
    require_gpu()
    if importlib.util.find_spec("unsloth") is None:
        raise BackendUnavailable("unsloth", "unsloth is not installed", fix=INSTALL_FIX)


def unsloth_usable() -> bool:
    """True when Unsloth can be imported and run here (GPU present, package installed)."""
    return find_gpu() is not None and importlib.util.find_spec("unsloth") is not None
