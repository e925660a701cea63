"""TRLBackend: local SFT/DPO training with Hugging Face TRL, in tunesdk's worker process."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from pathlib import Path
from typing import Any, ClassVar

from tunesdk.backend import Capabilities, Check, Plan
from tunesdk.job import Job
from tunesdk.local import LocalBackend, require_local
from tunesdk.methods import LoRA, QLoRA
from tunesdk.models import LocalModel, Messages, ModelHandle
from tunesdk.store import RunRecord
from tunesdk_trl import launch
from tunesdk_trl.plan import build_plan

REQUIRED = ("torch", "transformers", "trl", "peft", "datasets", "accelerate")
#: report_to name → (modules transformers can use for it, any one will do; pip requirement)
TRACKERS = {
    "tensorboard": (("tensorboard", "tensorboardX"), "tunesdk-trl[tensorboard]"),
    "wandb": (("wandb",), "tunesdk-trl[wandb]"),
    "mlflow": (("mlflow",), "tunesdk-trl[mlflow]"),
}


class TRLBackend(LocalBackend):
    """Hugging Face TRL: SFT, DPO, GRPO, KTO and ORPO; LoRA (DoRA, rsLoRA), full, prefix tuning;
    QLoRA on CUDA."""

    name: ClassVar[str] = "trl"
    capabilities: ClassVar[Capabilities] = Capabilities(
        objectives=frozenset({"sft", "dpo", "grpo", "kto", "orpo"}),
        methods=frozenset({"full", "lora", "qlora", "prefix", "adapter"}),
        needs_gpu=False,
        resume=True,
        eval=True,
        notes="QLoRA needs a CUDA GPU and bitsandbytes; bottleneck adapters on Llama, Mistral, "
        "Qwen2/3 and Gemma",
    )

    def check(self) -> Check:
        """Usable when torch, transformers, trl, peft, datasets and accelerate are installed (in
        the trl engine environment when one is set up, else here)."""
        from tunesdk import engines

        found = engines.find(self.name)
        if found is not None:  # the worker trains there: this process needs no torch
            if "trl" in found.versions and "torch" in found.versions:
                return Check(usable=True, versions=found.versions)
            return Check(
                usable=False,
                reason=f"{found.python} lacks trl or torch",
                fix=engines.install_command(self.name),
                versions=found.versions,
            )
        versions: dict[str, str] = {}
        missing = []
        for name in REQUIRED:
            if importlib.util.find_spec(name) is None:
                missing.append(name)
            else:
                versions[name] = importlib.metadata.version(name)
        if missing:
            return Check(
                usable=False,
                reason=f"missing {', '.join(missing)}",
                fix="pip install tunesdk-trl",
                versions=versions,
            )
        return Check(usable=True, versions=versions)

    def check_job(self, job: Job) -> Check:
        """Also: QLoRA needs CUDA + bitsandbytes; report_to
        trackers must be installed; the launch layout (GPUs, FSDP/DeepSpeed) must fit here.

        Raises JobError for launch options that cannot work anywhere (see ``launch.check_layout``).
        """
        check = self.check()
        if not check.usable:
            return check
        launch.check_layout(job)  # a launch layout no machine can run: JobError, not "unusable"
        if not self.trains_here(job):  # a cluster launcher's machines, not this one, train
            return check
        for problem in (_missing_tracker(job), launch.hardware_problem(job)):
            if problem is not None:
                reason, fix = problem
                return check.model_copy(update={"usable": False, "reason": reason, "fix": fix})
        if isinstance(job.method, QLoRA):
            from tunesdk.errors import BackendUnavailable
            from tunesdk_trl.modeling import require_cuda_bitsandbytes

            try:
                require_cuda_bitsandbytes()
            except BackendUnavailable as exc:
                return check.model_copy(
                    update={"usable": False, "reason": exc.reason, "fix": exc.fix}
                )
        return check

    def plan(self, job: Job) -> Plan:
        """SFTConfig/DPOConfig kwargs and the PEFT config, one row per option. Pure."""
        from tunesdk import engines

        plan = build_plan(job, self.name)
        found = engines.find(self.name)  # the trl engine environment, when one is set up
        if found is None:
            return plan
        return plan.model_copy(update={"notes": [*plan.notes, "trains in the " + found.describe()]})

    def preflight(self, job: Job, plan: Plan) -> None:
        """A local model path must exist, mixed precision must be supported here, and named LoRA
        targets must exist in a local model."""
        from tunesdk_trl.modeling import check_model_path, check_precision

        super().preflight(job, plan)  # the data, before any model file is read
        source = job.model_for(self.name)
        if self.trains_here(job):
            check_model_path(source)
            check_precision(job.resources.mixed_precision)
        elif Path(source).expanduser().exists():  # shipped to the cluster: it must be a model
            check_model_path(source)  # (a hub id is the cluster's to download, not this machine's)
        method = job.method
        if (
            isinstance(method, LoRA)
            and isinstance(method.target_modules, list)
            and Path(source).expanduser().exists()
        ):
            _check_targets_on_meta(source, method.target_modules)

    def worker_command(self, run: RunRecord) -> list[str]:
        """``python -m tunesdk.worker RUN_DIR``, wrapped in ``accelerate launch`` for several
        ranks or FSDP/DeepSpeed."""
        return launch.launch_command(run.job, run.dir, python=self.worker_python())

    def worker_env(self, run: RunRecord) -> dict[str, str]:
        env = super().worker_env(run)
        devices = launch.visible_devices(run.job, env.get("CUDA_VISIBLE_DEVICES"))
        if devices is not None:
            env["CUDA_VISIBLE_DEVICES"] = devices
        return env

    def launch(self, run: RunRecord) -> None:
        config = launch.write_config(run.job, run.dir)
        if config is not None:
            run.log(f"accelerate config written to {config}")
        super().launch(run)

    def train(self, run: RunRecord) -> LocalModel:
        from tunesdk_trl.training import train

        use_cpu_ranks()
        return train(run, self.name)

    # ---- models ---------------------------------------------------------------------------------

    def chat(self, model: ModelHandle, messages: Messages, **generation: Any) -> str:
        from tunesdk_trl import inference

        return inference.chat(require_local(model, self.name), messages, **generation)

    def generate(self, model: ModelHandle, prompt: str, **generation: Any) -> str:
        from tunesdk_trl import inference

        return inference.generate(require_local(model, self.name), prompt, **generation)

    def load(self, model: LocalModel) -> tuple[Any, Any]:
        from tunesdk_trl import inference

        return inference.load(model)

    def merge(self, model: LocalModel, path: Path) -> LocalModel:
        from tunesdk_trl import inference

        return inference.merge(model, path, engine=self.name)


def _check_targets_on_meta(source: str, target_modules: list[str]) -> None:
    """Build the model's skeleton on the meta device (no weights, no memory) to check names."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from tunesdk_trl.modeling import check_target_modules

    config = AutoConfig.from_pretrained(source)
    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(config)
    check_target_modules(skeleton, target_modules)


def _missing_tracker(job: Job) -> tuple[str, str] | None:
    """(reason, fix) for the first ``report_to`` tracker that is not installed here."""
    for tracker in job.report_to:
        modules, requirement = TRACKERS[tracker]
        if all(importlib.util.find_spec(module) is None for module in modules):
            return (
                f"report_to includes {tracker!r} but the {modules[0]} package is not installed",
                f"pip install '{requirement}' (or remove {tracker!r} from report_to)",
            )
    return None


def use_cpu_ranks() -> None:
    """On a rank of a multi-process run with no CUDA GPU, make accelerate use gloo on CPU.

    ``accelerate launch`` (torchrun underneath) sets RANK/WORLD_SIZE, but accelerate only picks
    its MULTI_CPU (gloo) mode when told to use the CPU; otherwise every rank trains alone.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return
    import torch

    if not torch.cuda.is_available():
        os.environ["ACCELERATE_USE_CPU"] = "true"
