"""What every Tinker training loop shares: the clients, the step schedule, the optimizer step,
events, eval, checkpoints, resume and cancel.

The loop runs in tunesdk's worker process. A cancel (SIGTERM → ``run.should_stop()``) is
honoured between optimizer steps: the state is saved with ``save_state`` and the run ends
``cancelled`` with that checkpoint. A resumed run opens its training client from the saved state
with its optimizer (``create_training_client_from_state_with_optimizer``) and continues at the
step after it, with the same data order (the shuffle of each epoch depends on the seed and the
epoch only).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tunesdk.errors import RunCancelled
from tunesdk.job import Job
from tunesdk.store import RunRecord
from tunesdk_tinker import normalize, schedule, service
from tunesdk_tinker.data import load_tokenizer


@dataclass
class Session:
    """The clients of one run: the SDK module, the service client, the training client."""

    types: Any
    service: Any
    training: Any
    resumed_step: int = 0

    def close(self) -> None:
        """End the session: Together's training client releases its resources, tinker's service
        client finishes the session (saved states and sampler weights stay)."""
        for owner in (self.training, self.service):
            close = getattr(owner, "close", None)
            if callable(close):
                try:
                    service.resolved(close())
                except Exception:  # the session ends with the process anyway
                    pass


def open_session(run: RunRecord, native: dict[str, Any]) -> Session:
    """Connect to the job's service and create (or, resuming, restore) the training client."""
    job = run.job
    provider = service.provider_of(job)
    module = service.client_module(provider)
    client = service.service_client(job, provider)
    resume_from = run.state.get("resume_from")
    if resume_from:
        step = normalize.step_of(str(resume_from))
        run.log(f"restoring the training state {resume_from} (step {step}) with its optimizer")
        training = service.resolved(
            client.create_training_client_from_state_with_optimizer(str(resume_from))
        )
        return Session(module.types, client, training, step)
    lora = native["training_client"]
    training = service.resolved(
        client.create_lora_training_client(
            base_model=native["base_model"],
            rank=lora["rank"],
            seed=lora["seed"],
            train_mlp=lora["train_mlp"],
            train_attn=lora["train_attn"],
            train_unembed=lora["train_unembed"],
        )
    )
    return Session(module.types, client, training)


