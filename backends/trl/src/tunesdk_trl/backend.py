"""TRLBackend: local SFT/DPO training with Hugging Face TRL, in tunesdk's worker process."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path
from typing import Any, ClassVar

from tunesdk.backend import Capabilities, Check, Plan
from tunesdk.errors import TuneError
from tunesdk.job import Job
from tunesdk.local import LocalBackend
from tunesdk.methods import Adapter, LoRA, QLoRA
from tunesdk.models import LocalModel, Messages, ModelHandle
from tunesdk.store import RunRecord
from tunesdk_trl.native import adapter_unsupported, build_plan

REQUIRED = ("torch", "transformers", "trl", "peft", "datasets", "accelerate")


def _as_local(model: ModelHandle) -> LocalModel:
    if not isinstance(model, LocalModel):
        raise TuneError(
            f"the trl backend serves local models, not {model.to_uri()}",
            fix="use the provider's own backend for provider models",
        )
    return model


class TRLBackend(LocalBackend):
    """Hugging Face TRL: SFT and DPO; LoRA (DoRA, rsLoRA), full, prefix tuning; QLoRA on CUDA."""

    name: ClassVar[str] = "trl"
    capabilities: ClassVar[Capabilities] = Capabilities(
        objectives=frozenset({"sft", "dpo"}),
        methods=frozenset({"full", "lora", "qlora", "prefix"}),
        needs_gpu=False,
        resume=True,
        eval=True,
        notes="QLoRA needs a CUDA GPU and bitsandbytes; bottleneck adapters are not supported",
    )

    def check(self) -> Check:
        """Usable when torch, transformers, trl, peft, datasets and accelerate are installed."""
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
        """Also: QLoRA needs CUDA + bitsandbytes; bottleneck adapters are refused."""
        check = self.check()
        if not check.usable:
            return check
        if isinstance(job.method, Adapter):
            error = adapter_unsupported()
            return check.model_copy(
                update={"usable": False, "reason": error.message, "fix": error.fix}
            )
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
        return build_plan(job, self.name)

    def preflight(self, job: Job, plan: Plan) -> None:
        """A local model path must exist, mixed precision must be supported here, and named LoRA
        targets must exist in a local model."""
        from tunesdk_trl.modeling import check_model_path, check_precision

        source = job.model_for(self.name)
        check_model_path(source)
        check_precision(job.resources.mixed_precision)
        method = job.method
        if (
            isinstance(method, LoRA)
            and isinstance(method.target_modules, list)
            and Path(source).expanduser().exists()
        ):
            _check_targets_on_meta(source, method.target_modules)

    def train(self, run: RunRecord) -> LocalModel:
        from tunesdk_trl.training import train

        return train(run, self.name)

    # ---- models ---------------------------------------------------------------------------------

    def chat(self, model: ModelHandle, messages: Messages, **generation: Any) -> str:
        from tunesdk_trl import inference

        return inference.chat(_as_local(model), messages, **generation)

    def generate(self, model: ModelHandle, prompt: str, **generation: Any) -> str:
        from tunesdk_trl import inference

        return inference.generate(_as_local(model), prompt, **generation)

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
