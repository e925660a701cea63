"""UnslothBackend: local SFT, DPO, GRPO, KTO and ORPO with Unsloth on one GPU, in tunesdk's
worker process (Unsloth's model loading and patched TRL trainers, tunesdk-trl's trainer glue)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any, ClassVar

from tunesdk import engines
from tunesdk.backend import Capabilities, Check, Plan
from tunesdk.job import Job
from tunesdk.local import LocalBackend, require_local
from tunesdk.methods import LoRA
from tunesdk.models import LocalModel, Messages, ModelHandle
from tunesdk.store import RunRecord
from tunesdk_unsloth import environment
from tunesdk_unsloth.native import target_modules, unsupported_method
from tunesdk_unsloth.plan import build_plan


def on_cluster(job: Job) -> str:
    """What check_job and the plan say of a job whose worker runs on a cluster launcher."""
    return (
        f"trains on the {job.resources.launcher} launcher's machines: their GPU and Unsloth are "
        "checked there, not on this machine"
    )


class UnslothBackend(LocalBackend):
    """Unsloth: SFT, DPO, GRPO, KTO and ORPO with LoRA (DoRA, rsLoRA), QLoRA 4/8-bit and full
    fine-tuning, one GPU."""

    name: ClassVar[str] = "unsloth"
    capabilities: ClassVar[Capabilities] = Capabilities(
        objectives=frozenset({"sft", "dpo", "grpo", "kto", "orpo"}),
        methods=frozenset({"full", "lora", "qlora"}),
        needs_gpu=True,
        resume=True,
        eval=True,
        notes="one NVIDIA/AMD/Intel GPU, or the CPU when allowed (allow_cpu); "
        "`tunesdk engine install unsloth`",
        unsupported={
            "prefix": "prefix tuning cannot be trained by the unsloth backend: Unsloth trains "
            "LoRA, QLoRA and full fine-tuning only (the trl backend trains prefix tuning)",
            "adapter": "bottleneck adapters cannot be trained by the unsloth backend: Unsloth "
            "trains LoRA, QLoRA and full fine-tuning only (the trl backend trains adapters)",
        },
    )

    def check(self) -> Check:
        """Usable with a supported GPU (or Unsloth's CPU mode, allowed by
        ``$TUNESDK_UNSLOTH_ALLOW_CPU=1``) and unsloth + the TRL stack in the interpreter that
        trains: the unsloth engine environment when set up, else this one. Imports no unsloth."""
        return self._check(None)

    def _check(self, job: Job | None) -> Check:
        found = environment.engine()
        if found is not None:
            versions = dict(found.versions)
        else:
            versions = {}
            for name in ("unsloth", *environment.TRAINING_PACKAGES):
                if importlib.util.find_spec(name) is not None:
                    versions[name] = environment.version_of(name) or "unknown"
        gpu = environment.find_gpu(found)
        if gpu is None and not environment.allow_cpu(job):
            fix = environment.NO_GPU_FIX
            return Check(usable=False, reason=environment.NO_GPU, fix=fix, versions=versions)
        wanted = ("unsloth",) if found is not None else ("unsloth", *environment.TRAINING_PACKAGES)
        missing = [n for n in wanted if n not in versions]
        if missing:
            where = f" in {found.python}" if found is not None else ""
            return Check(
                usable=False,
                reason=f"missing {', '.join(missing)}{where}",
                fix=environment.INSTALL_FIX,
                versions=versions,
            )
        if gpu is None:
            if job is not None and job.infer_objective() != "sft":
                return Check(
                    usable=False,
                    reason="Unsloth's CPU mode trains SFT only (LoRA or full), not "
                    f"{job.infer_objective()}",
                    fix=f"run {job.infer_objective().upper()} on a machine with a GPU, or use "
                    "the trl backend on this one",
                    versions=versions,
                )
            return Check(usable=True, reason=environment.CPU_MODE, versions=versions)
        return Check(usable=True, versions={**versions, "gpu": gpu})

    def check_job(self, job: Job) -> Check:
        """Also: only LoRA, QLoRA and full fine-tuning (said first: a GPU would not help); the
        job's ``allow_cpu`` opts in to Unsloth's CPU mode."""
        error = unsupported_method(job)
        if error is not None:
            return Check(usable=False, reason=error.message, fix=error.fix)
        if not self.trains_here(job):  # a cluster launcher's machines, not this one, train
            return Check(usable=True, reason=on_cluster(job))
        return self._check(job)

    def plan(self, job: Job) -> Plan:
        """from_pretrained/get_peft_model kwargs, the TRL config (SFTConfig, DPOConfig, GRPOConfig,
        KTOConfig or ORPOConfig), one row per option.
        Pure; works without a GPU and without unsloth installed."""
        found = environment.engine()
        version = found.versions.get("unsloth") if found else environment.unsloth_version()
        plan = build_plan(job, version)
        where = (
            on_cluster(job)
            if not self.trains_here(job)
            else "trains in the " + found.describe()
            if found is not None
            else f"trains in this interpreter ({sys.executable}); "
            f"`{engines.install_command('unsloth')}` gives Unsloth its own environment"
        )
        return plan.model_copy(update={"notes": [*plan.notes, where]})

    def preflight(self, job: Job, plan: Plan) -> None:
        """A local model path must exist and hold the LoRA target modules (checked on a meta-device
        skeleton, no weights loaded; "all-linear" means the Llama-style projections here)."""
        from tunesdk_trl.modeling import check_model_path, check_targets_on_meta

        super().preflight(job, plan)  # the data, before any model file is read
        source = job.model_for(self.name)
        if self.trains_here(job) or Path(source).expanduser().exists():
            check_model_path(source)  # (a hub id is the cluster's to download, not this machine's)
        if isinstance(job.method, LoRA) and Path(source).expanduser().exists():
            check_targets_on_meta(source, target_modules(job.method))

    def train(self, run: RunRecord) -> LocalModel:
        # before the import: without a GPU (and no CPU opt-in) unsloth would raise
        environment.require_unsloth(run.job)
        environment.prepare_cpu_mode()
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
