"""The Ray launcher: the worker runs as a Ray job on a Ray cluster (``resources.launcher="ray"``).

Submitted through Ray's Job Submission API (`ray.job_submission.JobSubmissionClient`) to the
cluster at ``launcher_options.ray.address`` or ``$RAY_ADDRESS`` (the dashboard, e.g.
``http://HEAD:8265``). The job's entrypoint is tunesdk's worker on the cluster
(`tunesdk.launchers.ray_entry`); the run spec and every local file the job names travel as the
job's ``runtime_env.working_dir`` (`tunesdk.launchers.ray_bundle`).

- **Width.** One training process: the Ray job's entrypoint runs the backend's worker, on a node
  with ``entrypoint_num_gpus``/``entrypoint_num_cpus`` free. ``resources.nodes × processes``
  above one: Ray Train's ``TorchTrainer`` with that many workers (gloo on CPUs, NCCL on GPUs),
  each running the backend's multi-process path as one rank.
- **Events.** The entrypoint prints each event as a tagged line; `poll` reads the job's log
  from the offset it reached, appends each event once (``source_id`` ``ray:<submission>:<seq>``,
  so a re-poll or a second follower after ``Run.attach`` never duplicates one) and keeps the
  other lines in the run's ``worker.log``.
- **Outputs.** Written to ``launcher_options.ray.storage``: a folder every node and this machine
  see (NFS, a cluster on this machine), used in place; or an fsspec URI (``s3://bucket/prefix``),
  the final model uploaded there by the cluster and downloaded into the run's ``outputs/`` here.
  Without ``storage``, a cluster on this machine (a loopback address) writes straight into the
  run's ``outputs/``; a remote one is refused before anything is submitted.
- **Cancel** is ``stop_job``: the single worker saves a checkpoint at its next step (Ray gives
  it ``cancel_grace_s``, through ``RAY_JOB_STOP_WAIT_TIME_S``); Ray Train ranks stop at their next
  step too. A job that ends without its own terminal event ends Cancelled (stopped), or Failed
  with Ray's message.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlparse

from tunesdk.backend import Check, PlanRow
from tunesdk.errors import CONNECTION_ERROR, JobError, ProviderError, TuneError
from tunesdk.events import Cancelled, Completed, Event, Failed, Log, parse_event
from tunesdk.launchers.base import Launcher, LauncherUnavailable
from tunesdk.launchers.ray_bundle import (
    BUNDLE_DIR,
    DEFAULT_MAX_SHIP_MB,
    check_shippable,
    local_files,
    stage,
)
from tunesdk.launchers.ray_entry import TAG
from tunesdk.paths import is_remote

if TYPE_CHECKING:
    from tunesdk.job import Job
    from tunesdk.local import LocalBackend
    from tunesdk.plans import Plan
    from tunesdk.store import RunRecord

ENTRYPOINT_MODULE = "tunesdk.launchers.ray_entry"
TERMINAL = ("STOPPED", "SUCCEEDED", "FAILED")
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
INSTALL_FIX = "pip install 'tunesdk[ray]'"
#: seconds a job may wait for the cluster's resources before the run logs a warning about it
PENDING_NOTE_S = 30.0
#: seconds the dashboard gets to answer before a submission (or a reattach) gives up
PROBE_TIMEOUT_S = 10.0


def accelerator_spec(value: str | None) -> tuple[str | None, int]:
    """``"H100:8"`` -> ("H100", 8); ``"H100"`` -> ("H100", 1); None -> (None, 0)."""
    if not value:
        return None, 0
    kind, _, count = value.partition(":")
    try:
        number = int(count) if count else 1
    except ValueError:
        raise JobError(
            f"resources.accelerators={value!r} is not TYPE:COUNT",
            where="resources.accelerators",
            fix='write the type and the count per node, e.g. "H100:8" or "A10G:1"',
        ) from None
    if number < 1 or not kind.strip():
        raise JobError(
            f"resources.accelerators={value!r} needs a type and a count ≥ 1",
            where="resources.accelerators",
            fix='e.g. "H100:8"',
        )
    return kind.strip(), number


class Layout:
    """How wide a job runs on the cluster, from ``resources``."""

    def __init__(self, job: Job, options: dict[str, Any]) -> None:
        resources = job.resources
        self.accelerator, count = accelerator_spec(resources.accelerators)  # checked: TYPE:COUNT
        if (
            resources.processes > 1
            and count
            and resources.gpus is None
            and count != resources.processes
        ):
            # as SkyPilot: one rank per accelerator, so the two counts must agree
            raise JobError(
                f"resources.processes={resources.processes} but resources.accelerators="
                f"{resources.accelerators!r}: each Ray Train worker holds one accelerator",
                where="resources.processes",
                fix=f"drop resources.processes (one worker per accelerator) or set it to {count}",
            )
        self.gpus_per_node = resources.gpus_per_node() or 0
        per_node = resources.processes_per_node()  # as the backend counts its ranks
        self.processes_per_node = per_node
        self.nodes = resources.nodes
        self.world_size = per_node * resources.nodes
        self.use_gpu = self.gpus_per_node > 0
        self.cpus = float(options.get("num_cpus", 1))

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def submission(self) -> dict[str, Any]:
        """The entrypoint's resources (``submit_job`` keyword arguments)."""
        if self.distributed:  # the driver only coordinates; Ray Train's workers hold resources
            return {"entrypoint_num_cpus": 0}
        request: dict[str, Any] = {"entrypoint_num_cpus": self.cpus}
        if self.gpus_per_node:
            request["entrypoint_num_gpus"] = self.gpus_per_node
        if self.accelerator:
            # Ray labels each node with its GPU type: a sliver of it pins the job to that type
            request["entrypoint_resources"] = {f"accelerator_type:{self.accelerator}": 0.001}
        return request

    def trainer(self) -> dict[str, Any] | None:
        """Ray Train's ScalingConfig for several ranks, or None for one process."""
        if not self.distributed:
            return None
        per_worker: dict[str, float] = {"CPU": self.cpus}
        if self.use_gpu:
            per_worker["GPU"] = 1.0
        return {
            "num_workers": self.world_size,
            "use_gpu": self.use_gpu,
            "resources_per_worker": per_worker,
            "accelerator_type": self.accelerator,
        }


