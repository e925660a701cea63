"""``simulated``: a test/demo backend. It does NOT train anything.

It runs the whole local lifecycle (worker process, events, checkpoints, cancel, resume, a model
folder) with a seeded, believable loss curve, so the run machinery can be tested and demonstrated
without torch. Options (``backend_options={"simulated": {...}}``): ``step_seconds`` (default 0.01),
``fail_at_step`` (raise there), ``crash_at_step`` (hard-exit the worker there, as an OOM kill would).
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from tunesdk.backend import Capabilities, Plan, PlanBuilder
from tunesdk.emulation import SimulatedTraining
from tunesdk.events import Checkpoint, Evaluation, Progress
from tunesdk.job import Job
from tunesdk.local import LocalBackend
from tunesdk.models import LocalModel, Messages, ModelHandle
from tunesdk.options import job_options
from tunesdk.store import RunRecord

#: what the simulated curve, evaluations and checkpoints use (with the method and its fields);
#: the plan drops every other option of the catalogue
_HONOURED = frozenset(
    {
        "objective",
        "method",
        "epochs",
        "max_steps",
        "learning_rate",
        "batch_size",
        "micro_batch_size",
        "warmup_ratio",
        "lr_scheduler",
        "seed",
        "beta",
        "eval_data",
        "eval_split",
        "eval_steps",
        "n_checkpoints",
        "output_dir",
    }
)


class SimulatedBackend(LocalBackend):
    """Emits a seeded loss curve and writes a placeholder model. For tests and demos only."""

    name = "simulated"
    capabilities = Capabilities(
        objectives=frozenset({"sft", "dpo"}),
        methods=frozenset({"full", "lora", "qlora", "prefix", "adapter"}),
        resume=True,
        notes="test/demo backend: simulates events, trains nothing",
    )
    cancel_grace_s = 10.0

    def plan(self, job: Job) -> Plan:
        builder = PlanBuilder(job, self.name, self.kind)
        steps = total_steps(job)
        builder.native = {"engine": "simulated", "total_steps": steps, "seed": job.seed}
        for option in job_options(job, builder.objective):
            if option in _HONOURED or option.startswith("method."):
                builder.mapped(option)
        builder.notes.append("simulated backend: events are synthetic, no model is trained")
        return builder.build()

    def train(self, run: RunRecord) -> ModelHandle:
        job = run.job
        options: dict[str, Any] = job.backend_options.get(self.name, {})
        step_seconds = float(options.get("step_seconds", 0.01))
        steps = total_steps(job)
        curve = SimulatedTraining(total_steps=steps, seconds_per_step=step_seconds, seed=job.seed)
        has_eval = job.eval_data is not None or job.eval_split is not None
        steps_per_epoch = max(1, steps // job.epochs)
        eval_every = job.eval_steps or steps_per_epoch
        save_every = max(1, steps // (job.n_checkpoints or job.epochs))
        resume_from = run.state.get("resume_from")
        start = int(str(resume_from).rsplit("-", 1)[-1]) if resume_from else 0
        began = time.monotonic()
        for step in range(start + 1, steps + 1):
            if run.should_stop():
                self._save(run, step - 1)
                return self._model(run, job)
            if step == options.get("fail_at_step"):
                raise RuntimeError(f"simulated failure at step {step}")
            if step == options.get("crash_at_step"):
                os._exit(137)
            time.sleep(step_seconds)
            elapsed = time.monotonic() - began
            run.emit(
                Progress(
                    step=step,
                    total_steps=steps,
                    epoch=round(step / steps_per_epoch, 3),
                    train_loss=curve.loss(step),
                    learning_rate=curve.learning_rate(
                        step, job.effective_learning_rate, job.warmup_ratio
                    ),
                    grad_norm=round(1.0 + curve.loss(step) / 4, 4),
                    tokens_per_second=round(job.batch_size * 128 / max(step_seconds, 1e-3), 1),
                    eta_s=round(elapsed / (step - start) * (steps - step), 3),
                )
            )
            if has_eval and step % eval_every == 0:
                run.emit(Evaluation(step=step, eval_loss=curve.eval_loss(step)))
            if step % save_every == 0 or step == steps:
                self._save(run, step)
        return self._model(run, job)

    def _save(self, run: RunRecord, step: int) -> None:
        folder = run.outputs_dir / f"checkpoint-{step}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
        run.emit(Checkpoint(step=step, path=str(folder)))

    def _model(self, run: RunRecord, job: Job) -> LocalModel:
        folder = Path(job.output_dir) if job.output_dir else run.outputs_dir / "model"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "simulated_adapter.json").write_text(
            json.dumps({"method": job.method.model_dump(mode="json"), "note": "not a real model"})
        )
        handle = LocalModel(
            path=str(folder.resolve()),
            base_model=job.model_name,
            kind="full" if job.method.kind == "full" else "adapter",
            engine=self.name,
        )
        handle.save_metadata()
        return handle

    def chat(self, model: ModelHandle, messages: Messages, **generation: Any) -> str:
        last = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "")
        return f"[simulated reply from {Path(getattr(model, 'path', '')).name}] {last}"

    def generate(self, model: ModelHandle, prompt: str, **generation: Any) -> str:
        return f"[simulated continuation] {prompt}"


def total_steps(job: Job) -> int:
    """Optimizer steps for ``job``: ceil(examples / batch_size) per epoch, or ``max_steps``."""
    if job.max_steps:
        return job.max_steps
    from tunesdk.data import Dataset

    examples = len(Dataset.load(job.data))
    if job.eval_split:
        examples -= max(1, round(examples * job.eval_split))
    return max(1, math.ceil(examples / job.batch_size)) * job.epochs
