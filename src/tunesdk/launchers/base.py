"""The Launcher interface: where a local backend's worker runs.

The **backend** says how to train (trl, unsloth, axolotl), the **launcher** where its worker
process runs: a child process on this machine (`tunesdk.launchers.local`, the default), a Ray
cluster (`tunesdk.launchers.ray`), a SkyPilot managed job (`tunesdk.launchers.skypilot`). A job
picks one with ``resources.launcher`` (``job.run(backend="trl", launcher="ray")``, ``tunesdk run
job.yaml -b trl --launcher ray``); its options sit in ``job.launcher_options[NAME]``.

`tunesdk.local.LocalBackend` hands every run-lifecycle call to the run's launcher:

| backend call | launcher call |
|---|---|
| ``launch(run)`` | ``launcher.launch(backend, run)``: start the worker (a child, a Ray job, ...) |
| ``worker_alive(run)`` | ``launcher.worker_alive(backend, run)`` |
| ``poll(run)`` | ``launcher.poll(backend, run)``: events the worker could not append itself |
| ``cancel(run)`` | ``launcher.cancel(backend, run)``: ask it to stop (it saves a checkpoint) |
| ``kill(run)`` | ``launcher.kill(backend, run)``: hard stop after ``cancel_grace_s`` |

Contract for every launcher (the contract suite checks it, see `tunesdk.testing.contract`):

- **Events.** The worker (``python -m tunesdk.worker RUN_DIR``, wherever it runs) appends events
  to *its* run folder. A launcher whose worker writes into this machine's run folder has nothing
  to relay; a remote launcher relays the remote events into the local run with ``run.emit``, each
  with a ``source_id`` unique to the remote event (e.g. ``"ray:<submission id>:<remote seq>"``),
  so that a re-poll or a second follower after ``Run.attach`` never appends one twice. The local
  store gives them the run's own gap-free ``seq``.
- **The end.** Exactly one terminal event (Completed / Failed / Cancelled). When the worker dies
  without one, ``poll`` returns Failed with the reason (the exit code, the cluster's message); a
  run that was cancelled (``run.should_stop()``) ends Cancelled.
- **State.** Whatever is needed to re-follow the run from another process goes into
  ``run.update_state(...)`` at ``launch`` (a pid, a Ray submission id, a SkyPilot job id), so
  ``Run.attach`` in a new process can ``poll``/``cancel`` with a fresh launcher instance.
  `launch` also records ``launcher=<name>`` (done for you by `LocalBackend.launch`).
- **The model.** The Completed event's `LocalModel` names files on *this* machine (copied back),
  or a path this machine shares with the cluster; the launcher rewrites remote paths.
- **Whose machine.** ``runs_here`` is True only when the worker runs on this machine; backends
  then check this machine's GPUs and engines (`worker_runs_here`), and skip them otherwise.
  A launcher that starts the ranks itself says how in `width_rows` (the plan's
  ``resources.nodes``/``processes`` rows).
- **No surprises.** ``check``/``check_job``/``plan_rows``/``native_request`` are cheap and pure
  (no network, no heavy imports). ``preflight`` may contact the cluster (to fail early, naming the
  address) but spends nothing. Errors are `TuneError` instances with ``where`` and ``fix``.

Registering a launcher: subclass `Launcher`, set ``name``, and declare an entry point::

    [project.entry-points."tunesdk.launchers"]
    slurm = "my_package:SlurmLauncher"

``tunesdk launchers`` then lists it with whether it is usable here and the fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from tunesdk.backend import Check, PlanRow
from tunesdk.errors import JobError, TuneError
from tunesdk.options import LAUNCHER_OPTIONS, option_value
from tunesdk.secrets import REDACTED, redact, redact_tree

if TYPE_CHECKING:
    from tunesdk.events import Event
    from tunesdk.job import Job
    from tunesdk.local import LocalBackend
    from tunesdk.plans import Plan
    from tunesdk.store import RunRecord

#: the Job options a launcher (not the backend) accounts for in a plan, in the Job's order
LAUNCHER_FIELDS = (
    "resources.launcher",
    "resources.accelerators",
    "resources.cloud",
    "resources.spot",
)
assert set(LAUNCHER_FIELDS) == LAUNCHER_OPTIONS


class LauncherUnavailable(TuneError):
    """The launcher cannot run here (not installed, no cluster address, cluster unreachable)."""

    def __init__(self, launcher: str, reason: str, *, fix: str | None = None) -> None:
        self.launcher = launcher
        self.reason = reason
        super().__init__(f"launcher {launcher!r} is not usable: {reason}", fix=fix)


class Launcher:
    """Base class of launchers. Subclasses set ``name`` and implement the lifecycle methods.

    One instance serves many runs (`get_launcher` caches it): keep per-run state in the run's
    backend state (``run.update_state``), not on ``self`` — except caches that a fresh process
    can rebuild (a child process handle, an HTTP client).
    """

    name: ClassVar[str]
    #: format of `native_request` for ``tunesdk plan -o FILE`` (SkyPilot: a task YAML)
    native_format: ClassVar[Literal["json", "yaml"]] = "json"
    #: the ``launcher_options[name]`` keys this launcher reads: key -> one-line description
    #: (unknown keys are a JobError at plan time, with a did-you-mean); None: any key
    option_keys: ClassVar[dict[str, str] | None] = None
    #: the job fields of `LAUNCHER_FIELDS` this launcher honours, with the native name each maps to
    honours: ClassVar[dict[str, str]] = {"resources.launcher": "launcher"}
    #: seconds a cancelled run gets to stop by itself before `kill` (None: the backend's own)
    cancel_grace_s: ClassVar[float | None] = None
    #: True when the worker runs on this machine (so its GPUs and packages decide whether the job
    #: can run); a cluster launcher's workers run elsewhere, and the cluster checks them
    runs_here: ClassVar[bool] = False

    # ---- is it usable? ------------------------------------------------------------------------

    def check(self) -> Check:
        """Whether this launcher can be used here at all (its package installed, ...), with the
        exact fix. Cheap: no network, no heavy import."""
        return Check(usable=True)

    def check_job(self, job: Job) -> Check:
        """Whether this job can be launched here (e.g. a cluster address is configured)."""
        return self.check()

    # ---- planning -----------------------------------------------------------------------------

    def options(self, job: Job) -> dict[str, Any]:
        """``job.launcher_options[self.name]``, keys checked against `option_keys`."""
        given = job.launcher_options.get(self.name, {})
        known = self.option_keys
        unknown = [] if known is None else [key for key in given if key not in known]
        if unknown and known is not None:
            import difflib

            close = difflib.get_close_matches(unknown[0], list(known), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise JobError(
                f"unknown {self.name} launcher option {unknown[0]!r}",
                where=f"launcher_options.{self.name}.{unknown[0]}",
                fix=f"{hint}known options: {', '.join(sorted(known)) or 'none'}",
            )
        return dict(given)

    def plan_rows(self, job: Job) -> list[PlanRow]:
        """One row per launcher field (`LAUNCHER_FIELDS`) and per ``launcher_options[name]`` key.

        The default maps the fields in `honours` and drops the others when set; launchers
        override it to say how each maps (``resources.accelerators`` -> ``entrypoint_num_gpus``).
        """
        user_set = job.options_set()
        rows = []
        for option in LAUNCHER_FIELDS:
            value = option_value(job, option)
            is_set = option in user_set
            if option in self.honours:
                rows.append(
                    PlanRow(
                        option=option,
                        value=value,
                        status="mapped" if is_set else "defaulted",
                        native=self.honours[option],
                        native_value=value,
                        user_set=is_set,
                    )
                )
            else:
                rows.append(
                    PlanRow(
                        option=option,
                        value=value,
                        status="dropped" if is_set and value not in (None, False) else "defaulted",
                        reason=f"the {self.name} launcher has no equivalent",
                        user_set=is_set,
                    )
                )
        for key, value in self.options(job).items():
            shown = redact(key, value)
            rows.append(
                PlanRow(
                    option=f"launcher_options.{self.name}.{key}",
                    value=shown,
                    status="mapped",
                    native=key,
                    native_value=shown,
                    reason=(self.option_keys or {}).get(key),
                    user_set=True,
                )
            )
        return rows

    def width_rows(self, job: Job, backend: str) -> list[PlanRow]:
        """Rows for ``resources.nodes``/``resources.processes`` when this launcher, not the
        backend's own launch command, decides how the ranks are started (Ray Train workers,
        SkyPilot's nodes); they replace the backend's rows. ``[]``: the backend's rows stand."""
        return []

    def revise_notes(self, job: Job, notes: list[str]) -> list[str]:
        """The backend's plan notes as they hold under this launcher (drop one about a launch
        this launcher does not do)."""
        return notes

    def native_request(self, job: Job, plan: Plan) -> dict[str, Any]:
        """What this launcher would submit for ``job`` (Ray: the job submission's entrypoint,
        runtime_env and resources; SkyPilot: the task YAML); ``{}`` when it submits nothing.
        Pure; secrets redacted by the caller."""
        return {}

    def notes(self, job: Job) -> list[str]:
        """Lines for the plan's notes (what the cluster must have installed, ...)."""
        return []

    def preflight(self, job: Job, plan: Plan, backend: LocalBackend) -> None:
        """Checks before launch that may read local files or ask the cluster (reachable? data
        shippable?) but spend nothing; raise a TuneError naming what and the fix."""

    # ---- the run lifecycle (see the module docstring) -----------------------------------------

    def launch(self, backend: LocalBackend, run: RunRecord) -> None:
        """Start ``backend``'s worker for ``run``; record in the run's state how to find it again."""
        raise NotImplementedError

    def worker_alive(self, backend: LocalBackend, run: RunRecord) -> bool:
        """True while the worker may still append or report events."""
        raise NotImplementedError

    def poll(self, backend: LocalBackend, run: RunRecord) -> list[Event]:
        """Events to append now: relayed remote events, or the terminal event of a worker that
        ended without one. ``[]`` when there is no news."""
        raise NotImplementedError

    def cancel(self, backend: LocalBackend, run: RunRecord) -> None:
        """Ask the worker to stop (saving a checkpoint); the terminal Cancelled follows through
        the worker or `poll`. Call ``run.mark_cancel_requested()`` first."""
        raise NotImplementedError

    def kill(self, backend: LocalBackend, run: RunRecord) -> None:
        """Stop the worker now (a cancel that overran its grace)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def worker_runs_here(job: Job) -> bool:
    """Whether ``job``'s worker runs on this machine (its launcher's `Launcher.runs_here`): only
    then do this machine's GPUs, drivers and engine packages decide whether the job can run.
    Backends skip those checks otherwise (`tunesdk.local.LocalBackend.trains_here`)."""
    from tunesdk.launchers.registry import get_launcher

    return get_launcher(job.resources.launcher).runs_here


def redacted_options(job: Job) -> list[str]:
    """The ``launcher_options`` paths whose value is the redaction marker ``***``: a job read
    back from a run folder (``tunesdk resume``, `Run.attach(...).record.job`) has those in place
    of its secrets, which were never stored."""
    found: list[str] = []

    def walk(value: Any, path: str) -> None:
        if value == REDACTED:
            found.append(path)
        elif isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, f"{path}.{key}")
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                walk(inner, f"{path}[{index}]")

    walk(job.launcher_options, "launcher_options")
    return found


def require_secrets(job: Job, *, resume: bool | str = False) -> None:
    """JobError before anything is sent when a launcher option holds ``***`` (a redacted secret of
    a stored run): the cluster would get ``***`` instead of the credential."""
    found = redacted_options(job)
    if not found:
        return
    name = found[0].rsplit(".", 1)[-1]
    run = resume if isinstance(resume, str) else "RUN_ID"
    sets = " ".join(f'--set {path}="${name if path == found[0] else "..."}"' for path in found)
    raise JobError(
        f"{', '.join(found)} {'is' if len(found) == 1 else 'are'} '***': the run folder keeps "
        "no secrets, so this job, read back from it, would send '***' to the cluster",
        where=found[0],
        fix=f"give the value again: `tunesdk resume {run} {sets}` (the shell fills it in from "
        "your environment), or in Python pass a Job that holds it; to keep a secret out of the "
        'job altogether, Ray takes `"${NAME}"` in runtime_env.env_vars from the cluster\'s '
        "environment and SkyPilot's `secrets` from this machine's",
    )


def apply_launcher(job: Job, plan: Plan, *, local_backend: bool) -> Plan:
    """``plan`` with the launcher's rows, native request and notes (what ``job.plan()`` and
    ``submit`` return). A managed backend runs on its provider: a launcher other than ``local``
    is a JobError, launcher fields set anyway are dropped rows."""
    from tunesdk.errors import UnsupportedOption
    from tunesdk.launchers.registry import get_launcher

    name = job.resources.launcher
    if not local_backend:
        if name != "local":
            raise JobError(
                f"backend {plan.backend!r} is a managed provider: it trains on the provider's "
                f"machines, so launcher {name!r} cannot run it",
                where="resources.launcher",
                fix="use a local backend (trl, unsloth, axolotl) with this launcher, or drop "
                "resources.launcher",
            )
        rows = [_managed_row(job, option, plan.backend) for option in LAUNCHER_FIELDS]
        return _with_rows(job, plan, rows, launcher="local", native={}, notes=[])
    launcher = get_launcher(name)
    rows = [*launcher.plan_rows(job), *launcher.width_rows(job, plan.backend)]
    native = redact_tree(launcher.native_request(job, plan))
    plan = plan.model_copy(update={"notes": launcher.revise_notes(job, list(plan.notes))})
    plan = _with_rows(job, plan, rows, launcher=name, native=native, notes=launcher.notes(job))
    plan = plan.model_copy(update={"launcher_format": launcher.native_format})
    dropped = [r for r in rows if r.status == "dropped" and r.user_set]
    if job.strict and dropped:
        raise UnsupportedOption(
            f"{plan.backend} (launcher {name})",
            {r.option: r.reason or "not supported" for r in dropped},
        )
    return plan


def _managed_row(job: Job, option: str, backend: str) -> PlanRow:
    is_set = option in job.options_set()
    value = option_value(job, option)
    dropped = is_set and value not in (None, False, "local")
    return PlanRow(
        option=option,
        value=value,
        status="dropped" if dropped else "defaulted",
        reason=f"{backend} trains on the provider's machines",
        user_set=is_set,
    )


def _with_rows(
    job: Job,
    plan: Plan,
    rows: list[PlanRow],
    *,
    launcher: str,
    native: dict[str, Any],
    notes: list[str],
) -> Plan:
    """``plan`` with the launcher rows after the resources rows (replacing any a backend made;
    a width row takes the place of the backend's row for that option)."""
    owned = {r.option for r in rows}
    places = {r.option: i for i, r in enumerate(plan.rows)}
    in_place = {r.option: r for r in rows if r.option not in LAUNCHER_FIELDS and r.option in places}
    rows = [r for r in rows if r.option not in in_place]
    kept = [in_place.get(r.option, r) for r in plan.rows if r.option not in owned - set(in_place)]
    at = max((i + 1 for i, r in enumerate(kept) if r.option.startswith("resources.")), default=0)
    return plan.model_copy(
        update={
            "rows": kept[:at] + rows + kept[at:],
            "launcher": launcher,
            "launcher_native": native,
            "notes": [*plan.notes, *notes],
        }
    )


__all__ = [
    "LAUNCHER_FIELDS",
    "Launcher",
    "LauncherUnavailable",
    "apply_launcher",
    "redacted_options",
    "require_secrets",
    "worker_runs_here",
]
