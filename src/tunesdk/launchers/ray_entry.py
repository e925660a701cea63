"""The Ray job's entrypoint on the cluster: ``python -m tunesdk.launchers.ray_entry``.

It runs in the job's working_dir (the bundle, see `tunesdk.launchers.ray_bundle`), turns the
bundle into an ordinary run folder on the node, runs the backend's worker there and prints
every event the worker appends as one tagged line (`TAG` + the event's JSON) on stdout, which
Ray keeps as the job's log. The submitting machine reads that log (`tunesdk.launchers.ray`)
and appends each event to its own run once.

- one training process: the backend's own worker command (``python -m tunesdk.worker RUN``)
  through the local launcher, death and cancel handled as on a workstation;
- several (``resources.nodes × processes``): Ray Train's `TorchTrainer` with that many
  workers (gloo on CPUs, NCCL on GPUs); each worker runs ``tunesdk.worker``'s `run_worker`
  in its actor, rank 0 prints the events (Ray forwards worker output to the job's log).

SIGTERM (what ``stop_job`` sends) cancels: a single worker gets the local launcher's cancel
(it saves a checkpoint at the next step); Ray Train workers see a flag in Ray's internal KV
store and stop at the next step too.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tunesdk.paths import is_remote

#: prefix of an event line in the job's log (anything before it, such as Ray's
#: ``(RayTrainWorker pid=...)`` prefix, is ignored)
TAG = "@@tunesdk-event@@ "
RUN_FOLDER = "tunesdk-run"


def _spec(cwd: Path) -> dict[str, Any]:
    from tunesdk.launchers.ray_bundle import SPEC_FILE

    spec: dict[str, Any] = json.loads((cwd / SPEC_FILE).read_text("utf-8"))
    return spec


def materialize(cwd: Path) -> Path:
    """The run folder on this node, made from the bundle once (ranks on one node share it)."""
    import fcntl

    from tunesdk.job import Job
    from tunesdk.store import redacted_job
    from tunesdk.store.files import now, write_atomic

    spec = _spec(cwd)
    folder = cwd / RUN_FOLDER / spec["run_id"]
    with open(cwd / ".tunesdk.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / "state.json").exists():
            return folder
        (folder / "inputs").mkdir(parents=True, exist_ok=True)
        (folder / "outputs").mkdir(exist_ok=True)
        job = Job.from_dict(json.loads((cwd / "job.json").read_text("utf-8")), base_dir=cwd)
        write_atomic(folder / "job.json", json.dumps(redacted_job(job), indent=2))
        write_atomic(folder / "plan.json", (cwd / "plan.json").read_text("utf-8"))
        backend_state = dict(spec.get("backend_state", {}))
        resume_from = backend_state.get("resume_from")
        if isinstance(resume_from, str) and is_remote(resume_from):
            backend_state["resume_from"] = fetch_checkpoint(resume_from, folder / "inputs")
        stamp = now()
        state = {
            "run_id": spec["run_id"],
            "backend": spec["backend"],
            "status": "created",
            "created_at": stamp,
            "updated_at": stamp,
            "last_seq": 0,
            "source_ids": [],
            "events_size": 0,
            "backend_state": backend_state,
        }
        write_atomic(folder / "state.json", json.dumps(state, indent=2))
        (folder / "events.jsonl").touch()
    return folder


def fetch_checkpoint(uri: str, inputs: Path) -> str:
    """A checkpoint at a storage URI (where an earlier Ray run uploaded it), copied onto this
    node for the backend to resume from; its local path."""
    from tunesdk.launchers.ray import download

    target = inputs / "resume" / uri.rstrip("/").rsplit("/", 1)[-1]
    download(uri, target)
    _say(f"tunesdk: checkpoint {uri} copied to {target} to resume from")
    return str(target)


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Relay:
    """Prints each event of a run folder once, as a tagged line (see `TAG`)."""

    def __init__(self, folder: Path, spec: dict[str, Any]) -> None:
        from tunesdk.store import RunRecord

        self.record = RunRecord(folder)
        self.spec = spec
        self.after = 0
        self.ended = False
        #: checkpoint paths on this node -> where they were uploaded (storage URI only)
        self.uploaded: dict[str, str] = {}
        #: the terminal event's line, once printed
        self.final: str | None = None

    def pump(self) -> None:
        """Print every event appended since the last call; remember a terminal one."""
        for event in self.record.events(self.after, strict=False):
            self.after = event.seq
            event = self._checkpoint_to_storage(event)
            if event.terminal:
                event = self._finish(event)
                self.ended = True
                self.final = event.to_json()
            _say(TAG + event.to_json())

    def _checkpoint_to_storage(self, event: Any) -> Any:
        """With a storage URI, each checkpoint is uploaded next to the model
        (``URI/<run id>/checkpoints/<name>``) and its event names the URI, so a later run can
        resume from it after this node is gone; a Cancelled event names the uploaded one."""
        from tunesdk.events import Cancelled, Checkpoint

        uri = self.spec.get("storage_uri")
        if not uri:
            return event
        if isinstance(event, Cancelled) and event.checkpoint:
            target = self.uploaded.get(event.checkpoint) or self._upload(event.checkpoint)
            return event.model_copy(update={"checkpoint": target}) if target else event
        if isinstance(event, Checkpoint) and event.path:
            target = self._upload(event.path)
            return event.model_copy(update={"path": target}) if target else event
        return event

    def _upload(self, path: str) -> str | None:
        """``path`` uploaded under the storage URI; None (and a line in the log) when that fails,
        which leaves the checkpoint where it is rather than stopping the run."""
        local = Path(path)
        target = (
            f"{self.spec['storage_uri'].rstrip('/')}/{self.spec['run_id']}/checkpoints/{local.name}"
        )
        try:
            upload(local, target)
        except Exception as exc:  # a full bucket, lost credentials: the run itself goes on
            _say(
                f"tunesdk: could not upload checkpoint {path} to {target} ({type(exc).__name__}: {exc})"
            )
            return None
        self.uploaded[path] = target
        return target

    def _finish(self, event: Any) -> Any:
        """The Completed event as the submitter should see it: the model uploaded to the
        storage URI (when outputs go to one) and its base model named as the user named it."""
        from tunesdk.events import Completed
        from tunesdk.models import LocalModel

        if not isinstance(event, Completed) or not isinstance(event.model, LocalModel):
            return event
        model = event.model
        update: dict[str, Any] = {}
        original = self.spec.get("original", {}).get("model")
        if original and model.base_model and model.base_model != original:
            update["base_model"] = original
        uri = self.spec.get("storage_uri")
        if uri:
            target = f"{uri.rstrip('/')}/{self.spec['run_id']}/{Path(model.path).name}"
            upload(Path(model.path), target)
            update["path"] = target
        if update:
            event = event.model_copy(update={"model": model.model_copy(update=update)})
        return event

    def follow(self, stop: threading.Event, interval: float = 0.1) -> None:
        """Pump until the run ends or ``stop`` is set (then pump once more)."""
        while not self.ended and not stop.is_set():
            self.pump()
            stop.wait(interval)
        self.pump()


def upload(local: Path, uri: str) -> None:
    """Copy a file or folder to an fsspec URI (``s3://``, ``gs://``, ``file://``...)."""
    from fsspec.core import url_to_fs

    fs, path = url_to_fs(uri)
    if local.is_dir():
        fs.put(str(local) + "/", path, recursive=True)
    else:
        fs.put(str(local), path)


def cancel_key(run_id: str) -> bytes:
    return f"tunesdk-cancel-{run_id}".encode()


def final_key(run_id: str) -> bytes:
    """Where rank 0 leaves the terminal event for the driver (Ray's KV store): Ray forwards a
    worker's output to the job's log on a best-effort basis, and the driver may exit first."""
    return f"tunesdk-final-{run_id}".encode()


# ---- one training process -----------------------------------------------------------------------


def run_single(cwd: Path, spec: dict[str, Any]) -> int:
    from tunesdk.follow import poll_once
    from tunesdk.registry import restore_backend
    from tunesdk.store import RunRecord

    folder = materialize(cwd)
    record = RunRecord(folder)
    state = record.state
    backend = restore_backend(record.backend, state.get("backend_class"), state.get("backend_path"))
    cancelled = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: cancelled.set())
    relay = Relay(folder, spec)
    backend.launch(record)
    asked = False
    while not relay.ended:
        if cancelled.is_set() and not asked:
            asked = True
            backend.cancel(record)
        poll_once(record, backend)  # a worker that died without its last event: Failed
        relay.pump()
        time.sleep(0.1)
    _tail_on_failure(record)
    return 0 if record.status != "failed" else 1


