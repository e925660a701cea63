"""Local backends train in a child process: ``python -m tunesdk.worker RUN_DIR``.

The child owns the GPU and the training loop; the caller only reads the run folder. An exception,
an out-of-memory kill or a cancel in training therefore never takes the caller down, and a child
that dies without writing its last event is noticed by whoever polls the run (the submitting
process, or another one after ``Run.attach``), which records the run as failed with the reason.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from tunesdk.backend import Backend, validate_job_data
from tunesdk.errors import TuneError
from tunesdk.events import Cancelled, Event, Failed, Progress
from tunesdk.models import LocalModel, ModelHandle
from tunesdk.worker import last_checkpoint

if TYPE_CHECKING:
    from tunesdk.backend import Plan
    from tunesdk.job import Job
    from tunesdk.store import RunRecord

# Children started by this process, so they are reaped (no zombies) and their exit codes known.
_children: dict[str, subprocess.Popen[bytes]] = {}


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

    kind = "local"
    #: seconds a cancelled worker gets to save a checkpoint before it is killed
    cancel_grace_s: ClassVar[float] = 60.0

    def preflight(self, job: Job, plan: Plan) -> None:
        """The data must pass tunesdk.data's rules for this backend (the generic rules when it
        has none of its own) before a worker starts."""
        from tunesdk.data.rules import RULES

        validate_job_data(job, self.name, rules=self.name if self.name in RULES else None)

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

    def launch(self, run: RunRecord) -> None:
        with open(run.worker_log, "ab") as log:
            proc = subprocess.Popen(
                self.worker_command(run),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.worker_env(run),
                start_new_session=True,  # its own process group: cancel reaches every rank
            )
        _children[run.run_id] = proc
        run.update_state(worker_pid=proc.pid, worker_start=process_start_time(proc.pid))

    def worker_alive(self, run: RunRecord) -> bool:
        proc = _children.get(run.run_id)
        if proc is not None:
            return proc.poll() is None
        pid = run.state.get("worker_pid")
        if pid is None:
            return False
        start = process_start_time(int(pid))
        return start is not None and start == run.state.get("worker_start")

    def poll(self, run: RunRecord) -> list[Event]:
        if self.worker_alive(run) or run.terminal:
            return []
        proc = _children.pop(run.run_id, None)
        if run.should_stop():
            # stopped before it could report (e.g. cancelled while still importing)
            return [Cancelled(checkpoint=last_checkpoint(run))]
        reason = describe_exit(proc.returncode if proc is not None else None)
        return [Failed(error=reason, error_type="WorkerDied", details_path=str(run.worker_log))]

    def cancel(self, run: RunRecord) -> None:
        """SIGTERM to the training ranks once they have registered, else to the worker's group;
        SIGKILL to a worker that has not trained a step yet (nothing to save).

        Under ``accelerate launch`` the ranks run in sessions of their own (torchrun starts them
        so), out of reach of the worker's group. Signalling only the ranks lets the launcher exit
        by itself once they have saved their checkpoint; a signalled launcher would SIGKILL them
        after its own 30 s grace.
        """
        run.mark_cancel_requested()
        if not any(isinstance(event, Progress) for event in run.events()):
            # still starting up (imports, model loading): no step to save, so stop it at once
            # rather than let it train a step first; `poll` then records the run cancelled
            self.kill(run)
            return
        ranks = live_ranks(run)
        if ranks:
            _signal_pids(ranks, signal.SIGTERM)
        else:
            self._signal(run, signal.SIGTERM)

    def kill(self, run: RunRecord) -> None:
        """Hard stop, used when a cancelled worker overruns ``cancel_grace_s``."""
        self._signal(run, signal.SIGKILL)
        _signal_pids(live_ranks(run), signal.SIGKILL)

    def _signal(self, run: RunRecord, sig: signal.Signals) -> None:
        pid = run.state.get("worker_pid")
        if pid is None or not self.worker_alive(run):
            return
        try:
            os.killpg(int(pid), sig)
        except ProcessLookupError:
            pass


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


def _signal_pids(pids: list[int], sig: signal.Signals) -> None:
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
]
