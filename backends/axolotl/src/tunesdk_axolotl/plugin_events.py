"""The events plugin's side in the worker: ship it into a run, read what it writes.

`tunesdk_axolotl.axolotl_plugin` runs inside Axolotl (its own interpreter, where tunesdk may not
be installed) and appends the Trainer's exact numbers as JSON lines; this module copies that file
into the run folder, names it in the real run's config and turns its records into tunesdk events.
Only a real run's config gets ``plugins:``: Axolotl 0.19 trains on silently when a named plugin is
missing, but later releases abort, so ``plan()``/``export()`` output stays plugin-free. No
``axolotl.plugins`` entry point is registered (later releases load every one in every run).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesdk.events import Evaluation, Event, Progress

MODULE = "tunesdk_axolotl_events"
PLUGIN = f"{MODULE}.TunesdkEventsPlugin"
EVENTS_ENV = "TUNESDK_AXOLOTL_EVENTS"
PLUGIN_DIR = "plugin"
EVENTS_FILE = "plugin_events.jsonl"
SOURCE = Path(__file__).with_name("axolotl_plugin.py")
#: keys of the Trainer's final summary log, which is not a step
_SUMMARY_KEYS = frozenset({"train_runtime", "train_loss", "train_samples_per_second"})


def install(work_dir: Path) -> tuple[Path, Path]:
    """Copy the plugin into ``work_dir/plugin`` as a standalone module; returns (the folder to
    put on PYTHONPATH, the events file to name in ``$TUNESDK_AXOLOTL_EVENTS``)."""
    folder = work_dir / PLUGIN_DIR
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SOURCE, folder / f"{MODULE}.py")
    events = work_dir / EVENTS_FILE
    events.unlink(missing_ok=True)  # a resumed or repeated run starts a fresh record
    return folder, events


def with_plugin(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with the events plugin added to ``plugins:`` (the user's plugins kept)."""
    plugins = list(config.get("plugins") or [])
    if PLUGIN not in plugins:
        plugins.append(PLUGIN)
    return {**config, "plugins": plugins}


@dataclass
class PluginEvents:
    """Reads the plugin's JSON lines as they are appended; ``active`` once the plugin attached
    its callback (from then on its numbers replace the console parser's)."""

    path: Path
    world_size: int = 1
    active: bool = False
    total_steps: int | None = None
    offset: int = 0
    rest: str = ""
    steps: set[int] = field(default_factory=set)

    def read(self) -> list[Event]:
        """The events of the records written since the last call."""
        try:
            with open(self.path, encoding="utf-8") as handle:
                handle.seek(self.offset)
                text = handle.read()
                self.offset = handle.tell()
        except FileNotFoundError:
            return []
        lines = (self.rest + text).split("\n")
        self.rest = lines.pop()  # an unfinished last line waits for the next read
        events: list[Event] = []
        for line in lines:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                events.extend(self._event(record))
        return events

    def _event(self, record: dict[str, Any]) -> list[Event]:
        kind = record.get("kind")
        if kind == "ready":
            self.active = True
        elif kind == "begin":
            self.active = True
            max_steps = record.get("max_steps")
            self.total_steps = max_steps if isinstance(max_steps, int) and max_steps > 0 else None
        elif kind == "log":
            logs = record.get("logs") or {}
            if "loss" in logs and not _SUMMARY_KEYS & logs.keys() and "eval_loss" not in logs:
                step = int(record.get("step") or 0)
                if step in self.steps:
                    return []
                self.steps.add(step)
                per_gpu = logs.get("tokens/train_per_sec_per_gpu")
                return [
                    Progress(
                        step=step,
                        total_steps=self.total_steps,
                        epoch=record.get("epoch"),
                        train_loss=logs["loss"],
                        learning_rate=logs.get("learning_rate"),
                        grad_norm=logs.get("grad_norm"),
                        tokens_per_second=per_gpu * self.world_size if per_gpu else None,
                    )
                ]
        elif kind == "evaluate":
            metrics = record.get("metrics") or {}
            if "eval_loss" in metrics:
                extra = {
                    k.removeprefix("eval_"): v
                    for k, v in metrics.items()
                    if k.startswith("eval_") and k != "eval_loss"
                }
                return [
                    Evaluation(
                        step=int(record.get("step") or 0),
                        eval_loss=metrics["eval_loss"],
                        metrics=extra,
                    )
                ]
        return []
