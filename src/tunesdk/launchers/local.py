"""The default launcher: the worker is a child process on this machine.

``python -m tunesdk.worker RUN_DIR`` (wrapped by the backend in ``accelerate launch``/``torchrun``
for several ranks) in its own process group, its output in the run's ``worker.log``. The child
writes events straight into the run folder; `poll` only notices a child that died without
reporting how it ended. This is the behaviour `tunesdk.local.LocalBackend` always had.
"""

from __future__ import annotations

import os
import signal
import subprocess
from typing import TYPE_CHECKING, ClassVar

from tunesdk.events import Cancelled, Event, Failed, Progress
from tunesdk.launchers.base import Launcher
from tunesdk.worker import last_checkpoint

if TYPE_CHECKING:
    from tunesdk.local import LocalBackend
    from tunesdk.store import RunRecord

# Children started by this process, so they are reaped (no zombies) and their exit codes known.
_children: dict[str, subprocess.Popen[bytes]] = {}


class LocalLauncher(Launcher):
    """Runs the worker as a child process on this machine (``resources.launcher="local"``)."""

    name: ClassVar[str] = "local"
    option_keys: ClassVar[dict[str, str] | None] = {}
    runs_here: ClassVar[bool] = True

    def launch(self, backend: LocalBackend, run: RunRecord) -> None:
        from tunesdk.local import process_start_time

        with open(run.worker_log, "ab") as log:
            proc = subprocess.Popen(
                backend.worker_command(run),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=backend.worker_env(run),
                start_new_session=True,  # its own process group: cancel reaches every rank
            )
        _children[run.run_id] = proc
        run.update_state(worker_pid=proc.pid, worker_start=process_start_time(proc.pid))

    def worker_alive(self, backend: LocalBackend, run: RunRecord) -> bool:
        from tunesdk.local import process_start_time

        proc = _children.get(run.run_id)
        if proc is not None:
            return proc.poll() is None
        pid = run.state.get("worker_pid")
        if pid is None:
            return False
        start = process_start_time(int(pid))
        return start is not None and start == run.state.get("worker_start")

    def poll(self, backend: LocalBackend, run: RunRecord) -> list[Event]:
        from tunesdk.local import describe_exit

        if self.worker_alive(backend, run) or run.terminal:
            return []
        proc = _children.pop(run.run_id, None)
        if run.should_stop():
            # stopped before it could report (e.g. cancelled while still importing)
            return [Cancelled(checkpoint=last_checkpoint(run))]
        reason = describe_exit(proc.returncode if proc is not None else None)
        return [Failed(error=reason, error_type="WorkerDied", details_path=str(run.worker_log))]

    def cancel(self, backend: LocalBackend, run: RunRecord) -> None:
        """SIGTERM to the training ranks once they have registered, else to the worker's group;
        SIGKILL to a worker that has not trained a step yet (nothing to save).

        Under ``accelerate launch`` the ranks run in sessions of their own (torchrun starts them
        so), out of reach of the worker's group. Signalling only the ranks lets the launcher exit
        by itself once they have saved their checkpoint; a signalled launcher would SIGKILL them
        after its own 30 s grace.
        """
        from tunesdk.local import live_ranks, signal_pids

        run.mark_cancel_requested()
        if not any(isinstance(event, Progress) for event in run.events()):
            # still starting up (imports, model loading): no step to save, so stop it at once
            # rather than let it train a step first; `poll` then records the run cancelled
            self.kill(backend, run)
            return
        ranks = live_ranks(run)
        if ranks:
            signal_pids(ranks, signal.SIGTERM)
        else:
            self._signal(backend, run, signal.SIGTERM)

    def kill(self, backend: LocalBackend, run: RunRecord) -> None:
        """Hard stop, used when a cancelled worker overruns ``cancel_grace_s``."""
        from tunesdk.local import live_ranks, signal_pids

        self._signal(backend, run, signal.SIGKILL)
        signal_pids(live_ranks(run), signal.SIGKILL)

    def _signal(self, backend: LocalBackend, run: RunRecord, sig: signal.Signals) -> None:
        pid = run.state.get("worker_pid")
        if pid is None or not self.worker_alive(backend, run):
            return
        try:
            os.killpg(int(pid), sig)
        except ProcessLookupError:
            pass


__all__ = ["LocalLauncher"]