@dataclass
class Loop:
    """The step machinery of one run; the objective's loop supplies what a step trains on."""

    run: RunRecord
    native: dict[str, Any]
    session: Session
    tokenizer: Any
    steps_per_epoch: int
    total_steps: int
    eval_fn: Callable[[Loop], float | None] | None = None
    #: metrics beside the eval loss, set by the objective's eval function
    last_eval_metrics: dict[str, float] = field(default_factory=dict)
    #: the gradient norm the service reported for the last optimizer step (before clipping)
    last_grad_norm: float | None = None
    _started: float = field(default_factory=time.monotonic)
    _steps_done: int = 0

    @property
    def job(self) -> Job:
        return self.run.job

    @property
    def types(self) -> Any:
        return self.session.types

    @property
    def training(self) -> Any:
        return self.session.training

    @property
    def settings(self) -> dict[str, Any]:
        loop: dict[str, Any] = self.native["loop"]
        return loop

    # ---- schedule --------------------------------------------------------------------------

    def learning_rate(self, step: int) -> float:
        """The rate of update ``step`` (0-based)."""
        loop = self.settings
        return schedule.learning_rate(
            step,
            peak=loop["learning_rate"],
            total_steps=self.total_steps,
            warmup_ratio=loop["warmup_ratio"],
            scheduler=loop["lr_scheduler"],
        )

    def adam(self, step: int) -> Any:
        optimizer = self.settings["optimizer"]
        return self.types.AdamParams(
            learning_rate=self.learning_rate(step),
            beta1=optimizer["beta1"],
            beta2=optimizer["beta2"],
            eps=optimizer["eps"],
            weight_decay=optimizer["weight_decay"],
            grad_clip_norm=optimizer["grad_clip_norm"],
        )

    def batches(self, count: int, size: int) -> Iterator[tuple[int, list[int]]]:
        """(0-based step, example indices) for every step still to run: each epoch a fresh
        shuffle seeded by (seed, epoch), cut into batches of ``size``; skips the steps a resumed
        run has done."""
        seed = self.settings["shuffle_seed"]
        step = 0
        for epoch in range(self.job.epochs):
            order = list(range(count))
            random.Random(f"{seed}:{epoch}").shuffle(order)
            for start in range(0, count, size):
                if step >= self.total_steps:
                    return
                if step >= self.session.resumed_step:
                    yield step, order[start : start + size]
                step += 1

    # ---- one update --------------------------------------------------------------------------

    def optimize(self, step: int, futures: list[Any]) -> list[Any]:
        """``optim_step`` after the step's forward_backward calls (submitted first, as the SDK
        recommends: the service runs them in order); their results."""
        optim = self.training.optim_step(self.adam(step))
        outputs = [service.resolved(f) for f in futures]
        self.last_grad_norm = normalize.grad_norm(service.resolved(optim))
        return outputs

    def after_step(
        self, step: int, loss: float | None, tokens: int, seconds: float, **rl: Any
    ) -> None:
        """Progress for update ``step`` (0-based), then eval and checkpoint when due, then the
        cancel check."""
        done = step + 1
        self._steps_done += 1
        self.run.emit(
            normalize.progress(
                step=done,
                total_steps=self.total_steps,
                steps_per_epoch=self.steps_per_epoch,
                loss=loss,
                learning_rate=self.learning_rate(step),
                tokens=tokens,
                seconds=seconds,
                elapsed=time.monotonic() - self._started,
                steps_done=self._steps_done,
                grad_norm=self.last_grad_norm,
                **rl,
            )
        )
        last = done == self.total_steps
        if self.eval_fn is not None and self._eval_due(done, last):
            loss = self.eval_fn(self)
            self.run.emit(normalize.evaluation(done, loss, self.last_eval_metrics))
        saved = self._checkpoint_due(done)
        if saved:
            self.save(done)
        if self.run.should_stop():
            if not saved:  # a state to resume from, even after the last step
                self.save(done)
            raise RunCancelled(self.run.run_id)

    def _eval_due(self, done: int, last: bool) -> bool:
        every = self.settings["eval"]["every_steps"] if self.settings["eval"] else None
        if isinstance(every, int):
            return done % every == 0 or last
        return done % self.steps_per_epoch == 0 or last

    def _checkpoint_due(self, done: int) -> bool:
        wanted = self.job.n_checkpoints
        if wanted:
            marks = {max(1, round(self.total_steps * k / wanted)) for k in range(1, wanted + 1)}
            return done in marks
        return done % self.steps_per_epoch == 0

    def save(self, done: int) -> str:
        """``save_state`` after update ``done`` (1-based): a Checkpoint event with its path."""
        ttl = self.settings["checkpoints"].get("ttl_seconds")
        kwargs = {"ttl_seconds": ttl} if ttl else {}
        response = service.resolved(
            self.training.save_state(normalize.checkpoint_name(done), **kwargs)
        )
        path = normalize.save_path(response)
        self.run.emit(normalize.checkpoint(done, path))
        return path

    def check_cancel(self) -> None:
        """Before the first step: a cancel asked while connecting ends the run now."""
        if self.run.should_stop():
            raise RunCancelled(self.run.run_id)

    # ---- the result --------------------------------------------------------------------------

    def final_weights(self) -> str:
        """``save_weights_for_sampler`` with the job's name: the path the result handle names."""
        result = self.native["result"]
        ttl = self.settings["checkpoints"].get("ttl_seconds")
        kwargs = {"ttl_seconds": ttl} if ttl else {}
        response = service.resolved(
            self.training.save_weights_for_sampler(result["name"], **kwargs)
        )
        self._export(result["name"], kwargs)
        return normalize.save_path(response)

    def _export(self, name: str, kwargs: dict[str, Any]) -> None:
        """The adapter exported for ``download()``, where the client and service offer it."""
        export = getattr(self.training, "save_weights_external", None)
        if not callable(export):
            return
        try:
            path = normalize.save_path(service.resolved(export(name, **kwargs)))
        except Exception as exc:  # the model still samples; only download() is lost
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self.run.log(f"exporting the adapter failed ({reason}): download() will not work")
            return
        self.run.log(f"adapter exported for download: {path}")


def steps(count: int, batch_size: int, job: Job) -> tuple[int, int]:
    """(steps per epoch, total steps) for ``count`` examples."""
    per_epoch = max(1, math.ceil(count / batch_size))
    total = per_epoch * job.epochs
    if job.max_steps is not None:
        total = min(total, job.max_steps)
    return per_epoch, total


def tokenizer_for(native: dict[str, Any], job: Job) -> Any:
    """The base model's tokenizer (or ``backend_options.tinker.tokenizer``'s)."""
    return load_tokenizer(native["tokenizer"], job.chat_template)


def service_tokenizer(session: Session, job: Job) -> Any:
    """The tokenizer the service names for the training client (``get_info``'s
    ``tokenizer_id``, through the SDK's ``get_tokenizer()``), with the job's chat template;
    None when the client has no such call or the tokenizer does not load."""
    getter = getattr(session.training, "get_tokenizer", None)
    if not callable(getter):
        return None
    try:
        tokenizer = getter()
    except Exception:  # not loadable here either: the caller reports the job's model
        return None
    if job.chat_template is not None:
        from tunesdk.paths import chat_template_text

        tokenizer.chat_template = chat_template_text(job.chat_template)
    return tokenizer


__all__ = ["Loop", "Session", "open_session", "steps", "tokenizer_for"]
