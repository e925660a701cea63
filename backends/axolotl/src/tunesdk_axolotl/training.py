"""``train(run)`` in the worker: write the YAML, run ``axolotl train``, turn its output into events.

Axolotl runs as a child of the worker in the worker's process group, so a cancel (SIGTERM to the
group) or a hard kill reaches every Axolotl rank too, and no training process outlives its run.
Progress and evaluations come from the events plugin (`tunesdk_axolotl.plugin_events`: the
Trainer's exact numbers) once it reports in, and from the console (`tunesdk_axolotl.logs`) when it
does not; checkpoints from the ``checkpoint-N`` folders, reported once their
``trainer_state.json`` is written (the Trainer writes it last, so the folder is complete).

Every Axolotl process gets ``AXOLOTL_DO_NOT_TRACK=1`` unless the caller set it: with no outbound
network, a crashing run otherwise retries its telemetry for minutes instead of exiting. On a
machine without a CUDA device the run's config turns Axolotl's LoRA kernels off (they allocate
on "cuda").
"""

from __future__ import annotations

import importlib.util
import os
import queue
import re
import signal
import subprocess
import threading
from collections import deque
from pathlib import Path
from typing import IO, Any

import yaml

from tunesdk.errors import RunCancelled, TuneError
from tunesdk.events import Checkpoint
from tunesdk.models import LocalModel
from tunesdk.store import RunRecord
from tunesdk_axolotl import config as cfg
from tunesdk_axolotl import plugin_events
from tunesdk_axolotl.launch import train_command
from tunesdk_axolotl.logs import LogParser, split_stream

LOG_FILE = "axolotl.log"
TERMINATE_GRACE_S = 30.0
_CHECKPOINT = re.compile(r"checkpoint-(\d+)$")
_ERROR_LINE = re.compile(r"^(?:[\w.]+\.)?\w*(?:Error|Exception|Interrupt)\b(?::.*)?$")
#: Axolotl's LoRA kernels (auto-enabled for LoRA) allocate on "cuda": off without a CUDA device
LORA_KERNELS = ("lora_mlp_kernel", "lora_qkv_kernel", "lora_o_kernel", "lora_embedding_kernel")


class AxolotlFailed(TuneError):
    """``axolotl train`` exited with an error; the full output is in the run folder."""


def _pump(stream: IO[bytes], lines: queue.Queue[str | None], log: IO[str]) -> None:
    """Read the child's output, tee it to the log file and queue complete lines."""
    rest = ""
    while True:
        chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
        if not chunk:
            break
        text = chunk.decode("utf-8", errors="replace")
        log.write(text)
        log.flush()
        complete, rest = split_stream(rest + text)
        for line in complete:
            lines.put(line)
    if rest.strip():
        lines.put(rest)
    lines.put(None)


class CheckpointWatcher:
    """Reports each complete ``checkpoint-N`` folder of Axolotl's output_dir once."""

    def __init__(self, output_dir: Path) -> None:
        self.output_dir = output_dir
        self.seen: set[int] = set()

    def new(self) -> list[Checkpoint]:
        found = []
        if not self.output_dir.is_dir():
            return []
        for child in self.output_dir.iterdir():
            match = _CHECKPOINT.search(child.name)
            if match is None or not (child / "trainer_state.json").exists():
                continue
            step = int(match.group(1))
            if step not in self.seen:
                self.seen.add(step)
                found.append(Checkpoint(step=step, path=str(child)))
        return sorted(found, key=lambda c: c.step)


def last_error_line(lines: list[str]) -> str | None:
    """The exception line closing a Python traceback (``ValueError: ...``), if any."""
    for line in reversed(lines):
        text = line.strip()
        if _ERROR_LINE.match(text):
            return text
    return None


def final_model(output_dir: Path, base_model: str, engine: str) -> LocalModel:
    """The handle of what Axolotl saved at the root of ``output_dir``."""
    if (output_dir / "adapter_config.json").exists():
        kind = "adapter"
    elif (output_dir / "config.json").exists():
        kind = "full"
    else:
        raise AxolotlFailed(
            f"axolotl finished but {output_dir} holds no adapter_config.json or config.json",
            fix=f"see {output_dir.parent.parent / LOG_FILE} for where Axolotl saved the model",
        )
    return LocalModel(
        path=str(output_dir.resolve()), base_model=base_model, kind=kind, engine=engine
    )


