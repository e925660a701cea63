"""The ``skypilot`` launcher: a local backend's worker runs as a SkyPilot managed job.

``job.run(backend="trl", launcher="skypilot")`` builds the task (`tunesdk.launchers.skypilot.task`),
``sky jobs launch``-es it through SkyPilot's own interpreter (`tunesdk.launchers.skypilot.client`)
and follows it:

| SkyPilot status | tunesdk event |
|---|---|
| PENDING, STARTING | StatusChanged(queued) with SkyPilot's status as ``provider_status`` |
| RUNNING | StatusChanged(running); then the worker's own events, read from the job log |
| RECOVERING | a warning Log (a preempted or failed node; training resumes from the last checkpoint in the outputs bucket) |
| CANCELLING | a Log |
| SUCCEEDED | Completed: the worker's, its model in the outputs bucket |
| FAILED_* | Failed: the worker's reason when it wrote one, else SkyPilot's ``failure_reason`` (error_type is the status, e.g. FAILED_NO_RESOURCE) |
| CANCELLED | Cancelled, with the last checkpoint |

The worker's events come from the job log: the node script prints each as a tagged line, with
the remote run id and seq; each is relayed once (its ``source_id`` is
``skypilot:<job id>:<remote run id>:<remote seq>``), so the local run gets its own gap-free seq
however often it is polled, by the submitter or after ``Run.attach``. The worker's terminal event
is held back until SkyPilot's status is terminal too: a managed job may restart after a failure
(``max_restarts_on_errors``) or a preemption.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from tunesdk.backend import Check, PlanRow
from tunesdk.errors import CONNECTION_ERROR, JobError, ProviderError
from tunesdk.events import Cancelled, Completed, Event, Failed, Log, StatusChanged, parse_event
from tunesdk.launchers.base import Launcher, LauncherUnavailable
from tunesdk.launchers.skypilot import task as tasks
from tunesdk.launchers.skypilot.client import (
    INSTALL_FIX,
    JobStatus,
    SkyJobs,
    SkyPilotError,
    SkyPilotMissing,
    find_interpreter,
)
from tunesdk.launchers.skypilot.protocol import tagged

if TYPE_CHECKING:
    from tunesdk.job import Job
    from tunesdk.local import LocalBackend
    from tunesdk.plans import Plan
    from tunesdk.store import RunRecord

#: SkyPilot's managed-job statuses (``sky.jobs.ManagedJobStatus``, SkyPilot 0.14)
ACTIVE = ("PENDING", "SUBMITTED", "STARTING", "RUNNING", "WINDING_DOWN", "RECOVERING", "CANCELLING")
FAILED = (
    "FAILED",
    "FAILED_SETUP",
    "FAILED_PRECHECKS",
    "FAILED_NO_RESOURCE",
    "FAILED_CONTROLLER",
)
TERMINAL = ("SUCCEEDED", "CANCELLED", *FAILED)
#: what to do about each failure, after SkyPilot's own reason
FAILURE_FIXES = {
    "FAILED_SETUP": "the setup step (pip install of tunesdk and the backend) failed: see "
    "`sky jobs logs {job_id}`; launcher_options.skypilot.install picks other specs",
    "FAILED_PRECHECKS": "SkyPilot found no cloud or no offer matching the resources: run "
    "`sky check` and `sky show-gpus`, or change resources.accelerators / resources.cloud",
    "FAILED_NO_RESOURCE": "no capacity for these resources anywhere allowed: try another "
    "accelerator, region or cloud, or resources.spot=false",
    "FAILED_CONTROLLER": "SkyPilot's jobs controller failed: `sky jobs logs --controller {job_id}`",
    "FAILED": "the training failed on the cluster: `sky jobs logs {job_id}`",
}
#: accelerator names checked when SkyPilot has neither a cached catalog nor its own list:
#: SkyPilot 0.14's canonical GPU names (``sky.utils.gpu_names``), its AWS/Intel accelerators,
#: TPUs by prefix (``tpu-v5e-8``)
KNOWN_ACCELERATORS = (
    *("GB300", "GB200", "B300", "B200", "B100", "GH200", "H200", "H100-80GB", "H100-MEGA"),
    *("H100", "A100-80GB", "A100", "A10G", "A10", "A16", "A30", "A40", "RTX6000-Ada", "L40S"),
    *("L40", "L4", "A6000", "A5000", "A4000", "V100-32GB", "V100", "P100", "P40", "P4000"),
    *("P4", "T4g", "T4", "K80", "M60", "Inferentia", "Inferentia2", "Trainium", "Trainium2"),
    "Gaudi HL-205",
)
#: log lines asked for first; widened (×4) while older events are missing, up to the whole log
TAIL = 400
MAX_TAIL = 100_000
#: seconds between SkyPilot calls while following a run (each is a process: ~1 s of SkyPilot
#: import); ``$TUNESDK_POLL_INTERVAL`` overrides it
POLL_SECONDS = 5.0


class SkyPilotLauncher(Launcher):
    """Runs the worker as a SkyPilot managed job (``resources.launcher="skypilot"``)."""

    name: ClassVar[str] = "skypilot"
    native_format: ClassVar[Literal["json", "yaml"]] = "yaml"
    option_keys: ClassVar[dict[str, str] | None] = tasks.OPTION_KEYS
    honours: ClassVar[dict[str, str]] = {
        "resources.launcher": "launcher",
        "resources.accelerators": "resources.accelerators",
        "resources.cloud": "resources.infra",
        "resources.spot": "resources.use_spot",
    }
    #: SkyPilot's cancel tears the cluster down; it does not need a second, harder stop
    cancel_grace_s: ClassVar[float | None] = 900.0

    def __init__(self) -> None:
        self._last_poll: dict[str, float] = {}

    # ---- is it usable? ------------------------------------------------------------------------

    def check(self) -> Check:
        """Usable when an interpreter with SkyPilot is found (no process is started)."""
        try:
            found = find_interpreter()
        except SkyPilotMissing as exc:
            return Check(usable=False, reason=exc.message, fix=exc.fix)
        if found is None:
            return Check(usable=False, reason="SkyPilot is not installed here", fix=INSTALL_FIX)
        return Check(usable=True, versions={"skypilot-python": str(found.python)})

    def client(self) -> SkyJobs:
        """The SkyPilot boundary; LauncherUnavailable with the fix when SkyPilot is missing."""
        try:
            found = find_interpreter()
        except SkyPilotMissing as exc:
            raise LauncherUnavailable(self.name, exc.message, fix=exc.fix) from None
        if found is None:
            raise LauncherUnavailable(self.name, "SkyPilot is not installed here", fix=INSTALL_FIX)
        return SkyJobs(found.python)

    # ---- planning -----------------------------------------------------------------------------

    def native_request(self, job: Job, plan: Plan) -> dict[str, Any]:
        """The SkyPilot task YAML (as a dict) that ``sky jobs launch`` runs as it is."""
        return tasks.build_task(job, plan.backend)

    def width_rows(self, job: Job, backend: str) -> list[PlanRow]:
        """What SkyPilot starts: ``num_nodes`` machines, each running the node script, which
        starts the ranks of that node — the backend's ``accelerate launch`` (torchrun) with
        ``processes`` per node for trl/unsloth, a plain torchrun with one rank per GPU of the
        node (``SKYPILOT_NUM_GPUS_PER_NODE``, from ``resources.accelerators``) for the others."""
        from tunesdk.launchers.skypilot.node import ACCELERATE_BACKENDS

        resources = job.resources
        user_set = job.options_set()
        nodes = resources.nodes
        rendezvous = (
            "; each node's rank and node 0's address come from SKYPILOT_NODE_RANK / "
            "SKYPILOT_NODE_IPS (no rendezvous options needed)"
            if nodes > 1
            else ""
        )
        rows = [
            PlanRow(
                option="resources.nodes",
                value=nodes,
                status="mapped" if "resources.nodes" in user_set else "defaulted",
                native="num_nodes",
                native_value=nodes,
                reason=f"SkyPilot brings up {nodes} node(s), each running the node script"
                + rendezvous,
                user_set="resources.nodes" in user_set,
            )
        ]
        if backend in ACCELERATE_BACKENDS:
            per_node = resources.processes_per_node()
            native, source = (
                "accelerate launch (torchrun) on each node",
                ("resources.processes" if resources.processes > 1 else "the GPU count per node"),
            )
        elif nodes > 1:
            per_node = resources.gpus_per_node() or 1
            native, source = (
                "torchrun --nproc_per_node=$SKYPILOT_NUM_GPUS_PER_NODE",
                ("the node's GPUs (resources.accelerators), not resources.processes"),
            )
        else:
            return rows  # one node: the backend's own launch command runs as it does here
        world = per_node * nodes
        rows.append(
            PlanRow(
                option="resources.processes",
                value=resources.processes,
                status="mapped",
                native=native,
                native_value=f"{nodes} node(s) × {per_node} process(es) = {world} ranks",
                reason=f"{per_node} per node from {source}",
                user_set="resources.processes" in user_set,
            )
        )
        return rows

    def revise_notes(self, job: Job, notes: list[str]) -> list[str]:
        """The backend's launch note names this machine's interpreter; the nodes use their own
        (the ``resources.processes`` row says how they launch)."""
        return [n for n in notes if not n.startswith("launched with accelerate")]

    def notes(self, job: Job) -> list[str]:
        options = tasks.skypilot_options(job)
        notes = [
            "skypilot: `tunesdk plan JOB -b BACKEND --launcher skypilot -o task.yaml` writes the "
            "task; `sky jobs launch task.yaml` runs it without tunesdk here (add `--secret "
            "HF_TOKEN` for gated models)"
        ]
        modules = [r for r in job.rewards if isinstance(r, str)]
        if modules:
            notes.append(
                f"skypilot: rewards {', '.join(modules)} are imported on the nodes: their "
                "package must be installed there (list tunesdk, the backend and it in "
                "launcher_options.skypilot.install)"
            )
        if job.output_dir:
            notes.append(
                f"skypilot: output_dir={job.output_dir} is this machine's; on the cluster the "
                "model and checkpoints go to <outputs>/<run id> in the outputs bucket"
            )
        if tasks.outputs_uri(options) is None:
            notes.append(
                "skypilot: no launcher_options.skypilot.outputs bucket — checkpoints and the "
                "model would stay on the cluster, which a managed job tears down (required to "
                "launch from tunesdk)"
            )
        return notes

    def preflight(self, job: Job, plan: Plan, backend: LocalBackend) -> None:
        """Before anything is launched: SkyPilot installed, an outputs bucket, the local files
        there, the accelerator known to SkyPilot, a cloud enabled, and object storage for the
        buckets."""
        options = tasks.skypilot_options(job)
        outputs = tasks.outputs_uri(options)
        if outputs is None:
            raise JobError(
                "a SkyPilot managed job tears its cluster down when it ends, so the model needs "
                "a bucket to be written to",
                where="launcher_options.skypilot.outputs",
                fix="set launcher_options: {skypilot: {outputs: s3://my-bucket/tunesdk}} (any "
                "bucket SkyPilot can mount: s3://, gs://, r2://, ...)",
            )
        local = options.get("outputs_local")
        if local is not None and not Path(str(local)).expanduser().is_dir():
            raise JobError(
                f"launcher_options.skypilot.outputs_local={local!r} is not a folder here",
                where="launcher_options.skypilot.outputs_local",
                fix=f"mount {outputs} there first (mountpoint-s3, gcsfuse, ...), or drop the "
                "option to address the model in the bucket",
            )
        task = tasks.build_task(job, backend.name, run_key="preflight")
        for remote, source in dict(task.get("file_mounts", {})).items():
            local = isinstance(source, str) and not tasks.is_bucket(source)
            if local and not Path(source).exists():
                raise JobError(
                    f"{source} does not exist on this machine, so SkyPilot cannot ship it "
                    f"to {remote}",
                    where="job.model" if remote == tasks.REMOTE_MODEL else "job.data",
                    fix="check the path, or give a bucket URI (s3://...) the cluster can read",
                )
        client = self.client()
        found = tasks.accelerators(job)
        checked = options.get("check_accelerators", True)
        names = [found[0]] if found is not None and checked else []
        catalog, clouds = client.batch(("accelerators", {"names": names}), ("clouds", {}))
        if not catalog["names"]:  # SkyPilot offered no list offline: the documented one
            lower = {n.lower(): n for n in KNOWN_ACCELERATORS}
            catalog = {
                "source": "tunesdk's list of SkyPilot 0.14 accelerator names",
                "names": list(KNOWN_ACCELERATORS),
                "known": {
                    n: lower.get(n.lower(), n)
                    for n in names
                    if n.lower() in lower or n.lower().startswith("tpu-")
                },
            }
        if names and names[0] not in catalog["known"]:
            import difflib

            known = catalog["names"]
            close = difflib.get_close_matches(names[0], known, n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise JobError(
                f"SkyPilot does not know the accelerator {names[0]!r} (checked against "
                f"{catalog['source']})",
                where="resources.accelerators",
                fix=f"{hint}see `sky show-gpus` for the names; on a Kubernetes cluster with its "
                "own GPU labels set launcher_options.skypilot.check_accelerators: false",
            )
        self._check_clouds(job, task, clouds)

    def _check_clouds(self, job: Job, task: dict[str, Any], clouds: dict[str, Any]) -> None:
        enabled = [str(c) for c in clouds.get("enabled", [])]
        if not enabled:
            raise LauncherUnavailable(
                self.name,
                "SkyPilot has no cloud or cluster enabled",
                fix="set up credentials for a cloud (or a Kubernetes/Slurm cluster) and run "
                "`sky check`",
            )
        wanted = job.resources.cloud
        if wanted:
            cloud = wanted.split("/", 1)[0].lower()
            aliases = {"k8s": "kubernetes"}
            cloud = aliases.get(cloud, cloud)
            if cloud not in {c.lower() for c in enabled}:
                raise LauncherUnavailable(
                    self.name,
                    f"resources.cloud={wanted!r}, but SkyPilot has only {', '.join(enabled)} "
                    "enabled",
                    fix=f"enable it (`sky check {cloud}`) or pick one of {', '.join(enabled)}",
                )
        storage = {str(c).lower() for c in clouds.get("storage", [])}
        buckets = [
            (remote, source if isinstance(source, str) else source.get("source"))
            for remote, source in dict(task.get("file_mounts", {})).items()
        ]
        buckets = [(r, s) for r, s in buckets if isinstance(s, str) and tasks.is_bucket(s)]
        if buckets and storage and not storage & {c.lower() for c in enabled}:
            source = buckets[0][1]
            raise LauncherUnavailable(
                self.name,
                f"{source} is a bucket, but none of the enabled clouds ({', '.join(enabled)}) "
                "has object storage SkyPilot can mount",
                fix="enable a cloud with object storage (`sky check aws`, gcp, azure, ...)",
            )

    # ---- the run lifecycle --------------------------------------------------------------------

    def launch(self, backend: LocalBackend, run: RunRecord) -> None:
        """``sky jobs launch`` the run's task; the managed job id goes into the run's state."""
        job = run.job
        options = tasks.skypilot_options(job)
        task = tasks.build_task(job, backend.name, run_key=run.run_id)
        (run.dir / "skypilot-task.yaml").write_text(_yaml(task), encoding="utf-8")
        client = self.client()
        local = options.get("outputs_local")
        run.update_state(
            skypilot_python=client.python,
            skypilot_outputs=tasks.outputs_uri(options),
            skypilot_outputs_local=str(Path(local).expanduser().resolve()) if local else None,
            skypilot_name=task["name"],
        )
        run.emit(
            StatusChanged(
                status="queued",
                provider_status="LAUNCHING",
                message=f"sky jobs launch {task['name']} ({run.dir / 'skypilot-task.yaml'})",
            )
        )
        job_id = client.launch(task, name=task["name"], secrets=tasks.secret_names(options))
        run.update_state(skypilot_job_id=job_id)
        run.log(f"SkyPilot managed job {job_id}: `sky jobs logs {job_id}`, `sky jobs queue`")

    def worker_alive(self, backend: LocalBackend, run: RunRecord) -> bool:
        """True until SkyPilot reports the managed job ended (as last seen)."""
        return not run.terminal and run.state.get("skypilot_status") not in TERMINAL

    def poll(self, backend: LocalBackend, run: RunRecord) -> list[Event]:
        """SkyPilot's status as events, the worker's events from the job log, and the terminal
        event once SkyPilot's status is terminal. Calls SkyPilot at most every `POLL_SECONDS`."""
        if run.terminal:
            return []
        job_id = run.state.get("skypilot_job_id")
        if job_id is None:
            return [Cancelled()] if run.should_stop() else []
        now = time.monotonic()
        if now - self._last_poll.get(run.run_id, 0.0) < _interval():
            return []
        self._last_poll[run.run_id] = now
        try:
            status, remote = self._read(run, int(job_id))
        except SkyPilotMissing:
            raise
        except SkyPilotError as exc:  # an API server restarting, a slow controller: retried
            raise ProviderError(
                f"SkyPilot did not report on managed job {job_id}: {exc.message}",
                provider="skypilot",
                code=CONNECTION_ERROR,
                fix="`sky api status` and `sky jobs queue` show SkyPilot's side",
            ) from None
        events = self._status_events(run, int(job_id), status)
        held: dict[str, Any] | None = None
        for data in remote:
            event = _relayed(int(job_id), _localized(run, data))
            if event.terminal:
                held = data
            else:
                events.append(event)
        if status.status in TERMINAL:
            events.append(self._ending(backend, run, int(job_id), status, held))
            self._last_poll.pop(run.run_id, None)
        if status.status is not None:
            run.update_state(skypilot_status=status.status)
        return events

    def _read(self, run: RunRecord, job_id: int) -> tuple[JobStatus, list[dict[str, Any]]]:
        """The job's status and the tagged events of its log, the window widened until it
        reaches back to events already relayed."""
        client = SkyJobs(run.state.get("skypilot_python") or self.client().python)
        seen = _relayed_seqs(run, job_id)
        tail: int | None = TAIL
        while True:
            status = client.poll(job_id, tail=tail)
            remote = [data for line in status.lines if (data := tagged(line)) is not None]
            if tail is None or len(status.lines) < tail or _reaches_back(remote, seen):
                return status, remote
            tail = tail * 4 if tail * 4 <= MAX_TAIL else None

    def _status_events(self, run: RunRecord, job_id: int, status: JobStatus) -> list[Event]:
        name = status.status
        if name is None or name in TERMINAL:
            return []
        source = f"skypilot:{job_id}:status:{name}:{status.recovery_count}"
        if name in ("PENDING", "SUBMITTED"):
            return [
                StatusChanged(
                    status="queued",
                    provider_status=name,
                    message="waiting for SkyPilot's jobs controller",
                    source_id=source,
                )
            ]
        if name == "STARTING":
            return [
                StatusChanged(
                    status="queued",
                    provider_status=name,
                    message="SkyPilot is provisioning the cluster",
                    source_id=source,
                )
            ]
        if name == "RUNNING":
            return [
                *self._recoveries(run, job_id, status, now=False),
                StatusChanged(status="running", provider_status=name, source_id=source),
            ]
        if name == "RECOVERING":
            return self._recoveries(run, job_id, status, now=True)
        return [Log(message=f"SkyPilot: managed job {job_id} is {name.lower()}", source_id=source)]

    def _recoveries(
        self, run: RunRecord, job_id: int, status: JobStatus, *, now: bool
    ) -> list[Event]:
        """A warning Log per recovery: the one under way (``now``), and any that began and
        ended between two polls (SkyPilot's ``recovery_count`` grew)."""
        logged = int(run.state.get("skypilot_recoveries", 0))
        recovering = run.state.get("skypilot_status") == "RECOVERING"
        count = max(status.recovery_count, logged + 1 if now and not recovering else logged)
        outputs = run.state.get("skypilot_outputs")
        events: list[Event] = []
        for number in range(logged + 1, count + 1):
            events.append(
                Log(
                    level="warning",
                    message=f"SkyPilot is recovering managed job {job_id} (a preempted or "
                    f"failed node; recovery {number}): training resumes from the last "
                    f"checkpoint in {outputs}/{run.run_id}",
                    source_id=f"skypilot:{job_id}:recovery:{number}",
                )
            )
        if count > logged:
            run.update_state(skypilot_recoveries=count)
        return events

    def _ending(
        self,
        backend: LocalBackend,
        run: RunRecord,
        job_id: int,
        status: JobStatus,
        held: dict[str, Any] | None,
    ) -> Event:
        source = f"skypilot:{job_id}:end"
        name = status.status or ""
        kept = _relayed(job_id, _localized(run, held)) if held is not None else None
        if name == "SUCCEEDED":
            if isinstance(kept, Completed):
                return kept.model_copy(update={"source_id": source})
            from tunesdk.events import summarize
            from tunesdk.models import LocalModel

            where = f"{run.state.get('skypilot_outputs')}/{run.run_id}/model"
            model = LocalModel(
                path=_local_path(run, where),
                base_model=_base_model(run),
                engine=backend.name,
            )
            metrics = summarize(run.events(strict=False))
            return Completed(model=model, metrics=metrics, source_id=source)
        if name == "CANCELLED" or (run.should_stop() and name not in FAILED):
            checkpoint = kept.checkpoint if isinstance(kept, Cancelled) else _last_checkpoint(run)
            return Cancelled(checkpoint=checkpoint, source_id=source)
        if isinstance(kept, Failed):
            return kept.model_copy(update={"source_id": source})
        reason = status.failure_reason or "no reason given"
        fix = FAILURE_FIXES.get(name, FAILURE_FIXES["FAILED"]).format(job_id=job_id)
        return Failed(
            error=f"SkyPilot ended managed job {job_id} {name}: {reason} — fix: {fix}",
            error_type=name or "FAILED",
            source_id=source,
        )

    def cancel(self, backend: LocalBackend, run: RunRecord) -> None:
        """``sky jobs cancel``: SkyPilot stops the job and tears the cluster down; Cancelled
        follows through `poll` once SkyPilot reports CANCELLED."""
        run.mark_cancel_requested()
        job_id = run.state.get("skypilot_job_id")
        if job_id is None:
            return  # not launched yet: poll records it cancelled
        SkyJobs(run.state.get("skypilot_python") or self.client().python).cancel(int(job_id))
        self._last_poll.pop(run.run_id, None)  # the next poll asks at once

    def kill(self, backend: LocalBackend, run: RunRecord) -> None:
        """The same cancel again (SkyPilot's cancel is already the hard stop)."""
        if run.state.get("skypilot_job_id") is not None:
            self.cancel(backend, run)


