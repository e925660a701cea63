"""What the offline Tinker server holds: sessions, training models, samplers, queued requests.

Each method is one API call, given the client's JSON (or decoded protobuf). It checks the
request at once (a `TinkerError` becomes the HTTP status) and queues the work on the single
worker thread (`FutureStore`), returning the request id; the worker is the only thread that
touches torch models, so requests run one at a time, in order.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tunesdk_tinker.emulator.errors import BadRequest, NotFound
from tunesdk_tinker.emulator.futures import FutureStore, Result
from tunesdk_tinker.emulator.models import BaseModels
from tunesdk_tinker.emulator.store import (
    CheckpointRef,
    CheckpointStore,
    RunInfo,
    checkpoint_ref,
    parse_tinker_path,
)
from tunesdk_tinker.emulator.wire import (
    ForwardBackward,
    forward_backward_output,
    sample_response,
)


@dataclass(frozen=True)
class SamplerSpec:
    """What a sampling session samples from: a base model, plus LoRA weights unless it is the
    base itself (a saved checkpoint's folder, or an in-memory snapshot)."""

    sampler_id: str
    base_model: str
    run: RunInfo | None = None
    folder: Path | None = None
    snapshot: dict[str, Any] | None = None
    model_path: str | None = None


@dataclass(frozen=True)
class ServerConfig:
    state_dir: Path
    models: dict[str, str]
    default_model: str | None
    lora_alpha: float
    device: str
    loaded_samplers: int


class ServerState:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.store = CheckpointStore(config.state_dir)
        self.bases = BaseModels(config.models, config.default_model, config.device)
        self.futures = FutureStore()
        self.sessions: dict[str, dict[str, Any]] = {}
        self.models: dict[str, Any] = {}  # model_id -> TrainingModel (worker thread only)
        self.pending_models: set[str] = set()  # created or being created
        self.samplers: dict[str, SamplerSpec] = {}
        self._loaded: OrderedDict[str, Any] = OrderedDict()  # sampler_id -> model (LRU)
        self._seen: dict[tuple[str, int], str] = {}  # (model or sampler, seq_id) -> request id
        self._seen_lock = threading.Lock()

    def close(self) -> None:
        self.futures.close()

    def once(self, owner: str, seq_id: Any, submit: Callable[[], str]) -> str:
        """Queue a request once per ``(owner, seq_id)``: a retry of a request whose answer was
        lost gets the first request's id back instead of running twice (no doubled gradients)."""
        if seq_id is None:
            return submit()
        key = (owner, int(seq_id))
        with self._seen_lock:
            if key not in self._seen:
                self._seen[key] = submit()
            return self._seen[key]

    def live(self, **changes: Any) -> None:
        """Apply changed settings (model names, lora_alpha, ...) to what is created next."""
        self.config = replace(self.config, **changes)
        self.bases.remap(self.config.models, self.config.default_model)

    # ---- sessions -----------------------------------------------------------------------------

    def create_session(self, body: dict[str, Any]) -> dict[str, Any]:
        session_id = uuid.uuid4().hex
        self.sessions[session_id] = {"created": time.time(), "finished": None, **body}
        return {"type": "create_session", "session_id": session_id}

    def session(self, session_id: str) -> dict[str, Any]:
        if session_id not in self.sessions:
            raise NotFound(f"session {session_id!r} does not exist (the server may have restarted)")
        return self.sessions[session_id]

    def finish_session(self, session_id: str, reason: Any) -> None:
        """Mark the session finished and release its models (their checkpoints stay)."""
        self.session(session_id)["finished"] = reason

        def release() -> Result:
            for model_id in [m for m in self.models if m.startswith(f"{session_id}:")]:
                del self.models[model_id]
            for sampler_id in [s for s in self.samplers if s.startswith(f"{session_id}:")]:
                self.samplers.pop(sampler_id, None)
                self._loaded.pop(sampler_id, None)
            with self._seen_lock:
                for key in [k for k in self._seen if k[0].startswith(f"{session_id}:")]:
                    del self._seen[key]
            return Result("json", None)

        self.futures.submit(release)

    # ---- training models ----------------------------------------------------------------------

    def create_model(self, body: dict[str, Any]) -> str:
        session_id = str(body.get("session_id"))
        self.session(session_id)
        model_id = f"{session_id}:train:{int(body.get('model_seq_id', 0))}"
        lora = body.get("lora_config") or {}
        rank = int(lora.get("rank", 32))
        if rank < 1:
            raise BadRequest(f"lora_config.rank must be at least 1, got {rank}")
        _check_optimizer(body.get("optimizer_config"))
        base_model = str(body.get("base_model"))
        self.bases.resolve(base_model)
        info = RunInfo(
            run_id=model_id,
            base_model=base_model,
            lora_rank=rank,
            lora_alpha=self.config.lora_alpha,
            seed=lora.get("seed"),
            train_mlp=bool(lora.get("train_mlp", True)),
            train_attn=bool(lora.get("train_attn", True)),
            train_unembed=bool(lora.get("train_unembed", True)),
            created=time.time(),
        )
        self.pending_models.add(model_id)

        def create() -> Result:
            if model_id not in self.models:
                self._new_model(info)
                self.store.create_run(info)
            return Result("json", {"type": "create_model", "model_id": model_id})

        return self.once(model_id, 0, lambda: self.futures.submit(create))

    def _new_model(self, info: RunInfo) -> Any:
        from tunesdk_tinker.emulator.training import TrainingModel

        model = TrainingModel(info, self.bases.fresh_copy(info.base_model))
        self.models[info.run_id] = model
        return model

    def _known_model(self, model_id: Any) -> str:
        if model_id not in self.pending_models:
            detail = ""
            try:
                self.store.run_info(str(model_id))
                detail = (
                    "; its checkpoints remain: create a new training client from one "
                    "(create_training_client_from_state)"
                )
            except (NotFound, BadRequest):
                pass
            raise NotFound(f"model {model_id!r} is not loaded on this server{detail}")
        return str(model_id)

    def _model(self, model_id: str) -> Any:
        model = self.models.get(model_id)
        if model is None:
            raise NotFound(f"model {model_id!r} was not created (see the create_model error)")
        return model

    def get_info(self, body: dict[str, Any]) -> dict[str, Any]:
        model_id = str(body.get("model_id"))
        if model_id in self.pending_models:
            self.futures.run_now(lambda: Result("json", None))  # let a queued create finish
        info = self.store.run_info(model_id)
        tokenizer_path = self.bases.resolve(info.base_model)
        return {
            "type": "get_info",
            "model_id": model_id,
            "model_data": {
                "arch": "lora",
                "model_name": info.base_model,
                "tokenizer_id": str(tokenizer_path),
            },
            "is_lora": True,
            "lora_rank": info.lora_rank,
            "model_name": info.base_model,
        }

    def forward_backward(self, request: ForwardBackward) -> str:
        model_id = self._known_model(request.model_id)
        from tunesdk_tinker.emulator.losses import loss_fn

        loss_fn(request.loss_fn)

        def run() -> Result:
            outputs, metrics = self._model(model_id).forward_backward(
                request.data, request.loss_fn, request.config, backward=not request.forward_only
            )
            return Result("proto", forward_backward_output(outputs, metrics))

        return self.once(model_id, request.seq_id or None, lambda: self.futures.submit(run))

    def optim_step(self, body: dict[str, Any]) -> str:
        model_id = self._known_model(body.get("model_id"))
        params = body.get("adam_params")
        if params is None:
            raise BadRequest("optim_step: the offline server implements Adam only; send AdamParams")

        def run() -> Result:
            return Result("json", {"metrics": self._model(model_id).optim_step(params)})

        return self.once(model_id, body.get("seq_id"), lambda: self.futures.submit(run))

    # ---- checkpoints --------------------------------------------------------------------------

    def save_weights(self, body: dict[str, Any]) -> str:
        """``save_state``: adapter and optimizer under ``weights/``."""
        model_id = self._known_model(body.get("model_id"))
        ref = checkpoint_ref(model_id, "weights", body.get("path") or _auto_name())
        return self._save(ref, model_id, body, optimizer=True, kind="save_weights")

    def save_weights_external(self, body: dict[str, Any]) -> str:
        """The adapter as a PEFT folder under ``external_weights/``, for download."""
        model_id = self._known_model(body.get("model_id"))
        if body.get("age_encryption_recipients"):
            raise BadRequest(
                "the offline server does not encrypt exports; leave out the recipients"
            )
        ref = checkpoint_ref(model_id, "external_weights", body.get("path") or _auto_name())
        return self._save(ref, model_id, body, optimizer=False, kind="save_weights_external")

    def save_weights_for_sampler(self, body: dict[str, Any]) -> str:
        model_id = self._known_model(body.get("model_id"))
        if body.get("path"):
            ref = checkpoint_ref(model_id, "sampler_weights", body["path"])
            return self._save(ref, model_id, body, optimizer=False, kind="save_weights_for_sampler")
        session_id = model_id.split(":", 1)[0]
        sampler_id = f"{session_id}:sample:{int(body.get('sampling_session_seq_id') or 0)}"

        def snapshot() -> Result:
            model = self._model(model_id)
            self.samplers[sampler_id] = SamplerSpec(
                sampler_id, model.info.base_model, model.info, snapshot=model.adapter_state()
            )
            self._loaded.pop(sampler_id, None)
            return Result(
                "json", {"type": "save_weights_for_sampler", "sampling_session_id": sampler_id}
            )

        return self.once(model_id, body.get("seq_id"), lambda: self.futures.submit(snapshot))

    def _save(
        self, ref: CheckpointRef, model_id: str, body: dict[str, Any], *, optimizer: bool, kind: str
    ) -> str:
        overwrite = bool(body.get("overwrite", False))
        seen = (model_id, int(body["seq_id"])) in self._seen if body.get("seq_id") else False
        if self.store.folder(ref).exists() and not overwrite and not seen:
            raise BadRequest(f"checkpoint {ref.tinker_path} already exists; pick another name")

        def save() -> Result:
            folder = self.store.new_checkpoint(ref, overwrite=overwrite)
            self._model(model_id).save(folder, optimizer=optimizer)
            self.store.finish_checkpoint(ref, user_metadata=body.get("user_metadata"))
            payload: dict[str, Any] = {"type": kind, "path": ref.tinker_path}
            if kind == "save_weights_external":
                payload["size_bytes"] = self.store.describe(ref)["size_bytes"]
            return Result("json", payload)

        return self.once(model_id, body.get("seq_id"), lambda: self.futures.submit(save))

    def load_weights(self, body: dict[str, Any]) -> str:
        """Load a checkpoint into a model, or (``session_id`` + ``model_seq_id``) create a new
        training model from one."""
        path = str(body.get("path"))
        ref = parse_tinker_path(path)
        folder = self.store.existing(ref)
        optimizer = bool(body.get("optimizer"))
        if optimizer and ref.kind != "training":
            raise BadRequest(f"{path} holds no optimizer state; only weights/ checkpoints do")
        if body.get("session_id") is not None:
            session_id = str(body["session_id"])
            self.session(session_id)
            _check_optimizer(body.get("optimizer_config"))
            model_id = f"{session_id}:train:{int(body.get('model_seq_id') or 0)}"
            source = self.store.run_info(ref.run_id)
            base_model = str(body.get("base_model") or source.base_model)
            self.bases.resolve(base_model)
            info = replace(source, run_id=model_id, base_model=base_model, created=time.time())
            self.pending_models.add(model_id)
        else:
            model_id = self._known_model(body.get("model_id"))
            info = None

        def load() -> Result:
            if info is not None and model_id not in self.models:
                self._new_model(info)
                self.store.create_run(info)
            self._model(model_id).load(folder, optimizer=optimizer)
            return Result("json", {"type": "load_weights", "path": path, "model_id": model_id})

        seq_id = body.get("seq_id") if info is None else 0  # create-via-load is the model's first
        return self.once(model_id, seq_id, lambda: self.futures.submit(load))

    # ---- sampling -----------------------------------------------------------------------------

    def create_sampling_session(self, body: dict[str, Any]) -> dict[str, Any]:
        session_id = str(body.get("session_id"))
        self.session(session_id)
        sampler_id = f"{session_id}:sample:{int(body.get('sampling_session_seq_id') or 0)}"
        self.samplers[sampler_id] = self._spec(sampler_id, body)
        self._loaded.pop(sampler_id, None)
        return {"type": "create_sampling_session", "sampling_session_id": sampler_id}

    def _spec(self, sampler_id: str, body: dict[str, Any]) -> SamplerSpec:
        if body.get("model_path"):
            ref = parse_tinker_path(str(body["model_path"]))
            folder = self.store.existing(ref)
            run = self.store.run_info(ref.run_id)
            return SamplerSpec(
                sampler_id, run.base_model, run, folder=folder, model_path=ref.tinker_path
            )
        if not body.get("base_model"):
            raise BadRequest("sampling needs a model_path (tinker://...) or a base_model")
        self.bases.resolve(str(body["base_model"]))
        return SamplerSpec(sampler_id, str(body["base_model"]))

    def get_sampler(self, sampler_id: str) -> dict[str, Any]:
        spec = self.samplers.get(sampler_id)
        if spec is None:
            raise NotFound(f"sampler {sampler_id!r} does not exist on this server")
        return {
            "sampler_id": sampler_id,
            "base_model": spec.base_model,
            "model_path": spec.model_path,
        }

    def sample(self, body: dict[str, Any]) -> tuple[str, int]:
        """Queue a sample request; returns its request id and the number of samples."""
        from tunesdk_tinker.emulator import sampling

        if body.get("sampling_session_id"):
            spec = self.samplers.get(str(body["sampling_session_id"]))
            if spec is None:
                raise NotFound(f"sampling session {body['sampling_session_id']!r} does not exist")
        else:
            spec = self._spec(f"direct:{uuid.uuid4().hex}", body)
        prompt = _prompt_tokens(body.get("prompt") or {})
        unsupported = [
            name
            for name in ("topk_prompt_logprobs", "topk_sample_logprobs", "prompt_alt_tokens_k")
            if body.get(name)
        ] + [
            name for name in ("target_prompt_logprobs", "prompt_logprobs_last_n") if body.get(name)
        ]
        if unsupported:
            raise BadRequest(
                f"sample: the offline server does not implement {', '.join(unsupported)}; "
                "logprobs of sampled tokens and include_prompt_logprobs are supported"
            )
        num_samples = int(body.get("num_samples", 1))
        raw_params = body.get("sampling_params") or {}

        def run() -> Result:
            model, tokenizer = self._sampler_model(spec)
            params = sampling.Params.parse(raw_params, sampling.eos_ids(model, tokenizer))
            sequences = sampling.sample(model, tokenizer, prompt, num_samples, params)
            scored = (
                sampling.prompt_logprobs(model, prompt) if body.get("prompt_logprobs") else None
            )
            return Result("proto", sample_response(sequences, scored))

        return self.once(
            spec.sampler_id, body.get("seq_id"), lambda: self.futures.submit(run)
        ), num_samples

    def _sampler_model(self, spec: SamplerSpec) -> tuple[Any, Any]:
        """The sampler's model, loaded once and kept among the last few used."""
        tokenizer = self.bases.tokenizer(spec.base_model)
        if spec.sampler_id in self._loaded:
            self._loaded.move_to_end(spec.sampler_id)
            return self._loaded[spec.sampler_id], tokenizer
        base = self.bases.fresh_copy(spec.base_model)
        if spec.run is None:
            model = base
        else:
            from peft import set_peft_model_state_dict
            from safetensors.torch import load_file

            from tunesdk_tinker.emulator.training import attach_lora

            model = attach_lora(base, spec.run)
            weights = spec.snapshot
            if weights is None:
                assert spec.folder is not None
                weights = load_file(spec.folder / "adapter_model.safetensors")
            set_peft_model_state_dict(model, weights)
        model.eval()
        self._loaded[spec.sampler_id] = model
        while len(self._loaded) > max(1, self.config.loaded_samplers):
            self._loaded.popitem(last=False)
        return model, tokenizer


def _check_optimizer(config: Any) -> None:
    kind = (config or {}).get("type", "adamw")
    if kind != "adamw":
        raise BadRequest(f"optimizer {kind!r} is not implemented by the offline server; use Adam")


def _prompt_tokens(prompt: dict[str, Any]) -> list[int]:
    tokens: list[int] = []
    for chunk in prompt.get("chunks") or []:
        if chunk.get("type", "encoded_text") != "encoded_text":
            raise BadRequest(
                f"sample: {chunk.get('type')} chunks are not supported by the offline server "
                "(text models only)"
            )
        tokens.extend(int(t) for t in chunk.get("tokens") or [])
    return tokens


def _auto_name() -> str:
    return f"checkpoint-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


__all__ = ["SamplerSpec", "ServerConfig", "ServerState"]
