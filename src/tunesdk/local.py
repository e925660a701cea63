"""Local backends train in a worker process: ``python -m tunesdk.worker RUN_DIR``.

Where that process runs is the run's launcher (`tunesdk.launchers`): a child of this process by
default (`tunesdk.launchers.local`), or a Ray job, or a SkyPilot managed job.

The child owns the GPU and the training loop; the caller only reads the run folder. An exception,
an out-of-memory kill or a cancel in training therefore never takes the caller down, and a child
that dies without writing its last event is noticed by whoever polls the run (the submitting
process, or another one after ``Run.attach``), which records the run as failed with the reason.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from tunesdk.backend import Backend, validate_job_data
from tunesdk.errors import TuneError
from tunesdk.launchers.local import _children as _local_children
from tunesdk.models import LocalModel, ModelHandle

if TYPE_CHECKING:
    from tunesdk.backend import Plan
    from tunesdk.events import Event
    from tunesdk.job import Job
    from tunesdk.launchers.base import Launcher
    from tunesdk.plans import BackendKind
    from tunesdk.store import RunRecord

# Children started by this process (kept by the local launcher; the name older code imported)
_children = _local_children


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (guards against a recycled pid), or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # zombie: already dead
        return None
    return fields[19]


def describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "the training process disappeared without reporting how it ended"
    if returncode < 0:
        sig = signal.Signals(-returncode)
        hint = " (often the out-of-memory killer)" if sig == signal.SIGKILL else ""
        return f"the training process was killed by {sig.name}{hint}"
    return f"the training process exited with code {returncode} without reporting a result"


def require_local(model: ModelHandle, backend: str) -> LocalModel:
    """``model`` as a LocalModel, or a TuneError saying ``backend`` serves only local models."""
    if not isinstance(model, LocalModel):
        raise TuneError(
            f"the {backend} backend serves local models, not {model.to_uri()}",
            fix="use the provider's own backend for provider models",
        )
    return model


class LocalBackend(Backend):
    """Base class of backends that train on this machine through the worker process."""

    #: "local" for engines on this machine; a service driven by a local loop says "managed"
    kind: ClassVar[BackendKind] = "local"
    #: seconds a cancelled worker gets to save a checkpoint before it is killed
    cancel_grace_s: ClassVar[float] = 60.0

    def preflight(self, job: Job, plan: Plan) -> None:
        """The data must pass tunesdk.data's rules for this backend (the generic rules when it
        has none of its own) before a worker starts."""
        from tunesdk.data.rules import RULES

        validate_job_data(job, self.name, rules=self.name if self.name in RULES else None)

    @staticmethod
    def trains_here(job: Job) -> bool:
        """True when the job's worker runs on this machine (the local launcher): only then do
        this machine's GPUs and packages decide whether it can run (see
        `tunesdk.launchers.worker_runs_here`)."""
        from tunesdk.launchers import worker_runs_here

        return worker_runs_here(job)

    def worker_python(self) -> str:
        """The interpreter that trains: this backend's engine environment when one is set up
        (``$TUNESDK_<NAME>_PYTHON`` or ``tunesdk engine install NAME``), else this one."""
        from tunesdk.engines import worker_python

        return worker_python(self.name) or sys.executable

    def worker_command(self, run: RunRecord) -> list[str]:
        """The command that runs training; multi-process backends wrap it in accelerate/torchrun."""
        return [self.worker_python(), "-m", "tunesdk.worker", str(run.dir)]

    def worker_env(self, run: RunRecord) -> dict[str, str]:
        """This process's environment; in an engine environment, with this process's tunesdk
        first on PYTHONPATH (see `tunesdk.engines.link_tunesdk`)."""
        env = dict(os.environ)
        if self.worker_python() != sys.executable:
            from tunesdk.engines import worker_environment

            env = worker_environment(self.name, env, run.dir / "engine")
        return env

    # ---- the run lifecycle: handed to the run's launcher (tunesdk.launchers) -------------------

    def launcher_for(self, run: RunRecord) -> Launcher:
        """The launcher that runs ``run``'s worker: the one recorded at launch (so a reattach
        uses the same one), else the job's ``resources.launcher``."""
        from tunesdk.launchers import get_launcher

        name = run.state.get("launcher") or run.job.resources.launcher
        return get_launcher(str(name))

    def launch(self, run: RunRecord) -> None:
        launcher = self.launcher_for(run)
        run.update_state(launcher=launcher.name)
        launcher.launch(self, run)

    def worker_alive(self, run: RunRecord) -> bool:
        return self.launcher_for(run).worker_alive(self, run)

    def poll(self, run: RunRecord) -> list[Event]:
        return self.launcher_for(run).poll(self, run)

    def cancel(self, run: RunRecord) -> None:
        """Ask the run's worker to stop (see the launcher's ``cancel``; the local launcher sends
        SIGTERM to the training ranks, SIGKILL to a worker that has not trained a step yet)."""
        self.launcher_for(run).cancel(self, run)

    def kill(self, run: RunRecord) -> None:
        """Hard stop, used when a cancelled worker overruns ``cancel_grace_s``."""
        self.launcher_for(run).kill(self, run)


RANK_PREFIX = "rank_pid:"


def register_rank(run: RunRecord, rank: int) -> None:
    """Record this process as training rank ``rank`` of ``run`` (so cancel and kill reach it)."""
    pid = os.getpid()
    run.update_state(**{f"{RANK_PREFIX}{rank}": [pid, process_start_time(pid)]})


def live_ranks(run: RunRecord) -> list[int]:
    """Pids of the run's registered ranks that are still the same live processes."""
    pids = []
    for key, value in run.state.items():
        if key.startswith(RANK_PREFIX) and isinstance(value, list) and len(value) == 2:
            pid, start = value
            if start is not None and process_start_time(int(pid)) == start:
                pids.append(int(pid))
    return pids


def signal_pids(pids: list[int], sig: signal.Signals) -> None:
    """Send ``sig`` to each of ``pids`` that still exists."""
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


__all__ = [
    "LocalBackend",
    "describe_exit",
    "live_ranks",
    "process_start_time",
    "register_rank",
    "signal_pids",
]