# ---- helpers ------------------------------------------------------------------------------------


def _interval() -> float:
    override = os.environ.get("TUNESDK_POLL_INTERVAL")
    return float(override) if override else POLL_SECONDS


def _relayed(job_id: int, data: dict[str, Any]) -> Event:
    """A remote event, ready for the local run: its remote run id and seq become its source."""
    source = f"skypilot:{job_id}:{data.get('run_id', '')}:{data.get('seq')}"
    fields = {k: v for k, v in data.items() if k not in ("run_id", "seq", "source_id")}
    return parse_event({**fields, "source_id": source})


def _local_path(run: RunRecord, path: str) -> str:
    """``path`` in the outputs bucket as this machine sees it (``outputs_local``), else as is."""
    bucket, local = run.state.get("skypilot_outputs"), run.state.get("skypilot_outputs_local")
    if bucket and local and (path == bucket or path.startswith(bucket + "/")):
        return local + path[len(bucket) :]
    return path


def _localized(run: RunRecord, data: dict[str, Any]) -> dict[str, Any]:
    """A remote event with its model or checkpoint path as this machine sees it."""
    model = data.get("model")
    if isinstance(model, dict) and isinstance(model.get("path"), str):
        data = {**data, "model": {**model, "path": _local_path(run, model["path"])}}
    if data.get("type") == "checkpoint" and isinstance(data.get("path"), str):
        data = {**data, "path": _local_path(run, data["path"])}
    return data


