"""The ``lookup`` backend: a LocalBackend whose "model" is a table of question → answer.

Local backends train in tunesdk's worker process (``python -m tunesdk.worker RUN_DIR``), which
finds this class again through the ``tunesdk.backends`` entry point, calls :meth:`train`, and
turns its return value into the run's ``Completed`` event (or an exception into ``Failed``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from tunesdk.backend import Capabilities, Check, Plan, PlanBuilder
from tunesdk.data import Conversation, Dataset
from tunesdk.errors import RunCancelled
from tunesdk.events import Checkpoint, Progress
from tunesdk.job import Job
from tunesdk.local import LocalBackend
from tunesdk.models import LocalModel, Messages, ModelHandle
from tunesdk.store import RunRecord

TABLE = "lookup_table.json"


class LookupBackend(LocalBackend):
    """Memorises (last user message → assistant answer) pairs; answers by word overlap."""

    name = "lookup"
    capabilities = Capabilities(
        objectives=frozenset({"sft"}),
        methods=frozenset({"full"}),
        resume=True,
        notes="example plugin: a lookup table, not a neural network",
    )
    cancel_grace_s = 5.0

    # ---- before anything runs ---------------------------------------------------------------

    def check(self) -> Check:
        # Cheap, and imports nothing heavy: `tunesdk backends` calls it for every backend.
        return Check(usable=True, versions={"tunesdk-lookup": "0.1.0"})

    def check_job(self, job: Job) -> Check:
        if job.infer_objective() != "sft":
            return Check(
                usable=False,
                reason="the lookup backend learns from conversations, not preference pairs",
                fix='use backend="trl" (or a managed provider) for DPO',
            )
        return self.check()

    def plan(self, job: Job) -> Plan:
        """Every Job option gets a row: mapped to a native setting, defaulted, or dropped (why)."""
        builder = PlanBuilder(job, self.name, self.kind)
        builder.native = {
            "engine": "lookup",
            "epochs": job.epochs,
            "batch_size": job.batch_size,
            "max_steps": job.max_steps,
        }
        builder.mapped("objective")
        builder.mapped("epochs", "epochs")
        builder.mapped("batch_size", "batch_size")
        if job.max_steps:
            builder.mapped("max_steps", "max_steps")
        builder.mapped("output_dir")
        builder.defaulted("seed", "training is deterministic: nothing to seed")
        for option in ("resources.processes", "resources.nodes", "resources.strategy"):
            builder.defaulted(option, "always one process on the CPU")
        builder.mapped("method")  # Capabilities admit only full: the whole table is learned
        for option in ("learning_rate", "warmup_ratio", "lr_scheduler"):
            builder.dropped(option, "a lookup table has no weights, so nothing to optimise")
        builder.notes.append("answers are memorised verbatim; chat() returns the closest one")
        # build() adds a row for every option not mentioned above (dropped, or defaulted when
        # unset) and raises UnsupportedOption for dropped options when job.strict is True.
        return builder.build()

    def preflight(self, job: Job, plan: Plan) -> None:
        # May read local files, spends nothing: validate the data now, not in the worker.
        Dataset.load(job.data).validate().raise_for_problems()

    # ---- in the worker process --------------------------------------------------------------

    def train(self, run: RunRecord) -> ModelHandle:
        job = run.job
        pairs = [pair for record in Dataset.load(job.data) if (pair := _pair(record))]
        steps_per_epoch = max(1, math.ceil(len(pairs) / job.batch_size))
        total = job.max_steps or steps_per_epoch * job.epochs
        resume_from = run.state.get("resume_from")
        # job.run(..., resume=True) sets resume_from to the last Checkpoint's path.
        table: dict[str, str] = _read_table(Path(resume_from)) if resume_from else {}
        start = int(Path(resume_from).name.removeprefix("checkpoint-")) if resume_from else 0
        for step in range(start + 1, total + 1):
            if run.should_stop():  # set by run.cancel() (SIGTERM): save, then end cancelled
                self._checkpoint(run, step - 1, table)
                raise RunCancelled(run.run_id)
            index = (step - 1) % steps_per_epoch
            batch = pairs[index * job.batch_size : (index + 1) * job.batch_size]
            unknown = sum(1 for question, answer in batch if table.get(question) != answer)
            table.update(batch)
            run.emit(
                Progress(
                    step=step,
                    total_steps=total,
                    epoch=round(step / steps_per_epoch, 3),
                    train_loss=unknown / max(1, len(batch)),  # share not memorised before
                )
            )
            if step % steps_per_epoch == 0:
                self._checkpoint(run, step, table)
        folder = Path(job.output_dir) if job.output_dir else run.outputs_dir / "model"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / TABLE).write_text(json.dumps(table, indent=1), encoding="utf-8")
        model = LocalModel(
            path=str(folder.resolve()), base_model=job.model_name, kind="full", engine=self.name
        )
        model.save_metadata()  # so ts.load_model("local:/path") restores the handle
        return model

    def _checkpoint(self, run: RunRecord, step: int, table: dict[str, str]) -> None:
        folder = run.outputs_dir / f"checkpoint-{step}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / TABLE).write_text(json.dumps(table), encoding="utf-8")
        run.emit(Checkpoint(step=step, path=str(folder)))

    # ---- using the model ----------------------------------------------------------------------

    def chat(self, model: ModelHandle, messages: Messages, **generation: Any) -> str:
        assert isinstance(model, LocalModel)
        table = _read_table(Path(model.path))
        question = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        if question in table:
            return table[question]
        words = set(str(question).lower().split())
        best = max(table, key=lambda known: len(words & set(known.lower().split())), default="")
        return table.get(best, "")


def _pair(record: Any) -> tuple[str, str] | None:
    """(last user message, the assistant answer after it) of a conversation, if it has both."""
    if not isinstance(record, Conversation):
        return None
    question = answer = None
    for message in record.messages:
        if message.role == "user":
            question, answer = message.text, None
        elif message.role == "assistant" and question is not None:
            answer = message.text
    return (question, answer) if question and answer else None


def _read_table(folder: Path) -> dict[str, str]:
    table: dict[str, str] = json.loads((folder / TABLE).read_text(encoding="utf-8"))
    return table
