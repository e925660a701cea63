"""``python -m sky._controller JOB_ID``: the fake jobs controller for one managed job.

Walks SkyPilot's managed-job states and runs the task's ``run`` script once per node, as a
cluster would: each node's ``$HOME`` a folder of its own holding the file mounts (local sources
linked, buckets folders under ``$FAKE_SKY_HOME/buckets``), SkyPilot's variables set, the output
of every node in the job log (other nodes' lines prefixed as SkyPilot does). Scenarios (from
``config.json`` at launch): ``succeed``; ``preempt_once`` (the nodes are killed after the first
training step is logged, the job RECOVERING, then run again); ``no_resource``; ``fail_setup``.
A ``cancel`` file in the job folder cancels it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from sky._state import config, home, job_dir, read_status, write_status

#: seconds the controller spends in each state (``step_seconds`` in config.json)
STEP = float(config().get("step_seconds", 0.05))


def _mount(node_home: Path, remote: str, source: object) -> None:
    if isinstance(source, dict):
        source = source["source"]
    assert isinstance(source, str)
    target = node_home / remote.removeprefix("~/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if "://" in source:
        bucket = home() / "buckets" / source.split("://", 1)[1]
        bucket.mkdir(parents=True, exist_ok=True)
        local = bucket
    else:
        local = Path(source)
    if not target.exists():
        target.symlink_to(local)


def _start_nodes(job_id: int, task: dict, attempt: int) -> list[subprocess.Popen]:
    nodes = int(task.get("num_nodes", 1))
    secrets = json.loads((job_dir(job_id) / "secrets.json").read_text())
    gpus = str(task.get("resources", {}).get("accelerators", "x:0")).rpartition(":")[2] or "0"
    procs = []
    for rank in range(nodes):
        node_home = job_dir(job_id) / f"node{rank}"
        node_home.mkdir(exist_ok=True)
        for remote, source in (task.get("file_mounts") or {}).items():
            _mount(node_home, remote, source)
        env = {
            **os.environ,
            **{k: str(v) for k, v in (task.get("envs") or {}).items()},
            **secrets,
            "HOME": str(node_home),
            "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
            "SKYPILOT_NODE_RANK": str(rank),
            "SKYPILOT_NUM_NODES": str(nodes),
            "SKYPILOT_NODE_IPS": "\n".join("127.0.0.1" for _ in range(nodes)),
            "SKYPILOT_NUM_GPUS_PER_NODE": gpus,
            "SKYPILOT_TASK_ID": f"sky-managed-fake_{task.get('name')}_{job_id}",
        }
        env.pop("PYTHONPATH", None)  # the node runs tunesdk as installed, not the fake sky
        procs.append(
            subprocess.Popen(
                ["bash", "-c", task["run"]],
                cwd=node_home,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    lock = threading.Lock()
    for rank, proc in enumerate(procs):
        prefix = "" if rank == 0 else f"(worker{rank}, rank={rank}, pid={proc.pid}, ip=127.0.0.1) "
        threading.Thread(target=_copy, args=(job_id, proc, prefix, lock), daemon=True).start()
    return procs


def _copy(job_id: int, proc: subprocess.Popen, prefix: str, lock: threading.Lock) -> None:
    assert proc.stdout is not None
    for raw in proc.stdout:
        with lock, open(job_dir(job_id) / "run.log", "a") as log:
            log.write(prefix + raw.decode(errors="replace"))


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (the worker runs in a session of its own, out of
    reach of the node's process group; a real preemption takes the whole machine)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _stop(procs: list[subprocess.Popen], sig: signal.Signals) -> None:
    pids = [pid for proc in procs if proc.poll() is None for pid in _descendants(proc.pid)]
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _cancelled(job_id: int) -> bool:
    return (job_dir(job_id) / "cancel").exists()


def _cancel(job_id: int, procs: list[subprocess.Popen]) -> None:
    write_status(job_id, status="CANCELLING")
    for proc in procs:  # SkyPilot stops the job, then tears the cluster down
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        time.sleep(STEP)
    time.sleep(STEP * 4)  # the node relays the worker's last events
    _stop(procs, signal.SIGKILL)
    write_status(job_id, status="CANCELLED", end_at=time.time())


def main(job_id: int) -> None:
    task = json.loads((job_dir(job_id) / "task.json").read_text())
    scenario = read_status(job_id)["scenario"]
    time.sleep(STEP)
    if _cancelled(job_id):
        return _cancel(job_id, [])
    write_status(job_id, status="STARTING")
    time.sleep(STEP)
    if scenario == "no_resource":
        accelerators = task.get("resources", {}).get("accelerators")
        write_status(
            job_id,
            status="FAILED_NO_RESOURCE",
            failure_reason=f"Failed to acquire resources ({accelerators}) in all zones",
        )
        return None
    if scenario == "fail_setup":
        write_status(
            job_id, status="FAILED_SETUP", failure_reason="Failed to run setup (exit code 1)"
        )
        return None
    write_status(job_id, status="RUNNING")
    procs = _start_nodes(job_id, task, 0)
    preempt = scenario == "preempt_once"
    while True:
        if _cancelled(job_id):
            return _cancel(job_id, procs)
        if preempt and '"type":"progress"' in (job_dir(job_id) / "run.log").read_text():
            preempt = False
            _stop(procs, signal.SIGKILL)  # the spot instance is gone, and the nodes with it
            for proc in procs:
                proc.wait()
            count = read_status(job_id)["recovery_count"]
            write_status(job_id, status="RECOVERING", recovery_count=count + 1)
            time.sleep(STEP * 4)
            write_status(job_id, status="RUNNING")
            procs = _start_nodes(job_id, task, count + 1)
            continue
        codes = [p.poll() for p in procs]
        if all(code is not None for code in codes):
            time.sleep(STEP)  # let the log copies finish
            if all(code == 0 for code in codes):
                write_status(job_id, status="SUCCEEDED", end_at=time.time())
            else:
                write_status(
                    job_id,
                    status="FAILED",
                    failure_reason=f"Job failed with return code list: {codes}",
                    end_at=time.time(),
                )
            return None
        time.sleep(STEP)


if __name__ == "__main__":
    main(int(sys.argv[1]))