def _relayed_seqs(run: RunRecord, job_id: int) -> dict[str, int]:
    """The highest remote seq relayed so far, per remote run (one per attempt), from the run's
    own event log: read on from the byte offset reached last time (kept in the run's state)."""
    state = run.state
    seen = {str(k): int(v) for k, v in dict(state.get("skypilot_seen", {})).items()}
    offset = int(state.get("skypilot_offset", 0))
    start = offset
    prefix = f"skypilot:{job_id}:"
    try:
        with open(run.events_path, "rb") as handle:
            if os.fstat(handle.fileno()).st_size < offset:  # the log was repaired: start over
                seen, offset, start = {}, 0, -1
            handle.seek(offset)
            for raw in handle:
                if not raw.endswith(b"\n"):
                    break  # being written
                offset += len(raw)
                try:
                    source = json.loads(raw).get("source_id")
                except ValueError:
                    continue
                if not isinstance(source, str) or not source.startswith(prefix):
                    continue
                remote, _, seq = source[len(prefix) :].rpartition(":")
                if seq.isdigit() and remote and not remote.startswith(("status:", "recovery")):
                    seen[remote] = max(seen.get(remote, 0), int(seq))
    except FileNotFoundError:
        return seen
    if offset != start:
        run.update_state(skypilot_seen=seen, skypilot_offset=offset)
    return seen


def _reaches_back(remote: list[dict[str, Any]], seen: dict[str, int]) -> bool:
    """Whether the window holds every event after those relayed: its oldest attempt's first
    event in the window follows right after what was relayed of that attempt (or is its first)."""
    if not remote:
        return False
    first = remote[0]
    return int(first.get("seq", 0)) <= seen.get(str(first.get("run_id")), 0) + 1


def _last_checkpoint(run: RunRecord) -> str | None:
    from tunesdk.worker import last_checkpoint

    return last_checkpoint(run)


def _base_model(run: RunRecord) -> str | None:
    from tunesdk.job import ModelRef

    model = run.job.model
    return model.name if isinstance(model, ModelRef) else model


def _yaml(task: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(task, sort_keys=False)


__all__ = ["ACTIVE", "FAILED", "TERMINAL", "SkyPilotLauncher"]