class RayLauncher(Launcher):
    """Runs the worker as a Ray job (see the module docstring)."""

    name: ClassVar[str] = "ray"
    option_keys: ClassVar[dict[str, str] | None] = {
        "address": "the cluster's dashboard address (default $RAY_ADDRESS)",
        "storage": "where the cluster writes outputs: a shared folder or an fsspec URI",
        "shared_paths": "folders the cluster sees at the same path (not shipped)",
        "runtime_env": "merged into the job's runtime_env (pip, env_vars, py_modules, ...)",
        "num_cpus": "CPUs per training process (default 1)",
        "python": "the cluster's interpreter with tunesdk and the backend (default python)",
        "max_ship_mb": f"most MiB of local files to ship (default {DEFAULT_MAX_SHIP_MB})",
        "metadata": "Ray job metadata (string to string)",
    }
    honours: ClassVar[dict[str, str]] = {
        "resources.launcher": "ray job",
        "resources.accelerators": "entrypoint_num_gpus / ScalingConfig",
    }

    def __init__(self) -> None:
        self._clients: dict[str, Any] = {}
        self._pending: dict[str, int] = {}  # run id -> log offset reached by the last poll

    # ---- usable? ------------------------------------------------------------------------------

    def check(self) -> Check:
        missing = [m for m in ("ray", "requests", "aiohttp") if importlib.util.find_spec(m) is None]
        if missing:
            return Check(
                usable=False,
                reason=f"missing {', '.join(missing)} (Ray's job submission client)",
                fix=INSTALL_FIX,
            )
        from importlib.metadata import version

        return Check(usable=True, versions={"ray": version("ray")})

    def check_job(self, job: Job) -> Check:
        check = self.check()
        if not check.usable:
            return check
        if not self.address(job):
            return Check(
                usable=False,
                reason="no Ray cluster address",
                fix="set launcher_options: {ray: {address: 'http://HEAD:8265'}} or $RAY_ADDRESS",
            )
        return check

    def address(self, job: Job) -> str | None:
        given = self.options(job).get("address") or os.environ.get("RAY_ADDRESS")
        return str(given) if given else None

    # ---- planning -----------------------------------------------------------------------------

    def plan_rows(self, job: Job) -> list[PlanRow]:
        rows = super().plan_rows(job)
        layout = Layout(job, self.options(job))
        reasons = {
            "resources.cloud": "a Ray cluster runs where it was started; provision machines with "
            "the skypilot launcher (or KubeRay / the Ray autoscaler)",
            "resources.spot": "the Ray cluster's own node types decide; use skypilot for spot",
        }
        out = []
        for row in rows:
            if row.option in reasons:
                row = row.model_copy(update={"reason": reasons[row.option]})
            if row.option == "resources.accelerators" and row.value:
                native = "ScalingConfig.use_gpu" if layout.distributed else "entrypoint_num_gpus"
                row = row.model_copy(update={"native": native, "native_value": row.value})
            out.append(row)
        return out

    def width_rows(self, job: Job, backend: str) -> list[PlanRow]:
        """How many ranks Ray starts: one entrypoint process, or ``nodes × processes`` Ray Train
        workers (each one rank of the backend's worker; Ray Train makes the process group, so
        the backend's accelerate config and rendezvous are not used)."""
        layout = Layout(job, self.options(job))
        user_set = job.options_set()
        nodes, processes = job.resources.nodes, layout.processes_per_node
        if not layout.distributed:
            return [
                PlanRow(
                    option="resources.processes",
                    value=job.resources.processes,
                    status="mapped" if "resources.processes" in user_set else "defaulted",
                    native="ray job entrypoint",
                    native_value="one process",
                    reason="the Ray job's entrypoint runs the backend's worker as one process",
                    user_set="resources.processes" in user_set,
                ),
                PlanRow(
                    option="resources.nodes",
                    value=nodes,
                    status="mapped" if "resources.nodes" in user_set else "defaulted",
                    native="ray job entrypoint",
                    native_value="one node",
                    reason="one node with the entrypoint's resources free",
                    user_set="resources.nodes" in user_set,
                ),
            ]
        workers = f"{nodes} node(s) × {processes} process(es) = {layout.world_size} workers"
        counted = (
            "resources.processes"
            if job.resources.processes > 1
            else "the GPU count per node (resources.gpus / accelerators)"
        )
        return [
            PlanRow(
                option="resources.processes",
                value=job.resources.processes,
                status="mapped",
                native="TorchTrainer ScalingConfig.num_workers",
                native_value=layout.world_size,
                reason=f"Ray Train workers, one rank each: {workers} ({processes} per node from "
                f"{counted}); Ray Train sets up the torch process group, no accelerate launch",
                user_set="resources.processes" in user_set,
            ),
            PlanRow(
                option="resources.nodes",
                value=nodes,
                status="mapped" if "resources.nodes" in user_set else "defaulted",
                native="TorchTrainer ScalingConfig.num_workers",
                native_value=layout.world_size,
                reason=f"{workers}; Ray places them on the cluster's nodes (no rendezvous options)",
                user_set="resources.nodes" in user_set,
            ),
        ]

    def revise_notes(self, job: Job, notes: list[str]) -> list[str]:
        """Ray Train workers run the ranks themselves: no ``accelerate launch`` note."""
        if not Layout(job, self.options(job)).distributed:
            return notes
        return [n for n in notes if not n.startswith("launched with accelerate")]

    def native_request(self, job: Job, plan: Plan) -> dict[str, Any]:
        options = self.options(job)
        layout = Layout(job, options)
        shared = [str(p) for p in options.get("shared_paths", [])]
        shipped = {k: [str(p) for p in v] for k, v in local_files(job, shared).items()}
        request: dict[str, Any] = {
            "address": self.address(job) or "$RAY_ADDRESS (unset)",
            "submission_id": "tunesdk-<run id>",
            "entrypoint": self.entrypoint(job),
            "runtime_env": {
                "working_dir": f"<run folder>/{BUNDLE_DIR} (run spec; ships {shipped or 'no files'})",
                **self._runtime_env_extra(job),
            },
            **layout.submission(),
        }
        trainer = layout.trainer()
        if trainer is not None:
            request["ray_train"] = {"TorchTrainer": {"scaling_config": trainer}}
        request["storage"] = (
            options.get("storage") or "<run folder>/outputs (cluster on this machine)"
        )
        return request

    def notes(self, job: Job) -> list[str]:
        notes = [
            "ray: the cluster's Python must have tunesdk and the backend package installed "
            "(or add them with launcher_options.ray.runtime_env.pip)"
        ]
        layout = Layout(job, self.options(job))
        if layout.distributed:
            notes.append(
                f"ray: {layout.world_size} Ray Train workers (resources.nodes × processes) run "
                "the ranks; Ray Train sets up the process group (the backend's rendezvous "
                "options are not needed)"
            )
        return notes

    def entrypoint(self, job: Job) -> str:
        python = str(self.options(job).get("python", "python"))
        return f"{python} -m {ENTRYPOINT_MODULE}"

    def _runtime_env_extra(self, job: Job) -> dict[str, Any]:
        extra = self.options(job).get("runtime_env", {})
        if not isinstance(extra, dict):
            raise JobError(
                "launcher_options.ray.runtime_env must be a mapping",
                where="launcher_options.ray.runtime_env",
                fix="e.g. {pip: ['tunesdk-trl'], env_vars: {HF_TOKEN: ...}}",
            )
        return dict(extra)

    # ---- before launch ------------------------------------------------------------------------

    def preflight(self, job: Job, plan: Plan, backend: LocalBackend) -> None:
        """The address answers (named in the error otherwise), outputs can come back, and the
        local files fit in a working_dir — all before anything is submitted."""
        options = self.options(job)
        address = self.address(job) or ""
        self._check_storage(job, options, address)
        shared = [str(p) for p in options.get("shared_paths", [])]
        check_shippable(job, shared, float(options.get("max_ship_mb", DEFAULT_MAX_SHIP_MB)))
        self.client(address)

    def _check_storage(self, job: Job, options: dict[str, Any], address: str) -> None:
        storage = options.get("storage")
        if storage is None and not job.output_dir and not same_machine(address):
            raise JobError(
                f"the Ray cluster at {address} is not on this machine, so it cannot write the "
                "model into this machine's run folder",
                where="launcher_options.ray.storage",
                fix="set launcher_options.ray.storage to a folder the cluster and this machine "
                "share (e.g. /mnt/shared/tunesdk) or an fsspec URI (s3://bucket/prefix)",
            )
        uri = isinstance(storage, str) and is_remote(storage)
        if uri and importlib.util.find_spec("fsspec") is None:
            raise JobError(
                f"storage {storage} is a URI, read back with fsspec, which is not installed",
                where="launcher_options.ray.storage",
                fix="pip install fsspec (and s3fs / gcsfs for s3:// / gs://)",
            )

    def client(self, address: str) -> Any:
        """A JobSubmissionClient for ``address`` (cached); LauncherUnavailable naming the
        address when nothing answers there."""
        if address in self._clients:
            return self._clients[address]
        self._probe(address)
        from ray.job_submission import JobSubmissionClient

        try:
            client = JobSubmissionClient(address)
        except Exception as exc:  # ConnectionError, or ray's own RuntimeError wording
            raise LauncherUnavailable(
                self.name,
                f"no Ray cluster answers at {address} ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:200] if str(exc) else ''})",
                fix="start it (`ray start --head`) or point launcher_options.ray.address / "
                "$RAY_ADDRESS at its dashboard, e.g. http://HEAD:8265",
            ) from None
        self._clients[address] = client
        return client

    def _probe(self, address: str) -> None:
        """Ray's client waits on a silent host without a timeout: ask the dashboard first."""
        if address == "auto" or address.startswith("ray://"):
            return
        import httpx

        url = address if "://" in address else f"http://{address}"
        try:
            httpx.get(f"{url.rstrip('/')}/api/version", timeout=PROBE_TIMEOUT_S)
        except httpx.HTTPError as exc:
            raise LauncherUnavailable(
                self.name,
                f"no Ray cluster answers at {address} ({type(exc).__name__}: {exc})"[:300],
                fix="start it (`ray start --head`) or point launcher_options.ray.address / "
                "$RAY_ADDRESS at its dashboard, e.g. http://HEAD:8265",
            ) from None

    # ---- lifecycle ----------------------------------------------------------------------------

    def launch(self, backend: LocalBackend, run: RunRecord) -> None:
        job = run.job
        options = self.options(job)
        address = self.address(job) or ""
        layout = Layout(job, options)
        storage = options.get("storage")
        spec: dict[str, Any] = {
            "run_id": run.run_id,
            "backend": run.backend,
            "world_size": layout.world_size,
            "use_gpu": layout.use_gpu,
            "cpus_per_worker": layout.cpus,
            "accelerator_type": layout.accelerator,
            "backend_state": {
                key: value
                for key, value in run.state.items()
                if key in ("resume_from", "backend_class", "backend_path")
            },
        }
        if isinstance(storage, str) and is_remote(storage):
            spec["output_dir"] = None  # the node's scratch, uploaded to the URI at the end
            spec["storage_uri"] = storage
        elif storage:
            spec["output_dir"] = str(Path(str(storage)).expanduser() / run.run_id)
            spec["train_storage"] = str(Path(str(storage)).expanduser() / run.run_id / "ray")
        else:
            spec["output_dir"] = job.output_dir or str(run.outputs_dir)
        shared = [str(p) for p in options.get("shared_paths", [])]
        bundle = stage(run, spec, shared)
        submission_id = f"tunesdk-{run.run_id}"
        grace = int(self.cancel_grace_s or backend.cancel_grace_s)
        runtime_env = self._runtime_env_extra(job)
        env_vars = {"RAY_JOB_STOP_WAIT_TIME_S": str(grace), **runtime_env.pop("env_vars", {})}
        runtime_env = {"working_dir": str(bundle), "env_vars": env_vars, **runtime_env}
        run.update_state(
            ray_address=address,
            ray_submission_id=submission_id,
            ray_log_offset=0,
            ray_submitted_at=time.time(),
        )
        client = self.client(address)
        metadata = {str(k): str(v) for k, v in options.get("metadata", {}).items()}
        client.submit_job(
            entrypoint=self.entrypoint(job),
            submission_id=submission_id,
            runtime_env=runtime_env,
            metadata={"tunesdk_run_id": run.run_id, **metadata},
            **layout.submission(),
        )
        # Ray has uploaded the working_dir to the cluster: the local copies (a model folder, the
        # data) would only take disk space in the run folder
        shutil.rmtree(bundle, ignore_errors=True)
        run.log(f"submitted to the Ray cluster at {address} as {submission_id}")

    def _client_for(self, run: RunRecord) -> tuple[Any, str]:
        state = run.state
        submission_id = state.get("ray_submission_id")
        if not submission_id:
            raise TuneError(
                f"run {run.run_id} has no Ray submission id: it was never submitted",
                fix=f"start it again with `tunesdk resume {run.run_id}`",
            )
        try:
            client = self.client(str(state.get("ray_address", "")))
        except LauncherUnavailable as exc:  # a live run's cluster away for a while: heals
            raise ProviderError(
                exc.reason,
                provider="ray",
                code=CONNECTION_ERROR,
                fix="the run is followed again when the cluster answers",
            ) from None
        return client, str(submission_id)

    def worker_alive(self, backend: LocalBackend, run: RunRecord) -> bool:
        client, submission_id = self._client_for(run)
        return str(client.get_job_status(submission_id)) not in TERMINAL

    def poll(self, backend: LocalBackend, run: RunRecord) -> list[Event]:
        if run.terminal:
            return []
        client, submission_id = self._client_for(run)
        offset = self._pending.pop(run.run_id, None)
        stored = int(run.state.get("ray_log_offset", 0))
        if offset is None:
            offset = stored
        elif offset != stored:  # the events read last time have been appended by now
            run.update_state(ray_log_offset=offset)
        try:
            status = str(client.get_job_status(submission_id))  # before the log: none after it
            text = client.get_job_logs(submission_id)
        except Exception as exc:  # the dashboard restarting, a dropped connection: heals
            if "does not exist" in str(exc) or "status code 404" in str(exc):
                return [
                    Failed(
                        error=f"the Ray cluster at {run.state.get('ray_address')} has no job "
                        f"{submission_id} (the cluster was replaced, or the job deleted)",
                        error_type="RayJobLost",
                        details_path=str(run.worker_log),
                    )
                ]
            raise ProviderError(
                f"the Ray cluster at {run.state.get('ray_address')} did not answer for "
                f"{submission_id} ({type(exc).__name__}: {str(exc)[:200]})",
                provider="ray",
                code=CONNECTION_ERROR,
                fix="check the cluster (`ray status` on its head node); the run is followed "
                "again when it answers",
            ) from None
        end = text.rfind("\n") + 1
        events, ended = self._relay(run, submission_id, text[offset:end] if end > offset else "")
        self._pending[run.run_id] = max(end, offset)
        if status == "PENDING" and not events:
            return self._pending_note(run, submission_id)
        if ended or status not in TERMINAL:
            return events
        return [*events, self._ending(run, client, submission_id, status)]

    def _relay(self, run: RunRecord, submission_id: str, text: str) -> tuple[list[Event], bool]:
        events: list[Event] = []
        other: list[str] = []
        ended = False
        seen: set[int] = set()  # the driver repeats Ray Train's final event: take it once
        for line in text.splitlines():
            at = line.find(TAG)
            if at < 0:
                other.append(line)
                continue
            try:
                event = parse_event(line[at + len(TAG) :])
            except Exception:
                other.append(line)
                continue
            if event.seq in seen or (
                isinstance(event, Log) and "overfit" in event.message.lower()
            ):  # the overfitting warning: this run's own store raises it from the same evals
                continue
            seen.add(event.seq)
            ended = ended or event.terminal
            event = self._localize(run, event)
            events.append(
                event.model_copy(update={"source_id": f"ray:{submission_id}:{event.seq}"})
            )
        if other:
            with open(run.worker_log, "a", encoding="utf-8") as log:
                log.write("\n".join(other) + "\n")
        return events, ended

    def _localize(self, run: RunRecord, event: Event) -> Event:
        """A Completed model at a storage URI is downloaded into the run's outputs."""
        if not isinstance(event, Completed) or event.model is None:
            return event
        path = getattr(event.model, "path", None)
        if not isinstance(path, str) or not is_remote(path):
            return event
        target = run.outputs_dir / path.rstrip("/").rsplit("/", 1)[-1]
        download(path, target)
        return event.model_copy(
            update={"model": event.model.model_copy(update={"path": str(target)})}
        )

    def _pending_note(self, run: RunRecord, submission_id: str) -> list[Event]:
        """One Log when the job has waited `PENDING_NOTE_S` for the cluster to start it."""
        state = run.state
        now = time.time()
        waited = now - float(state.get("ray_submitted_at") or now)
        if waited < PENDING_NOTE_S or state.get("ray_pending_noted"):
            return []
        run.update_state(ray_pending_noted=True)
        resources = Layout(run.job, self.options(run.job))
        wanted = resources.trainer() or resources.submission()
        return [
            Log(
                level="warning",
                message=f"Ray job {submission_id} has been pending for {waited:.0f} s: the "
                f"cluster has not found {wanted} free yet (`ray status` shows what it has)",
            )
        ]

    def _ending(self, run: RunRecord, client: Any, submission_id: str, status: str) -> Event:
        """The terminal event of a Ray job that ended without printing its own."""
        if status == "STOPPED" or run.should_stop():
            return Cancelled()
        info = client.get_job_info(submission_id)
        message = getattr(info, "message", None) or ""
        if status == "SUCCEEDED":
            message = "the Ray job ended without reporting a result"
        return Failed(
            error=f"Ray job {submission_id} {status.lower()}: {message}"[:500],
            error_type="RayJobFailed",
            details_path=str(run.worker_log),
        )

    def cancel(self, backend: LocalBackend, run: RunRecord) -> None:
        run.mark_cancel_requested()
        client, submission_id = self._client_for(run)
        client.stop_job(submission_id)

    def kill(self, backend: LocalBackend, run: RunRecord) -> None:
        """Ray SIGKILLs a stopped job after its stop wait; ask again in case the first was lost."""
        client, submission_id = self._client_for(run)
        if str(client.get_job_status(submission_id)) not in TERMINAL:
            client.stop_job(submission_id)


def same_machine(address: str) -> bool:
    """True when ``address`` names this machine (so its cluster writes where we read)."""
    if address in ("", "auto"):
        return address == "auto"
    host = urlparse(address if "://" in address else f"http://{address}").hostname or ""
    return host in LOOPBACK


def download(uri: str, target: Path) -> None:
    """Copy a file or folder at an fsspec URI to ``target``."""
    from fsspec.core import url_to_fs

    fs, path = url_to_fs(uri)
    target.parent.mkdir(parents=True, exist_ok=True)
    if fs.isdir(path):
        fs.get(path.rstrip("/") + "/", str(target), recursive=True)
    else:
        fs.get(path, str(target))


def parse_tagged(text: str) -> list[dict[str, Any]]:
    """Every tagged event line of a Ray job log as a dict (for tools reading logs by hand)."""
    found = []
    for line in text.splitlines():
        at = line.find(TAG)
        if at >= 0:
            found.append(json.loads(line[at + len(TAG) :]))
    return found


__all__ = ["RayLauncher", "accelerator_spec", "same_machine"]
