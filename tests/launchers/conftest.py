"""One real Ray cluster for the whole test session, on 127.0.0.1 only, stopped by its own pids.

``ray start --head`` daemonizes its processes (GCS, raylet, dashboard, agents); each one's command
line names this session's own ``--temp-dir``, which is how they are found again and stopped —
never ``ray stop``, which stops every Ray cluster of this user by process name.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

VENV_BIN = Path(sys.executable).parent
WORKER_PORTS = 100  # ports for the cluster's worker processes, from a free one up
PORT_FLAGS = (
    "--port",
    "--dashboard-port",
    "--node-manager-port",
    "--object-manager-port",
    "--ray-client-server-port",
    "--dashboard-agent-listen-port",
    "--dashboard-agent-grpc-port",
    "--metrics-export-port",
    "--runtime-env-agent-port",
)


@dataclass
class RayCluster:
    address: str  # the dashboard (Job Submission API)
    temp_dir: Path

    def pids(self) -> list[int]:
        """This cluster's processes: every process whose command line names its temp dir, and
        their descendants (workers started by the raylet)."""
        import psutil

        found: dict[int, psutil.Process] = {}
        for proc in psutil.process_iter(["pid", "cmdline"]):
            try:
                if str(self.temp_dir) in " ".join(proc.info["cmdline"] or []):
                    found[proc.pid] = proc
                    for child in proc.children(recursive=True):
                        found[child.pid] = child
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return sorted(p for p in found if p != os.getpid())


def _free_ports(count: int) -> list[int]:
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
    ports = [s.getsockname()[1] for s in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _stop(cluster: RayCluster) -> None:
    pids = cluster.pids()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z")


def _start_command(temp_dir: Path) -> tuple[list[str], str]:
    """``ray start --head`` on 127.0.0.1 with free ports of its own, and its dashboard address."""
    ports = _free_ports(len(PORT_FLAGS))
    worker_ports = _free_ports(1)[0]
    while any(worker_ports <= port <= worker_ports + WORKER_PORTS for port in ports):
        worker_ports = _free_ports(1)[0]
    command = [
        str(VENV_BIN / "ray"),
        "start",
        "--head",
        "--node-ip-address=127.0.0.1",
        "--dashboard-host=127.0.0.1",
        "--include-dashboard=true",
        "--num-cpus=2",
        "--num-gpus=0",
        "--disable-usage-stats",
        f"--temp-dir={temp_dir}",
        f"--min-worker-port={worker_ports}",
        f"--max-worker-port={worker_ports + WORKER_PORTS}",
        *(f"{flag}={port}" for flag, port in zip(PORT_FLAGS, ports, strict=True)),
    ]
    return command, f"http://127.0.0.1:{ports[PORT_FLAGS.index('--dashboard-port')]}"


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """A head node with 2 CPUs on 127.0.0.1 (the environment the cluster's jobs inherit: this
    venv first on PATH, the hub offline)."""
    pytest.importorskip("ray.job_submission")
    temp_dir = Path(tempfile.mkdtemp(prefix="tsray-", dir="/tmp"))  # short: unix socket paths
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_USAGE_STATS_ENABLED": "0",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "GLOO_SOCKET_IFNAME": "lo",  # Ray Train's gloo ranks talk over loopback
        "TUNESDK_HOME": str(temp_dir / "cluster-home"),
    }
    env.pop("RAY_ADDRESS", None)
    cluster = RayCluster(address="", temp_dir=temp_dir)
    try:
        # Ray gives the raylet 30 s (fixed) to register; a loaded 2-core machine can miss that,
        # so a failed start is stopped and tried once more on fresh ports
        for attempt in (1, 2):
            command, cluster.address = _start_command(temp_dir)
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
            if done.returncode == 0:
                break
            _stop(cluster)
            if attempt == 2:
                pytest.fail(f"ray start failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        _wait_for_dashboard(cluster.address)
        yield cluster
    finally:
        _stop(cluster)


def _wait_for_dashboard(address: str, timeout: float = 90.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{address}/api/version", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"the Ray dashboard at {address} did not answer in {timeout:.0f} s")