def _tail_on_failure(record: Any) -> None:
    """A failed run's worker log and traceback, to the job's log (what `ray job logs` shows)."""
    if record.status != "failed":
        return
    for path in (record.worker_log, record.error_log):
        if path.exists():
            text = path.read_text(encoding="utf-8", errors="replace")[-4000:]
            _say(f"---- {path.name} (last lines) ----\n{text}")


# ---- Ray Train: several training processes ------------------------------------------------------


def train_rank(config: dict[str, Any]) -> None:
    """Ray Train's per-worker function: one rank of ``tunesdk.worker``."""
    from ray.experimental import internal_kv

    from tunesdk.store import RunRecord
    from tunesdk.worker import run_worker

    cwd = Path(config["cwd"]) if Path(config["cwd"]).exists() else Path.cwd()
    spec = _spec(cwd)
    folder = materialize(cwd)
    if not config.get("use_gpu"):
        os.environ["ACCELERATE_USE_CPU"] = "true"  # gloo across the ranks
    record = RunRecord(folder)
    done = threading.Event()

    def watch_cancel() -> None:
        # the flag goes into the run folder's state, which every rank on this node checks at
        # each step (``should_stop``); the worker's own RunRecord is another object than ours
        key = cancel_key(spec["run_id"])
        while not done.wait(0.5):
            try:
                if internal_kv._internal_kv_get(key):
                    record.mark_cancel_requested()
                    return
            except Exception as exc:  # the KV store is briefly unreachable: ask again
                _say(f"tunesdk: cancel check failed ({type(exc).__name__}: {exc})")

    threading.Thread(target=watch_cancel, daemon=True).start()
    relay = Relay(folder, spec) if int(os.environ.get("RANK", "0")) == 0 else None
    thread = None
    if relay is not None:
        thread = threading.Thread(target=relay.follow, args=(done,), daemon=True)
        thread.start()
    try:
        code = run_worker(folder)
    finally:
        done.set()
        if thread is not None:
            thread.join()
        if relay is not None and relay.final is not None:
            key = final_key(spec["run_id"])
            internal_kv._internal_kv_put(key, relay.final.encode(), overwrite=True)
    if code:
        raise RuntimeError(f"rank {os.environ.get('RANK')} failed (see the events)")


