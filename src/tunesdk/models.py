"""Handles to fine-tuned models, the same shape whichever backend trained them.

A handle is plain data (JSON round trip, a ``local:`` or ``<provider>:`` URI); its operations
(``chat``, ``generate``, ``load``, ``merge``, ``download``, ``deploy``) are carried out by the backend
package that serves it, found through the backend registry. ``import tunesdk`` stays light.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tunesdk.errors import JobError

if TYPE_CHECKING:
    from tunesdk.backend import Backend

Messages = list[dict[str, Any]]
HANDLE_FILE = "tunesdk_model.json"
#: the config file of a bottleneck adapter folder (tunesdk's own format, written by tunesdk-trl)
BOTTLENECK_CONFIG = "bottleneck_config.json"


class _Handle(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    base_model: str | None = None

    def _backend(self) -> Backend:
        raise NotImplementedError

    def chat(self, messages: Messages, **generation: Any) -> str:
        """Answer a conversation (OpenAI-style ``messages``) and return the assistant's text."""
        return self._backend().chat(self, messages, **generation)  # type: ignore[arg-type]

    def generate(self, prompt: str, **generation: Any) -> str:
        """Continue a raw prompt (no chat template)."""
        return self._backend().generate(self, prompt, **generation)  # type: ignore[arg-type]

    def to_uri(self) -> str:
        raise NotImplementedError


class LocalModel(_Handle):
    """Weights on disk: a PEFT adapter folder (``kind="adapter"``) or a full/merged model."""

    type: Literal["local"] = "local"
    path: str
    kind: Literal["adapter", "merged", "full"] = "adapter"
    engine: str = Field("trl", description="the backend that loads it for inference")

    def _backend(self) -> Backend:
        from tunesdk.registry import get_backend

        return get_backend(self.engine)

    def require_base(self) -> None:
        """JobError, at once, when an adapter's base model cannot be loaded here (not a local
        folder, not in the Hugging Face cache, and the hub offline or unreachable)."""
        if self.kind != "adapter" or not self.base_model:
            return
        from tunesdk.paths import require_model

        require_model(self.base_model, where=f"base model of {self.path}")

    def load(self) -> tuple[Any, Any]:
        """(model, tokenizer) loaded with transformers (and peft for adapters)."""
        return self._backend().load(self)

    def merge(self, path: str | Path) -> LocalModel:
        """Write base + adapter merged into one model at ``path`` and return its handle.

        LoRA adapters only: bottleneck adapters add layers, so there is nothing to fold them into.
        """
        self.check_mergeable()
        return self._backend().merge(self, Path(path))

    def check_mergeable(self) -> None:
        """JobError when this model's kind of adapter cannot be merged into its base weights."""
        if self.kind == "adapter" and (Path(self.path) / BOTTLENECK_CONFIG).is_file():
            raise JobError(
                f"{self.path} holds bottleneck adapters, which cannot be merged into the base "
                "weights: they add layers (a down- and an up-projection after each adapted "
                "block) that the base model has no weights for",
                where="model.merge",
                fix="use the adapters as they are (model.chat(), model.load()), or train "
                "LoRA (`method: lora`) for an adapter that merges away",
            )

    def export_gguf(
        self, path: str | Path, quantization: str = "q4_k_m", *, engine: str | None = None
    ) -> list[Path]:
        """Write the model as GGUF files (llama.cpp, Ollama, LM Studio) under ``path``.

        ``engine``: the backend that converts (default: the one that trained it). The unsloth
        backend offers it (``engine="unsloth"`` also converts models trained by trl or axolotl).
        """
        from tunesdk.registry import get_backend

        backend = get_backend(engine) if engine else self._backend()
        return backend.export_gguf(self, Path(path), quantization)

    def to_uri(self) -> str:
        """``local:/abs/path``, readable by ``ts.load_model``; a model a cluster left in a
        bucket keeps its URI (``local:s3://bucket/prefix/model``)."""
        if "://" in self.path:
            return f"local:{self.path}"
        return f"local:{Path(self.path).resolve()}"

    def save_metadata(self) -> Path:
        """Write this handle next to the weights, so ``load_model("local:...")`` restores it."""
        target = Path(self.path) / HANDLE_FILE
        target.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return target


class ProviderModel(_Handle):
    """A model held by a managed provider, addressed by the provider's model id."""

    type: Literal["provider"] = "provider"
    provider: str
    model_id: str
    job_id: str | None = None

    def _backend(self) -> Backend:
        from tunesdk.registry import get_backend

        return get_backend(self.provider)

    def deploy(self, **options: Any) -> ProviderModel:
        """Make the model servable where the provider needs a deployment first (Fireworks)."""
        return self._backend().deploy(self, **options)

    def download(self, path: str | Path) -> LocalModel:
        """Download the weights where the provider allows it (Together)."""
        return self._backend().download(self, Path(path))

    def to_uri(self) -> str:
        """``provider:model_id``, readable by ``ts.load_model``."""
        return f"{self.provider}:{self.model_id}"


ModelHandle = LocalModel | ProviderModel
ModelHandleField = Annotated[LocalModel | ProviderModel, Field(discriminator="type")]


def load_model(uri: str, *, base_model: str | None = None) -> ModelHandle:
    """Rebuild a handle from its URI: ``local:/path/to/adapter`` or ``together:acct/model-id``."""
    scheme, sep, rest = uri.partition(":")
    if not sep or not rest or not scheme:
        raise JobError(
            f"{uri!r} is not a model URI",
            fix="use local:/path/to/model or <provider>:<model id>, e.g. together:acct/my-model",
        )
    if scheme == "local":
        if "://" in rest:  # in a bucket (a cluster launcher's outputs): nothing to read here
            return LocalModel(path=rest, base_model=base_model)
        return _local_from_path(Path(rest), base_model)
    return ProviderModel(provider=scheme, model_id=rest, base_model=base_model)


def _local_from_path(path: Path, base_model: str | None) -> LocalModel:
    text = str(path)
    shown = text if len(text) <= 200 else f"{text[:80]}... ({len(text)} characters)"
    try:
        found = path.exists()
    except OSError as exc:  # e.g. a name too long for the file system
        reason = exc.strerror or type(exc).__name__
        raise JobError(
            f"no model at {shown} ({reason})", where="load_model", fix="check the path"
        ) from None
    if not found:
        raise JobError(f"no model at {shown}", where="load_model", fix="check the path")
    meta = path / HANDLE_FILE
    if meta.exists():
        handle = LocalModel.model_validate_json(meta.read_text(encoding="utf-8"))
        return handle.model_copy(update={"path": str(path.resolve())})
    adapter_config = path / "adapter_config.json"
    if not adapter_config.exists() and (path / BOTTLENECK_CONFIG).exists():
        adapter_config = path / BOTTLENECK_CONFIG  # same base_model_name_or_path key
    if adapter_config.exists():
        config = json.loads(adapter_config.read_text(encoding="utf-8"))
        return LocalModel(
            path=str(path.resolve()),
            kind="adapter",
            base_model=base_model or config.get("base_model_name_or_path"),
        )
    if (path / "config.json").exists():
        return LocalModel(path=str(path.resolve()), kind="full", base_model=base_model)
    raise JobError(
        f"{path} holds no model (no {HANDLE_FILE}, adapter_config.json or config.json)",
        where="load_model",
        fix="point at the folder a run wrote (see `tunesdk status RUN`)",
    )


__all__ = ["LocalModel", "ModelHandle", "ModelHandleField", "ProviderModel", "load_model"]