def has_cuda_device() -> bool:
    """Whether training will see a CUDA device: torch's answer where torch is importable (the
    engine environment), else whether the NVIDIA driver lists a GPU."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        return False
    if importlib.util.find_spec("torch") is not None:
        import torch

        return bool(torch.cuda.is_available())
    gpus = Path("/proc/driver/nvidia/gpus")
    return gpus.is_dir() and any(gpus.iterdir())


def run_config(config: dict[str, Any], *, cuda: bool) -> dict[str, Any]:
    """The config a real run trains with: the events plugin added, and without a CUDA device
    the LoRA kernels off (keys the user set in backend_options win)."""
    result = plugin_events.with_plugin(config)
    if not cuda and config.get("adapter"):
        for key in LORA_KERNELS:
            result.setdefault(key, False)
    return result


def axolotl_env(base: dict[str, str], plugin_dir: Path, events: Path) -> dict[str, str]:
    """The Axolotl process's environment: no telemetry (unless set), the plugin importable."""
    env = dict(base, PYTHONUNBUFFERED="1")
    env.setdefault("AXOLOTL_DO_NOT_TRACK", "1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(plugin_dir), base.get("PYTHONPATH")]))
    env[plugin_events.EVENTS_ENV] = str(events)
    return env


def train(run: RunRecord, engine: str = "axolotl") -> LocalModel:
    """Run Axolotl for the run's job; emit Progress/Evaluation/Checkpoint; return the model."""
    job = run.job
    objective = job.infer_objective()
    config_path = cfg.write(job, objective, run.dir)
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config = run_config(config, cuda=has_cuda_device())
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    plugin_dir, events_path = plugin_events.install(config_path.parent)
    output_dir = Path(config["output_dir"])
    command = train_command(job, config_path)
    run.log("running " + " ".join(command))

    env = axolotl_env(dict(os.environ), plugin_dir, events_path)
    if job.wandb_project:
        env.setdefault("WANDB_PROJECT", job.wandb_project)
    log_path = run.dir / LOG_FILE
    parser = LogParser(total_steps=job.max_steps, world_size=cfg.processes(job))
    plugin = plugin_events.PluginEvents(events_path, world_size=cfg.processes(job))
    watcher = CheckpointWatcher(output_dir)
    tail: deque[str] = deque(maxlen=200)
    lines: queue.Queue[str | None] = queue.Queue()
    with open(log_path, "a", encoding="utf-8") as log:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(config_path.parent),
        )
        assert proc.stdout is not None
        reader = threading.Thread(target=_pump, args=(proc.stdout, lines, log), daemon=True)
        reader.start()
        cancelled = False
        while True:
            if not cancelled and run.should_stop():
                cancelled = True
                _terminate(proc)
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                _emit_plugin_events(run, plugin, parser)
                _emit_checkpoints(run, watcher, parser)
                continue
            _emit_plugin_events(run, plugin, parser)
            if line is None:
                break
            tail.append(line)
            console = parser.feed(line)
            if not plugin.active:  # the fallback: Axolotl ran without the plugin
                for event in console:
                    run.emit(event)
            _emit_checkpoints(run, watcher, parser)
        code = proc.wait()
        reader.join(timeout=5)
    _emit_plugin_events(run, plugin, parser)
    _emit_checkpoints(run, watcher, parser)
    if cancelled or run.should_stop():
        raise RunCancelled(run.run_id)
    if code != 0:
        reason = last_error_line(list(tail)) or f"exit code {code}"
        raise AxolotlFailed(
            f"axolotl train failed: {reason}",
            fix=f"the full Axolotl output is in {log_path}",
        )
    handle = final_model(output_dir, job.model_for(engine), engine)
    handle.save_metadata()
    return handle


def _emit_plugin_events(
    run: RunRecord, plugin: plugin_events.PluginEvents, parser: LogParser
) -> None:
    for event in plugin.read():
        step = getattr(event, "step", None)
        if isinstance(step, int):
            parser.saw_checkpoint(step)  # keeps the fallback's count in step, should it be needed
        run.emit(event)


def _emit_checkpoints(run: RunRecord, watcher: CheckpointWatcher, parser: LogParser) -> None:
    for checkpoint in watcher.new():
        parser.saw_checkpoint(checkpoint.step)
        run.emit(checkpoint)


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to Axolotl and its launcher, then SIGKILL after a grace period.

    In the worker (a process-group leader) the whole group is signalled: the ``axolotl`` CLI,
    ``accelerate launch`` and torch's elastic agent, which passes SIGTERM on to ranks it started
    in sessions of their own. The worker's own SIGTERM handler only records the stop.
    """
    if proc.poll() is not None:
        return
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpgrp(), signal.SIGTERM)
    else:
        proc.terminate()
    try:
        proc.wait(timeout=TERMINATE_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
