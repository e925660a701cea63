"""``python -m tunesdk.launchers.skypilot.node JOB_JSON --backend NAME ...``: one node's part of a
SkyPilot task that tunesdk wrote (see `tunesdk.launchers.skypilot.task`).

Runs on every node of the cluster, where the task's ``setup`` installed tunesdk and the backend:

1. makes a run folder under ``~/tunesdk/home`` for the job, its outputs (checkpoints, the model)
   in the outputs mount at ``OUTPUTS/KEY`` — the bucket, so they outlive the cluster;
2. resumes from the newest checkpoint there when one exists (a managed job recovered after a
   spot preemption runs this script again on a new cluster, with the same key);
3. on several nodes, sets the rendezvous from SkyPilot's environment (node 0's address from
   ``SKYPILOT_NODE_IPS``, this node's rank from ``SKYPILOT_NODE_RANK``) for the backend's
   ``accelerate launch`` (trl, unsloth) or a plain torchrun;
4. starts ``python -m tunesdk.worker`` through the backend, and on node 0 prints every event the
   worker appends as one tagged line (`tunesdk.launchers.skypilot.protocol`) on stdout, which SkyPilot
   keeps as the job log. The launcher reads those lines back into the local run.

The model path in the Completed event is rewritten from the mount to the bucket URI.
Exit code: 0 when the run completed or was cancelled, 1 when it failed (so SkyPilot's
``max_restarts_on_errors`` can retry it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from tunesdk.launchers.skypilot.protocol import event_line

#: the port node 0 listens on for the rendezvous
MASTER_PORT = 29500
#: backends whose worker command is ``accelerate launch`` with rendezvous options
ACCELERATE_BACKENDS = ("trl", "unsloth")


def to_uri(path: str, outputs: str, outputs_uri: str | None) -> str:
    """``path`` under the outputs mount as the bucket URI (unchanged elsewhere)."""
    mount = os.path.realpath(os.path.expanduser(outputs))
    real = os.path.realpath(path)
    if outputs_uri and (real == mount or real.startswith(mount + "/")):
        return outputs_uri.rstrip("/") + real[len(mount) :]
    return path


def newest_checkpoint(folder: Path) -> Path | None:
    """The ``checkpoint-N`` folder with the highest N in ``folder`` or its ``checkpoints``
    (where the trl backend saves them); not deeper, as the bucket mount may be slow to list."""
    found = []
    for candidate in [*folder.glob("checkpoint-*"), *folder.glob("*/checkpoint-*")]:
        tail = candidate.name.rsplit("-", 1)[-1]
        if candidate.is_dir() and tail.isdigit():
            found.append((int(tail), candidate))
    return max(found)[1] if found else None


def _rendezvous(job: dict[str, Any], backend: str, rank: int, nodes: int, ips: list[str]) -> None:
    """Node 0's address and this node's rank, as the backend's accelerate options."""
    options = job.setdefault("backend_options", {}).setdefault(backend, {})
    options.setdefault("accelerate", {}).update(
        main_process_ip=ips[0] if ips else "127.0.0.1",
        main_process_port=MASTER_PORT,
        machine_rank=rank,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tunesdk.launchers.skypilot.node")
    parser.add_argument("job_file")
    parser.add_argument("--backend", required=True)
    parser.add_argument("--outputs", required=True, help="the outputs mount on this node")
    parser.add_argument("--outputs-uri", default=None, help="the bucket behind the mount")
    parser.add_argument("--key", default="", help="the outputs folder's name (the run)")
    args = parser.parse_args(argv)

    rank = int(os.environ.get("SKYPILOT_NODE_RANK", "0") or 0)
    nodes = int(os.environ.get("SKYPILOT_NUM_NODES", "1") or 1)
    ips = [ip for ip in os.environ.get("SKYPILOT_NODE_IPS", "").splitlines() if ip.strip()]
    key = args.key or os.environ.get("SKYPILOT_TASK_ID", "") or "run"
    key = "".join(c if c.isalnum() or c in "-_." else "-" for c in key)

    job_data = json.loads(Path(args.job_file).expanduser().read_text(encoding="utf-8"))
    outputs = Path(args.outputs).expanduser() / key
    outputs.mkdir(parents=True, exist_ok=True)
    job_data["output_dir"] = str(outputs)
    if nodes > 1 and args.backend in ACCELERATE_BACKENDS:
        _rendezvous(job_data, args.backend, rank, nodes, ips)
    resources = job_data.setdefault("resources", {})
    resources["nodes"] = nodes

    from tunesdk.backend import plan_checked
    from tunesdk.events import Log
    from tunesdk.job import Job
    from tunesdk.local import LocalBackend
    from tunesdk.registry import get_backend
    from tunesdk.store import RunStore

    job = Job.from_dict(job_data, base_dir=Path.home())  # ~/tunesdk/... made absolute
    backend = get_backend(args.backend)
    if not isinstance(backend, LocalBackend):
        print(f"{args.backend} is not a local backend: it cannot train on a node", file=sys.stderr)
        return 2
    store = RunStore(Path(os.environ.get("TUNESDK_NODE_HOME", "~/tunesdk/home")).expanduser())
    record = store.create(job, plan_checked(backend, job), args.backend)
    # the run's outputs folder is the bucket's: backends that save checkpoints there (rather
    # than in job.output_dir) keep them past a preemption too
    shutil.rmtree(record.outputs_dir)
    record.outputs_dir.symlink_to(outputs.resolve(), target_is_directory=True)
    main_node = rank == 0
    checkpoint = newest_checkpoint(outputs)
    if checkpoint is not None:
        record.update_state(resume_from=str(checkpoint))
        record.emit(
            Log(
                message=f"resuming from checkpoint {to_uri(str(checkpoint), args.outputs, args.outputs_uri)}"
            )
        )

    def on_sigterm(signum: int, frame: object) -> None:
        backend.cancel(record)  # the worker saves a checkpoint and ends the run cancelled

    signal.signal(signal.SIGTERM, on_sigterm)
    if nodes > 1 and args.backend not in ACCELERATE_BACKENDS:
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            f"--nnodes={nodes}",
            f"--node_rank={rank}",
            f"--master_addr={ips[0] if ips else '127.0.0.1'}",
            f"--master_port={MASTER_PORT}",
            f"--nproc_per_node={os.environ.get('SKYPILOT_NUM_GPUS_PER_NODE', '1') or 1}",
            "-m",
            "tunesdk.worker",
            str(record.dir),
        ]
        backend.worker_command = lambda run: command  # type: ignore[method-assign]
    backend.launch(record)

    offset = 0

    def relay() -> None:
        nonlocal offset
        with open(record.events_path, "rb") as handle:
            handle.seek(offset)
            for raw in handle:
                if not raw.endswith(b"\n"):
                    break
                offset += len(raw)
                data = json.loads(raw)
                model = data.get("model")
                if isinstance(model, dict) and isinstance(model.get("path"), str):
                    model["path"] = to_uri(model["path"], args.outputs, args.outputs_uri)
                if isinstance(data.get("path"), str):  # a checkpoint
                    data["path"] = to_uri(data["path"], args.outputs, args.outputs_uri)
                print(event_line(data), flush=True)

    from tunesdk.launchers.local import _children

    worker = _children.get(record.run_id)
    while backend.worker_alive(record):
        if main_node:
            relay()
        time.sleep(0.2)
    code = worker.wait() if worker is not None else None
    if not main_node:
        # the ranks here write no events (rank 0 reports for the run): the worker's exit code
        # is this node's outcome
        return 0 if code == 0 else 1
    for event in backend.poll(record):  # a worker that died without its last event
        record.emit(event)
    relay()
    return 1 if record.status == "failed" else 0


if __name__ == "__main__":
    sys.exit(main())
