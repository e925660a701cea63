"""An Axolotl plugin that writes the Trainer's exact logs, evaluations and saves as JSON lines.

Never imported by tunesdk: the worker copies this file into the run folder as
``tunesdk_axolotl_events.py``, puts that folder on Axolotl's ``PYTHONPATH``, names the plugin in
the run's config (``plugins: [tunesdk_axolotl_events.TunesdkEventsPlugin]``) and the output file in
``$TUNESDK_AXOLOTL_EVENTS``. Axolotl imports it by dotted name in its own interpreter, so it imports
only axolotl, transformers and the standard library.

One hook (``add_callbacks_post_trainer``; registering ``add_callbacks_pre_trainer`` too would add
a second callback), and only the world's process zero writes. Each line is one record::

    {"kind": "ready"}                                   the callback is attached
    {"kind": "begin", "max_steps": 6, "epochs": 1}      training starts
    {"kind": "log", "step": 3, "epoch": 0.5, "logs": {"loss": 5.70007, ...}}
    {"kind": "evaluate", "step": 3, "metrics": {"eval_loss": 5.6, ...}}
    {"kind": "save", "step": 3}
    {"kind": "end", "step": 6}
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from axolotl.integrations.base import BasePlugin
from transformers import TrainerCallback

EVENTS_ENV = "TUNESDK_AXOLOTL_EVENTS"


def _numbers(values: dict[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value):
            out[str(key)] = float(value)
    return out


class TunesdkEventsCallback(TrainerCallback):
    """Appends one JSON line per Trainer event to ``path`` (on the world's process zero)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def write(self, state: Any, record: dict[str, Any]) -> None:
        if not state.is_world_process_zero:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.write(
            state, {"kind": "begin", "max_steps": state.max_steps, "epochs": args.num_train_epochs}
        )

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any
    ) -> None:
        record = {"kind": "log", "step": state.global_step, "epoch": state.epoch}
        self.write(state, {**record, "logs": _numbers(logs or {})})

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: dict[str, Any] | None = None, **kw: Any
    ) -> None:
        record = {"kind": "evaluate", "step": state.global_step, "metrics": _numbers(metrics or {})}
        self.write(state, record)

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.write(state, {"kind": "save", "step": state.global_step})

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.write(state, {"kind": "end", "step": state.global_step})


class TunesdkEventsPlugin(BasePlugin):
    """Adds `TunesdkEventsCallback` once the trainer exists (when ``$TUNESDK_AXOLOTL_EVENTS`` is
    set; otherwise it does nothing)."""

    def add_callbacks_post_trainer(self, cfg: Any, trainer: Any) -> list[Any]:
        path = os.environ.get(EVENTS_ENV)
        if not path:
            return []
        callback = TunesdkEventsCallback(path)
        if trainer.is_world_process_zero():
            callback.write(trainer.state, {"kind": "ready"})
        return [callback]
