"""A ``TrainerCallback`` that turns the trainer's logs, evals and saves into tunesdk events."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from tunesdk.events import Checkpoint, Evaluation, Progress
from tunesdk.store import RunRecord


class EventsCallback(TrainerCallback):
    """Emits Progress / Evaluation / Checkpoint events and stops training when a cancel is asked."""

    def __init__(self, run: RunRecord, *, emit: bool = True) -> None:
        self.run = run
        self.emit = emit  # False on ranks other than 0
        self._start = time.monotonic()
        self._last_time = self._start
        self._last_tokens = 0
        self._first_step: int | None = None
        self._last_saved: int | None = None

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        self._start = self._last_time = time.monotonic()
        self._last_tokens = state.num_input_tokens_seen
        self._first_step = state.global_step  # > 0 when resuming

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        if _any_rank(self.run.should_stop(), args):
            control.should_training_stop = True
            control.should_save = True  # keep a checkpoint to resume from

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kw: Any,
    ) -> None:
        if not self.emit or not logs:
            return
        if "eval_loss" in logs:
            metrics = {
                k.removeprefix("eval_"): float(v)
                for k, v in logs.items()
                if k.startswith("eval_") and k != "eval_loss" and isinstance(v, int | float)
            }
            self.run.emit(
                Evaluation(
                    step=state.global_step, eval_loss=float(logs["eval_loss"]), metrics=metrics
                )
            )
        elif "loss" in logs:  # the end-of-training summary logs "train_loss" instead
            self.run.emit(self._progress(state, logs))

    def _progress(self, state: TrainerState, logs: dict[str, float]) -> Progress:
        now = time.monotonic()
        tokens = state.num_input_tokens_seen
        elapsed = now - self._last_time
        rate = (tokens - self._last_tokens) / elapsed if tokens and elapsed > 0 else None
        self._last_time, self._last_tokens = now, tokens
        done = state.global_step - (self._first_step or 0)
        eta = None
        if done > 0 and state.max_steps:
            eta = (now - self._start) / done * max(state.max_steps - state.global_step, 0)
        grad_norm = logs.get("grad_norm")
        return Progress(
            step=state.global_step,
            total_steps=state.max_steps or None,
            epoch=state.epoch,
            train_loss=float(logs["loss"]),
            learning_rate=logs.get("learning_rate"),
            grad_norm=float(grad_norm) if grad_norm is not None else None,
            tokens_per_second=round(rate, 1) if rate is not None else None,
            eta_s=round(eta, 2) if eta is not None else None,
            **rl_metrics(logs),
        )

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        # a stop asked at a save step makes the trainer save twice at that step: one event
        if self.emit and state.global_step != self._last_saved:
            self._last_saved = state.global_step
            path = Path(str(args.output_dir)) / f"checkpoint-{state.global_step}"
            self.run.emit(Checkpoint(step=state.global_step, path=str(path)))


def rl_metrics(logs: dict[str, float]) -> dict[str, Any]:
    """Progress's RL fields from GRPO's logs (``reward``, ``reward_std``,
    ``rewards/<name>/mean``, ``kl``, ``completions/mean_length``, ``clip_ratio/region_mean``);
    empty for other trainers."""
    if "reward" not in logs:
        return {}

    def number(key: str) -> float | None:
        value = logs.get(key)
        return float(value) if isinstance(value, int | float) else None

    per_function = {
        key[len("rewards/") : -len("/mean")]: float(value)
        for key, value in logs.items()
        if key.startswith("rewards/") and key.endswith("/mean") and isinstance(value, int | float)
    }
    return {
        "reward_mean": number("reward"),
        "reward_std": number("reward_std"),
        "rewards": per_function or None,
        "kl": number("kl"),
        "completion_length": number("completions/mean_length"),
        "clip_ratio": number("clip_ratio/region_mean"),
    }


def _any_rank(flag: bool, args: TrainingArguments) -> bool:
    """``flag`` OR-ed over every rank, so all ranks stop after the same step.

    Each rank sees a cancel (SIGTERM, or the run's state file) at its own moment; a rank that
    stopped one step before the others would leave them waiting forever in the next all-reduce.
    """
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return flag
    value = torch.tensor([1 if flag else 0], device=args.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())
