"""The command line that runs Axolotl for a config: ``axolotl train`` and its launcher options."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

from tunesdk.errors import BackendUnavailable
from tunesdk.job import Job
from tunesdk_axolotl import schema
from tunesdk_axolotl.config import processes

#: overrides the Axolotl command (e.g. a wrapper script, or another environment's ``axolotl``)
COMMAND_ENV = "TUNESDK_AXOLOTL_COMMAND"


def axolotl_executable() -> list[str]:
    """``$TUNESDK_AXOLOTL_COMMAND``, this interpreter's Axolotl (``python -m axolotl.cli.main``:
    in the engine environment the worker runs in), or the ``axolotl`` on PATH."""
    override = os.environ.get(COMMAND_ENV)
    if override:
        return shlex.split(override)
    if schema.axolotl_installed():
        return [sys.executable, "-m", "axolotl.cli.main"]
    found = shutil.which("axolotl")
    if found:
        return [found]
    raise BackendUnavailable(
        "axolotl",
        "the axolotl command is not installed",
        fix="tunesdk engine install axolotl, or pip install 'tunesdk-axolotl[axolotl]'",
    )


def train_command(job: Job, config_path: Path) -> list[str]:
    """``axolotl train CONFIG``: one plain process, or ``accelerate launch`` for several."""
    command = [*axolotl_executable(), "train", str(config_path)]
    n = processes(job)
    res = job.resources
    if n == 1 and res.strategy in ("auto", "ddp"):
        return [*command, "--launcher", "python"]
    launcher = ["--num_processes", str(n)]
    if res.nodes > 1:
        launcher += ["--num_machines", str(res.nodes)]
    return [*command, "--launcher", "accelerate", "--", *launcher]
