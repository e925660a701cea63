"""AxolotlBackend: a Job becomes an Axolotl YAML config, trained by ``axolotl train``."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from pathlib import Path
from typing import Any, ClassVar

from tunesdk import engines
from tunesdk.backend import Backend, Capabilities, Check, Plan
from tunesdk.errors import BackendUnavailable, JobError
from tunesdk.job import Job
from tunesdk.local import LocalBackend
from tunesdk.models import LocalModel, Messages, ModelHandle
from tunesdk.store import RunRecord
from tunesdk_axolotl import schema
from tunesdk_axolotl.launch import COMMAND_ENV
from tunesdk_axolotl.plan import build_plan

INSTALL_FIX = (
    "tunesdk engine install axolotl (its own Python 3.11 environment; trains on CPUs too), or "
    "pip install 'tunesdk-axolotl[axolotl]' on a machine with a CUDA GPU"
)
CPU_NOTE = "no CUDA GPU here: Axolotl trains on the CPU (its LoRA kernels off), slowly"


def cuda_available() -> bool:
    """Whether torch sees a CUDA GPU (False when torch is not installed)."""
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def engine_note() -> str:
    """Which Axolotl will train: the command override, the engine environment, or this one."""
    if os.environ.get(COMMAND_ENV):
        return f"trains with ${COMMAND_ENV}: {os.environ[COMMAND_ENV]}"
    try:
        found = engines.find("axolotl")
    except BackendUnavailable as exc:
        return f"engine: {exc.reason}"
    if found is not None:
        return "trains in the " + found.describe()
    if schema.axolotl_installed():
        try:
            version = importlib.metadata.version("axolotl")
        except importlib.metadata.PackageNotFoundError:
            version = "unknown version"
        return f"trains with the axolotl installed here ({version})"
    return f"axolotl is not installed: {engines.install_command('axolotl')}"


def _looks_like_path(model: str) -> bool:
    return model.startswith((".", "/", "~")) or model.count("/") > 1


class AxolotlBackend(LocalBackend):
    """Axolotl: SFT, DPO, KTO and ORPO with LoRA, QLoRA (4/8-bit), DoRA, rsLoRA or full
    fine-tuning; one GPU or several through accelerate (DDP, FSDP2, DeepSpeed ZeRO 1–3)."""

    name: ClassVar[str] = "axolotl"
    capabilities: ClassVar[Capabilities] = Capabilities(
        objectives=frozenset({"sft", "dpo", "kto", "orpo"}),
        methods=frozenset({"full", "lora", "qlora"}),
        needs_gpu=False,
        multi_process=True,
        resume=False,
        eval=True,
        notes="CUDA GPUs, or the CPU (slowly); `tunesdk engine install axolotl`; plan() works "
        "anywhere",
        unsupported={
            "prefix": "Axolotl trains LoRA, QLoRA and full fine-tunes, not prefix tuning "
            "(the trl backend does)",
            "adapter": "Axolotl trains LoRA, QLoRA and full fine-tunes, not bottleneck adapters "
            "(the trl backend does)",
            "grpo": "tunesdk does not drive Axolotl's GRPO: Axolotl 0.19's `rl: grpo` is set up "
            "around a vLLM generation server (trl.use_vllm) and takes rewards only as importable "
            "paths (trl.reward_funcs), no graders; train GRPO on the trl backend (CPU or GPU) "
            "or unsloth (GPU)",
        },
    )

    def check(self) -> Check:
        """Usable when ``$TUNESDK_AXOLOTL_COMMAND`` names an Axolotl installed elsewhere (which
        checks the machine itself), when the axolotl engine environment is set up
        (``tunesdk engine install axolotl``), or when axolotl is installed here. Without a CUDA
        GPU it trains on the CPU."""
        if os.environ.get(COMMAND_ENV):
            return Check(usable=True, reason=f"runs ${COMMAND_ENV}; it checks the machine itself")
        found = engines.find(self.name)
        if found is not None:
            if "axolotl" not in found.versions:
                return Check(
                    usable=False,
                    reason=f"{found.python} has no axolotl",
                    fix=INSTALL_FIX,
                    versions=found.versions,
                )
            return Check(usable=True, versions=found.versions)
        if not schema.axolotl_installed():
            return Check(usable=False, reason="axolotl is not installed", fix=INSTALL_FIX)
        versions = {"axolotl": importlib.metadata.version("axolotl")}
        for name in ("torch", "transformers"):
            if importlib.util.find_spec(name) is not None:
                versions[name] = importlib.metadata.version(name)
        if not cuda_available():
            return Check(usable=True, reason=CPU_NOTE, versions=versions)
        return Check(usable=True, versions=versions)

    def check_job(self, job: Job) -> Check:
        """`check`, on the machine that trains: a cluster launcher's job (ray, skypilot) needs
        Axolotl and its GPUs on the cluster's machines, not on this one."""
        if not self.trains_here(job):
            return Check(
                usable=True,
                reason=f"trains on the {job.resources.launcher} launcher's machines: Axolotl and "
                "their GPUs are checked there, not on this machine",
            )
        return self.check()

    def plan(self, job: Job) -> Plan:
        """The Axolotl YAML as ``plan.native`` (YAML format) and one row per option, and which
        interpreter will train. Pure (no import of axolotl)."""
        plan = build_plan(job, self.name)
        where = (
            engine_note()
            if self.trains_here(job)
            else f"trains on the {job.resources.launcher} cluster's Axolotl"
        )
        return plan.model_copy(update={"notes": [*plan.notes, where]})

    def export(self, job: Job, folder: Path) -> Path:
        """The YAML plus converted data under ``folder/axolotl``: run ``axolotl train <path>``."""
        from tunesdk_axolotl.export import export

        return export(job, folder)

    def preflight(self, job: Job, plan: Plan) -> None:
        """A local base model must exist, the data must pass Axolotl's data rules, and with
        Axolotl installed its schema must accept the config."""
        model = job.model_for(self.name)
        path = Path(model).expanduser()
        if path.exists() and not (path / "config.json").exists():
            raise JobError(
                f"{path} has no config.json, so it is not a transformers model folder",
                where="job.model",
                fix="point at a folder written by save_pretrained(), or give a Hugging Face id",
            )
        if not path.exists() and _looks_like_path(model):
            raise JobError(f"no model at {path}", where="job.model", fix="check the path")
        if self.trains_here(job):  # on a cluster, a hub id is the cluster's to download
            from tunesdk.paths import require_model

            require_model(model)  # offline and not cached: fail now, not after the hub's retries
        from tunesdk.data import Dataset

        for name in ("data", "eval_data"):
            source = getattr(job, name)
            if source is not None:
                Dataset.load(source).validate("axolotl", strict=True)
        if schema.axolotl_installed():
            schema.validate(plan.native)

    def train(self, run: RunRecord) -> LocalModel:
        from tunesdk_axolotl.training import train

        return train(run, self.name)

    # ---- models: Axolotl writes PEFT adapters / HF models, which the trl backend serves --------

    def _serving(self) -> Backend:
        from tunesdk.registry import get_backend

        try:
            return get_backend("trl")
        except BackendUnavailable as exc:
            raise BackendUnavailable(
                self.name,
                "chat(), generate(), load() and merge() of Axolotl models use the trl backend, "
                "which is not installed",
                fix="pip install 'tunesdk-axolotl[inference]' (or pip install tunesdk-trl)",
            ) from exc

    def chat(self, model: ModelHandle, messages: Messages, **generation: Any) -> str:
        return self._serving().chat(model, messages, **generation)

    def generate(self, model: ModelHandle, prompt: str, **generation: Any) -> str:
        return self._serving().generate(model, prompt, **generation)

    def load(self, model: LocalModel) -> tuple[Any, Any]:
        return self._serving().load(model)

    def merge(self, model: LocalModel, path: Path) -> LocalModel:
        return self._serving().merge(model, path)
