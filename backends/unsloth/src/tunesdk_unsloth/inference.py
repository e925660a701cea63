"""Using models the unsloth backend trained: load (Unsloth's fast inference where it can run,
transformers + PEFT elsewhere), merge (``save_pretrained_merged``) and GGUF export
(``save_pretrained_gguf``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunesdk.errors import BackendUnavailable, JobError, TuneError
from tunesdk.models import LocalModel
from tunesdk_trl import inference as trl_inference
from tunesdk_unsloth.environment import require_unsloth, unsloth_usable

ENGINE = "unsloth"
#: llama.cpp quantization types Unsloth's save_pretrained_gguf accepts (its ALLOWED_QUANTS)
GGUF_QUANTIZATIONS = (
    "not_quantized", "fast_quantized", "quantized", "f32", "bf16", "f16", "q8_0", "q4_k_m",
    "q5_k_m", "q2_k", "q2_k_l", "q3_k_l", "q3_k_m", "q3_k_s", "q4_0", "q4_1", "q4_k_s", "q4_k",
    "q5_k", "q5_0", "q5_1", "q5_k_s", "q6_k", "q3_k_xs",
)  # fmt: skip


def _fast_load(handle: LocalModel) -> tuple[Any, Any]:
    """(model, tokenizer) through Unsloth, 16-bit (an adapter folder loads its base + adapter)."""
    from unsloth import FastLanguageModel

    path = Path(handle.path)
    if not path.exists():
        raise JobError(f"no model at {path}", where="model.path", fix="check the path")
    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=str(path), load_in_4bit=False, dtype=None
    )
    return model, tokenizer


def load(handle: LocalModel) -> tuple[Any, Any]:
    """(model, tokenizer) ready to generate: Unsloth's ``for_inference`` model where a GPU and
    Unsloth are present, otherwise the trl backend's transformers + PEFT load (same weights)."""
    if not unsloth_usable():
        return trl_inference.load(handle)
    from unsloth import FastLanguageModel

    model, tokenizer = _fast_load(handle)
    FastLanguageModel.for_inference(model)
    return model, tokenizer


def merge(handle: LocalModel, path: Path) -> LocalModel:
    """Fold a LoRA adapter into 16-bit base weights at ``path`` (Unsloth's
    ``save_pretrained_merged(save_method="merged_16bit")``; the trl backend's PEFT merge on machines
    where Unsloth cannot run)."""
    trl_inference.check_mergeable(handle)
    if not unsloth_usable():
        return trl_inference.merge(handle, path, engine=ENGINE)
    model, tokenizer = _fast_load(handle)
    target = Path(path)
    model.save_pretrained_merged(str(target), tokenizer, save_method="merged_16bit")
    result = LocalModel(
        path=str(target.resolve()), base_model=handle.base_model, kind="merged", engine=ENGINE
    )
    result.save_metadata()
    return result


def check_quantization(quantization: str) -> str:
    """The llama.cpp quantization name, lower-cased; JobError listing the valid ones otherwise."""
    name = quantization.lower()
    if name not in GGUF_QUANTIZATIONS:
        raise JobError(
            f"{quantization!r} is not a GGUF quantization Unsloth can write",
            where="export_gguf(quantization=...)",
            fix=f"use one of {', '.join(GGUF_QUANTIZATIONS)} (q4_k_m is the usual choice)",
        )
    return name


def export_gguf(handle: LocalModel, path: Path, quantization: str = "q4_k_m") -> list[Path]:
    """Write the model (adapter merged into its base) as GGUF for llama.cpp/Ollama with Unsloth's
    ``save_pretrained_gguf``; returns the ``.gguf`` files. Needs a GPU, Unsloth, and llama.cpp
    (which Unsloth fetches and builds on first use)."""
    name = check_quantization(quantization)
    try:
        require_unsloth()
    except BackendUnavailable as exc:
        raise BackendUnavailable(
            ENGINE,
            f"GGUF export runs Unsloth's save_pretrained_gguf, which {exc.reason}",
            fix=exc.fix,
        ) from None
    model, tokenizer = _fast_load(handle)
    target = Path(path)
    result = model.save_pretrained_gguf(str(target), tokenizer, quantization_method=name)
    files = _gguf_files(result, target)
    if not files:
        raise TuneError(
            f"Unsloth's save_pretrained_gguf finished but no .gguf file is under {target}",
            fix="see the output above for llama.cpp build or conversion errors",
        )
    return files


def _gguf_files(result: Any, target: Path) -> list[Path]:
    """Recent Unsloth returns {"gguf_files": [...]}; older versions only write the files."""
    if isinstance(result, dict) and result.get("gguf_files"):
        return [Path(f).resolve() for f in result["gguf_files"]]
    folders = [target, target.with_name(target.name + "_gguf")]
    return sorted(
        f.resolve() for folder in folders if folder.is_dir() for f in folder.glob("*.gguf")
    )
