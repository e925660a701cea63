"""TinkerBackend: SFT, DPO and GRPO as training loops over the Tinker API (official SDK).

**kind "managed"**: the GPUs, the weights and the checkpoints are the service's; a job needs
a key and spends the account's credit, like the other managed backends. **But the loop runs
here**, client-side, in tunesdk's worker process (this class is a `tunesdk.local.LocalBackend`):
``forward_backward``/``optim_step``/``sample`` are the service's calls, the schedule, batching,
rewards, events and checkpoints are the loop's. So the run outlives the process that submitted
it, ``Run.attach`` follows it from anywhere, and a cancel stops it between two optimizer steps
with a ``save_state`` checkpoint to ``resume=`` from.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path
from typing import Any, ClassVar

from tunesdk.backend import Capabilities, Check, Plan
from tunesdk.errors import JobError
from tunesdk.job import Job
from tunesdk.local import LocalBackend
from tunesdk.models import LocalModel, Messages, ModelHandle, ProviderModel
from tunesdk.plans import BackendKind
from tunesdk.store import RunRecord
from tunesdk_tinker import service
from tunesdk_tinker.plan import build_plan

#: completion length of chat()/generate() when not given
DEFAULT_MAX_NEW_TOKENS = 64
#: keys given in backend_options of jobs submitted from this process, by run id (never stored)
_keys: dict[str, str] = {}


class TinkerBackend(LocalBackend):
    """Training loops over the Tinker API: Thinking Machines' Tinker, Together's post-training
    API, or any server that speaks it (``backend_options.tinker.base_url``)."""

    name: ClassVar[str] = "tinker"
    kind: ClassVar[BackendKind] = "managed"
    capabilities: ClassVar[Capabilities] = Capabilities(
        objectives=frozenset({"sft", "dpo", "grpo"}),
        methods=frozenset({"lora"}),
        needs_gpu=False,
        resume=True,
        eval=True,
        download=True,
        notes="LoRA on the service; the loop runs in tunesdk's worker; download() where the "
        "service exports weights",
        unsupported={
            "full": "the Tinker API trains LoRA adapters only",
            "qlora": "the Tinker API trains LoRA adapters on the service's own weights "
            "(use ts.LoRA(); the service decides the base model's precision)",
            "prefix": "the Tinker API trains LoRA adapters only",
            "adapter": "the Tinker API trains LoRA adapters only",
            "kto": "the tinker backend trains SFT, DPO and GRPO (no KTO loop yet)",
            "orpo": "the tinker backend trains SFT, DPO and GRPO (no ORPO loop yet)",
        },
    )
    #: a cancelled loop saves its state first (one request): it needs seconds, not a minute
    cancel_grace_s: ClassVar[float] = 120.0

    # ---- availability ----------------------------------------------------------------------

    def check(self) -> Check:
        """Usable when the ``tinker`` SDK and transformers are installed and a key is found
        ($TINKER_API_KEY, $TINKER_CREDENTIAL_CMD or ``tinker auth login``)."""
        return self._check(None)

    def check_job(self, job: Job) -> Check:
        """As `check`, for the job's provider and its backend_options key."""
        return self._check(job)

    def _check(self, job: Job | None) -> Check:
        provider = service.provider_of(job)
        versions = {}
        for dist in dict.fromkeys((provider.distribution, "tinker", "transformers")):
            try:
                versions[dist] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                pass
        problems = [
            problem
            for problem in (
                service.import_problem(provider),
                None
                if importlib.util.find_spec("transformers") is not None
                else "transformers is not installed",
            )
            if problem
        ]
        if problems:
            installed = provider.distribution in versions
            return Check(
                usable=False,
                reason="; ".join(problems),
                fix=(
                    f"use a {provider.distribution} version whose Tinker-compatible client works "
                    f"with tinker {versions.get('tinker', '?')}, or provider 'tinker'"
                )
                if installed and provider.name != "tinker"
                else "pip install tunesdk-tinker"
                + (f" {provider.distribution}" if provider.distribution != "tinker" else ""),
                versions=versions,
            )
        if not service.has_key(job, provider):
            return Check(
                usable=False,
                reason=f"no API key for {provider.title}",
                fix=service.missing_key_fix(provider),
                versions=versions,
            )
        return Check(usable=True, versions=versions)

    # ---- planning and launching --------------------------------------------------------------

    def plan(self, job: Job) -> Plan:
        """The loop's settings (service, LoRA, schedule, optimizer, checkpoints), one row per
        option. Pure."""
        return build_plan(job, self.name)

    def preflight(self, job: Job, plan: Plan) -> None:
        """The data must pass tunesdk's rules, then the service must answer at all (the SDK
        would retry a dead URL for minutes inside the worker)."""
        super().preflight(job, plan)
        service.check_reachable(job)

    def launch(self, run: RunRecord) -> None:
        key = service.options(run.job).get("api_key")
        if key and key != "***":
            _keys[run.run_id] = str(key)
        super().launch(run)

    def worker_env(self, run: RunRecord) -> dict[str, str]:
        """A key given in backend_options reaches the worker through its environment (the run
        folder holds ``***`` in its place)."""
        env = super().worker_env(run)
        key = _keys.get(run.run_id)
        if key:
            env[service.provider_of(run.job).key_env] = key
        return env

    def train(self, run: RunRecord) -> ProviderModel:
        from tunesdk_tinker.training import train

        return train(run, self.name)

    # ---- models ------------------------------------------------------------------------------

    def _model(self, model: ModelHandle) -> ProviderModel:
        if not isinstance(model, ProviderModel) or model.provider != self.name:
            raise JobError(
                f"the tinker backend serves models it trained (tinker:tinker://...), not "
                f"{model.to_uri()}",
                where="model",
                fix="use the backend that trained the model",
            )
        return model

    def _job_of(self, model: ProviderModel) -> Job | None:
        """The job that trained ``model``, when its run is in this store."""
        if not model.job_id:
            return None
        from tunesdk.store import RunStore

        try:
            return RunStore().get(model.job_id).job
        except Exception:  # a run deleted since, or another store: the environment decides
            return None

    def _service_options(
        self, model: ProviderModel, job: Job | None, overrides: dict[str, Any]
    ) -> dict[str, Any]:
        """The service ``model`` lives on: its run's options, the key given to that run in this
        process (the stored job holds ``***``), then ``overrides``."""
        options = service.options(job)
        key = _keys.get(model.job_id or "")
        if key:
            options["api_key"] = key
        return options | overrides

    def __init__(self) -> None:
        self._samplers: dict[tuple[Any, ...], tuple[Any, Any, Any]] = {}

    def _sampler(self, model: ProviderModel, generation: dict[str, Any]) -> tuple[Any, Any, Any]:
        """(SDK module, sampling client of the weights, tokenizer of the base model), once per
        model and service in this process. Service options in ``generation`` (``base_url``,
        ``provider``, ``api_key``) are taken out of it."""
        job = self._job_of(model)
        overrides = {k: generation.pop(k) for k in service.SERVICE_OPTIONS if k in generation}
        options = self._service_options(model, job, overrides)
        provider = service.provider_of(options)
        key = (model.model_id, provider.name, service.base_url(options, provider), model.base_model)
        if key not in self._samplers:
            module = service.client_module(provider)
            client = service.service_client(options, provider)
            if not callable(getattr(client, "create_sampling_client", None)):
                raise JobError(
                    f"the {provider.name} Tinker client cannot sample from saved weights, so "
                    "chat() and generate() are not available for this model",
                    where="model.chat",
                    fix=f"serve the checkpoint {model.model_id} with the {provider.name} SDK or "
                    "console",
                )
            sampler = service.resolved(client.create_sampling_client(model_path=model.model_id))
            source = options.get("tokenizer") or model.base_model or _base_model_of(sampler)
            if not source:
                raise JobError(
                    f"{model.to_uri()} does not say its base model, whose tokenizer chat needs",
                    where="model.base_model",
                    fix="ts.load_model(uri, base_model='...') with the model it was trained from",
                )
            tokenizer = self._tokenizer(model, str(source), job, options)
            self._samplers[key] = (module, sampler, tokenizer)
        return self._samplers[key]

    def _tokenizer(
        self, model: ProviderModel, source: str, job: Job | None, options: dict[str, Any]
    ) -> Any:
        """``source``'s tokenizer; when it does not load here and the job named none, the one
        the service named when the run trained (kept in its run folder), as training did."""
        from tunesdk_tinker import service_tokenizer
        from tunesdk_tinker.data import load_tokenizer

        template = job.chat_template if job else None
        try:
            return load_tokenizer(source, template)
        except JobError:
            named = None
            if not options.get("tokenizer") and model.job_id:
                from tunesdk.store import RunStore

                try:
                    named = service_tokenizer.recalled(RunStore().get(model.job_id).dir)
                except Exception:  # a run deleted since, or another store: report the source
                    named = None
            if named is None:
                raise
            return load_tokenizer(named, template)

    def _sample(self, model: ProviderModel, prompt: Any, generation: dict[str, Any]) -> str:
        """``prompt(tokenizer)`` → tokens, sampled once with the generation options."""
        module, sampler, tokenizer = self._sampler(model, generation)
        tokens = prompt(tokenizer)
        max_tokens = generation.pop("max_new_tokens", generation.pop("max_tokens", None))
        params = module.types.SamplingParams(
            max_tokens=int(max_tokens or DEFAULT_MAX_NEW_TOKENS),
            temperature=float(generation.pop("temperature", 0.0)),
            top_p=float(generation.pop("top_p", 1.0)),
            seed=generation.pop("seed", None),
            stop=generation.pop("stop", None),
        )
        generation.pop("do_sample", None)  # greedy is temperature 0 here
        if generation:
            raise JobError(
                f"unknown generation option(s) for tinker models: {', '.join(sorted(generation))}",
                where="chat()",
                fix="use max_new_tokens, temperature, top_p, seed, stop",
            )
        answer = service.resolved(
            sampler.sample(
                prompt=module.types.ModelInput.from_ints(tokens),
                num_samples=1,
                sampling_params=params,
            )
        )
        return str(tokenizer.decode(answer.sequences[0].tokens, skip_special_tokens=True))

    def chat(self, model: ModelHandle, messages: Messages, **generation: Any) -> str:
        """The reply of the trained weights to ``messages`` (the base model's chat template),
        sampled on the service; greedy unless ``temperature`` is given."""

        def tokens(tokenizer: Any) -> list[int]:
            text = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
            return list(tokenizer(text, add_special_tokens=False)["input_ids"])

        return self._sample(self._model(model), tokens, dict(generation))

    def generate(self, model: ModelHandle, prompt: str, **generation: Any) -> str:
        """The continuation of a raw ``prompt``, sampled on the service."""

        def tokens(tokenizer: Any) -> list[int]:
            return list(tokenizer(prompt, add_special_tokens=True)["input_ids"])

        return self._sample(self._model(model), tokens, dict(generation))

    def download(self, model: ProviderModel, path: Path) -> LocalModel:
        """The LoRA adapter as a local PEFT folder (a LocalModel the trl backend serves)."""
        from tunesdk_tinker import download

        handle = self._model(model)
        options = self._service_options(handle, self._job_of(handle), {})
        provider = service.provider_of(options)
        if provider.name != "tinker":
            raise JobError(
                f"download() needs the Tinker REST API, which the {provider.name} client lacks",
                where="model.download",
                fix=f"download the weights with the {provider.name} SDK or console",
            )
        module = service.client_module(provider)
        rest = module.RestClient(
            base_url=service.base_url(options, provider), api_key=service.api_key(options, provider)
        )
        return download.fetch(rest, handle, Path(path))


def _base_model_of(sampler: Any) -> str | None:
    """The base model the service says a sampler runs (tinker's ``get_base_model()``)."""
    getter = getattr(sampler, "get_base_model", None)
    try:
        return str(getter()) if callable(getter) else None
    except Exception:  # an older service or another client: the caller says what is missing
        return None


__all__ = ["TinkerBackend"]