def run_distributed(cwd: Path, spec: dict[str, Any]) -> int:
    import ray
    from ray.experimental import internal_kv
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    os.environ.setdefault("RAY_DEDUP_LOGS", "0")  # every event line must reach the log
    ray.init(log_to_driver=True)
    use_gpu = bool(spec.get("use_gpu"))
    per_worker: dict[str, float] = {"CPU": float(spec.get("cpus_per_worker", 1))}
    if use_gpu:
        per_worker["GPU"] = 1.0
    accelerator = spec.get("accelerator_type")

    def on_sigterm(*_: Any) -> None:
        internal_kv._internal_kv_put(cancel_key(spec["run_id"]), b"1", overwrite=True)

    signal.signal(signal.SIGTERM, on_sigterm)
    trainer = TorchTrainer(
        train_rank,
        train_loop_config={"cwd": str(cwd), "use_gpu": use_gpu},
        scaling_config=ScalingConfig(
            num_workers=int(spec["world_size"]),
            use_gpu=use_gpu,
            resources_per_worker=per_worker,
            accelerator_type=accelerator,
        ),
        run_config=RunConfig(
            name=spec["run_id"], storage_path=spec.get("train_storage") or str(cwd / "ray_train")
        ),
    )
    code = 0
    try:
        trainer.fit()
    except Exception as exc:  # rank 0 has printed its Failed event; this is for `ray job logs`
        _say(f"Ray Train failed: {type(exc).__name__}: {exc}")
        code = 1
    final = internal_kv._internal_kv_get(final_key(spec["run_id"]))
    if final:  # again, from the driver itself (the submitter appends it once either way)
        _say(TAG + final.decode())
    return code


def main() -> int:
    cwd = Path.cwd()
    spec = _spec(cwd)
    if int(spec.get("world_size", 1)) > 1:
        return run_distributed(cwd, spec)
    return run_single(cwd, spec)


if __name__ == "__main__":
    sys.exit(main())
