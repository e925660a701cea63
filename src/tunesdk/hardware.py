"""Whether a GPU that torch could use is here — answered without importing torch.

``import torch`` takes seconds, too long for `tunesdk backends` or a backend's ``check()``. On Linux
the answer needs no torch: torch's build (CUDA, ROCm or CPU) is written in its ``torch/version.py``,
which is read as text, and the driver lists its GPUs under ``/proc/driver/nvidia/gpus`` (NVIDIA) or
``/sys/class/kfd`` (AMD). Where that is not enough (another OS, an Intel XPU build) `quick_gpu`
says it cannot tell, and the caller asks torch itself.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path


def torch_build(torch_dir: Path | None = None) -> dict[str, str | None] | None:
    """``{"cuda": "12.8" | None, "hip": ..., "xpu": ...}`` of the torch in ``torch_dir`` (default:
    the one this interpreter would import), read from its ``version.py``; None without torch."""
    if torch_dir is None:
        spec = importlib.util.find_spec("torch")
        if spec is None or not spec.submodule_search_locations:
            return None
        torch_dir = Path(next(iter(spec.submodule_search_locations)))
    try:
        text = (torch_dir / "version.py").read_text(encoding="utf-8")
    except OSError:
        return None
    build: dict[str, str | None] = {}
    for key in ("cuda", "hip", "xpu"):
        match = re.search(rf"^{key}\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", text, re.MULTILINE)
        build[key] = match.group(1) if match else None
    return build


def nvidia_gpus() -> list[str]:
    """Model names of the NVIDIA GPUs the driver lists (Linux), e.g. ``["NVIDIA H200"]``."""
    names = []
    for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
        try:
            text = info.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        match = re.search(r"^Model:\s*(.+)$", text, re.MULTILINE)
        names.append(match.group(1).strip() if match else "NVIDIA GPU")
    return names


def amd_gpus() -> int:
    """How many AMD GPUs the ROCm kernel driver lists (Linux)."""
    count = 0
    for props in Path("/sys/class/kfd/kfd/topology/nodes").glob("*/properties"):
        try:
            text = props.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        match = re.search(r"^simd_count\s+(\d+)", text, re.MULTILINE)
        count += bool(match and int(match.group(1)) > 0)  # CPU nodes have no SIMD units
    return count


def _hidden_by_environment() -> bool:
    for name in ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES"):
        value = os.environ.get(name)
        if value is not None and value.strip() in ("", "-1"):
            return True
    return False


def quick_gpu(torch_dir: Path | None = None) -> tuple[bool, str | None]:
    """``(decided, description)``: whether this could be answered without importing torch, and
    the GPU torch would use (``"NVIDIA H200"``, ``"AMD GPU"``), or None when there is none.

    When torch is already imported it is asked (that costs nothing more)."""
    torch = sys.modules.get("torch") if torch_dir is None else None
    if torch is not None and hasattr(torch, "cuda"):
        if torch.cuda.is_available():
            vendor = "AMD" if getattr(torch.version, "hip", None) else "NVIDIA"
            name = str(torch.cuda.get_device_name(0))
            return True, name if name.startswith(vendor) else f"{vendor} {name}"
        return False, None  # maybe an XPU: the caller's torch check decides
    build = torch_build(torch_dir)
    if build is None:
        return True, None  # no torch: nothing here can train on a GPU
    if not sys.platform.startswith("linux") or build.get("xpu"):
        return False, None
    if _hidden_by_environment():
        return True, None
    if build.get("cuda"):
        names = nvidia_gpus()
        return True, names[0] if names else None
    if build.get("hip"):
        return True, "AMD GPU" if amd_gpus() else None
    return True, None  # a CPU build of torch


__all__ = ["amd_gpus", "nvidia_gpus", "quick_gpu", "torch_build"]
