"""UnslothBackend: local SFT/DPO with Unsloth on one GPU, in tunesdk's worker process."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any, ClassVar

from tunesdk.backend import Capabilities, Check, Plan
from tunesdk.job import Job
from tunesdk.local import LocalBackend, require_local
from tunesdk.methods import LoRA
from tunesdk.models import LocalModel, Messages, ModelHandle
from tunesdk.store import RunRecord
from tunesdk_unsloth import environment
from tunesdk_unsloth.native import target_modules, unsupported_method
from tunesdk_unsloth.plan import build_plan


class UnslothBackend(LocalBackend):
    """Unsloth: SFT and DPO with LoRA (DoRA, rsLoRA), QLoRA 4/8-bit and full fine-tuning, one GPU."""

    name: ClassVar[str] = "unsloth"
    capabilities: ClassVar[Capabilities] = Capabilities(
        objectives=frozenset({"sft", "dpo"}),
        methods=frozenset({"full", "lora", "qlora"}),
        needs_gpu=True,
        resume=True,
        eval=True,
        notes="one NVIDIA/AMD/Intel GPU; pip install 'tunesdk-unsloth[gpu]' there",
        unsupported={
            "prefix": "prefix tuning cannot be trained by the unsloth backend: Unsloth trains "
            "LoRA, QLoRA and full fine-tuning only (the trl backend trains prefix tuning)",
            "adapter": "bottleneck adapters cannot be trained by the unsloth backend: Unsloth "
            "trains LoRA, QLoRA and full fine-tuning only (the trl backend trains adapters)",
        },
    )

    def check(self) -> Check:
        """Usable with a supported GPU and unsloth + the TRL stack installed. Imports no unsloth."""
        versions: dict[str, str] = {}
        for name in ("unsloth", *environment.TRAINING_PACKAGES):
            if importlib.util.find_spec(name) is not None:
                versions[name] = environment.version_of(name) or "unknown"
        gpu = environment.find_gpu()
        if gpu is None:
            fix = environment.NO_GPU_FIX
            return Check(usable=False, reason=environment.NO_GPU, fix=fix, versions=versions)
        missing = [n for n in ("unsloth", *environment.TRAINING_PACKAGES) if n not in versions]
        if missing:
            return Check(
                usable=False,
                reason=f"missing {', '.join(missing)}",
                fix=environment.INSTALL_FIX,
                versions=versions,
            )
        return Check(usable=True, versions={**versions, "gpu": gpu})

    def check_job(self, job: Job) -> Check:
        """Also: only LoRA, QLoRA and full fine-tuning (said first: a GPU would not help)."""
        error = unsupported_method(job)
        if error is not None:
            return Check(usable=False, reason=error.message, fix=error.fix)
        return self.check()

    def plan(self, job: Job) -> Plan:
        """from_pretrained/get_peft_model kwargs, the SFTConfig/DPOConfig, one row per option.
        Pure; works without a GPU and without unsloth installed."""
        return build_plan(job, environment.unsloth_version())

    def preflight(self, job: Job, plan: Plan) -> None:
        """A local model path must exist and hold the LoRA target modules (checked on a meta-device
        skeleton, no weights loaded; "all-linear" means the Llama-style projections here)."""
        from tunesdk_trl.modeling import check_model_path, check_targets_on_meta

        super().preflight(job, plan)  # the data, before any model file is read
        source = job.model_for(self.name)
        check_model_path(source)
        if isinstance(job.method, LoRA) and Path(source).expanduser().exists():
            check_targets_on_meta(source, target_modules(job.method))

    def train(self, run: RunRecord) -> LocalModel:
        environment.require_unsloth()  # before the import: unsloth raises on a machine without GPU
        # Unsloth patches transformers, peft and trl when imported, so it must come before them
        importlib.import_module("unsloth")
        from tunesdk.worker import is_main_process
        from tunesdk_trl.training import train
        from tunesdk_unsloth.banner import banner_events
        from tunesdk_unsloth.loader import UnslothLoader
        from tunesdk_unsloth.native import native_for

        job = run.job
        native = native_for(
            job, job.infer_objective(), run.outputs_dir, version=environment.unsloth_version()
        )
        with banner_events(run, emit=is_main_process()):
            return train(run, self.name, loader=UnslothLoader(native))

    # ---- models ---------------------------------------------------------------------------------

    def chat(self, model: ModelHandle, messages: Messages, **generation: Any) -> str:
        from tunesdk_trl import inference as trl_inference
        from tunesdk_unsloth import inference

        return trl_inference.chat(
            require_local(model, self.name), messages, loader=inference.load, **generation
        )

    def generate(self, model: ModelHandle, prompt: str, **generation: Any) -> str:
        from tunesdk_trl import inference as trl_inference
        from tunesdk_unsloth import inference

        return trl_inference.generate(
            require_local(model, self.name), prompt, loader=inference.load, **generation
        )

    def load(self, model: LocalModel) -> tuple[Any, Any]:
        from tunesdk_unsloth import inference

        return inference.load(model)

    def merge(self, model: LocalModel, path: Path) -> LocalModel:
        from tunesdk_unsloth import inference

        return inference.merge(model, path)

    def export_gguf(
        self, model: LocalModel, path: str | Path, quantization: str = "q4_k_m"
    ) -> list[Path]:
        """Write ``model`` as GGUF (llama.cpp, Ollama) with Unsloth's ``save_pretrained_gguf``;
        returns the ``.gguf`` files. Needs a GPU and Unsloth."""
        from tunesdk_unsloth import inference

        return inference.export_gguf(model, Path(path), quantization)
