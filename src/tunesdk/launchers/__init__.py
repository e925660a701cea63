"""Launchers: where a local backend's worker runs — this machine (``local``, the default), a
Ray cluster (``ray``) or a SkyPilot managed job (``skypilot``). See `tunesdk.launchers.base`
for the interface and docs/guide/clusters.md for choosing one."""

from tunesdk.launchers.base import (
    LAUNCHER_FIELDS,
    Launcher,
    LauncherUnavailable,
    apply_launcher,
    redacted_options,
    require_secrets,
    worker_runs_here,
)
from tunesdk.launchers.registry import (
    LauncherInfo,
    get_launcher,
    launcher_names,
    launchers,
    register_launcher,
)

__all__ = [
    "LAUNCHER_FIELDS",
    "Launcher",
    "LauncherInfo",
    "LauncherUnavailable",
    "apply_launcher",
    "get_launcher",
    "launcher_names",
    "launchers",
    "redacted_options",
    "register_launcher",
    "require_secrets",
    "worker_runs_here",
]
