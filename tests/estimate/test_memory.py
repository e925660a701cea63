"""The memory model: components measured on the tiny model, and hand-computed arithmetic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tunesdk.estimation.architectures import KNOWN, resolve_architecture
from tunesdk.estimation.memory import (
    GIB,
    OVERHEAD_BYTES,
    activation_bytes,
    gpu_fits,
    method_memory,
    quantized_weight_bytes,
)

torch = pytest.importorskip("torch")
BATCH, SEQ = 4, 64


def _train_one_step(model: Any) -> dict[str, int]:
    """One AdamW step; bytes of parameters, gradients, optimizer moments and saved activations."""
    saved: dict[int, int] = {}

    def pack(tensor: Any) -> Any:
        storage = tensor.untyped_storage()  # count each storage once (views share it)
        saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-3)
    ids = torch.randint(0, 200, (BATCH, SEQ), generator=torch.Generator().manual_seed(0))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    optimizer.step()
    moments = [v for state in optimizer.state.values() for k, v in state.items() if k != "step"]
    return {
        "weights": sum(p.nbytes for p in model.parameters()),
        "gradients": sum(p.grad.nbytes for p in model.parameters() if p.grad is not None),
        "optimizer": sum(m.nbytes for m in moments),
        "activations": sum(saved.values()),
    }


def _load(path: Path) -> Any:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)


def test_full_fine_tuning_components_match_measured_bytes(tiny_model_dir: Path) -> None:
    resolved = resolve_architecture(str(tiny_model_dir))
    measured = _train_one_step(_load(tiny_model_dir))
    estimate = method_memory(
        resolved.architecture,
        "full",
        params=resolved.params,
        dtype="float32",
        micro_batch=BATCH,
        seq_len=SEQ,
        gradient_checkpointing=False,
    )
    assert estimate.weights_bytes == measured["weights"]
    assert estimate.gradients_bytes == measured["gradients"]
    assert estimate.optimizer_bytes == measured["optimizer"]
    assert estimate.master_weights_bytes == 0  # fp32 training keeps no extra master copy
    assert estimate.activations_bytes == pytest.approx(measured["activations"], rel=0.25)


def test_lora_components_match_measured_bytes(tiny_model_dir: Path) -> None:
    from peft import LoraConfig, get_peft_model

    resolved = resolve_architecture(str(tiny_model_dir))
    model = get_peft_model(
        _load(tiny_model_dir),
        LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", lora_dropout=0.0),
    )
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    measured = _train_one_step(model)
    estimate = method_memory(
        resolved.architecture,
        "lora",
        params=resolved.params,
        lora_r=8,
        dtype="float32",
        micro_batch=BATCH,
        seq_len=SEQ,
        gradient_checkpointing=False,
    )
    assert estimate.trainable_params == trainable
    assert estimate.weights_bytes == measured["weights"]
    assert estimate.gradients_bytes == measured["gradients"]
    assert estimate.optimizer_bytes == measured["optimizer"]
    assert estimate.activations_bytes == pytest.approx(measured["activations"], rel=0.25)


def test_full_bf16_mixed_precision_is_16_bytes_per_parameter() -> None:
    arch = KNOWN["llama-3-8b"]
    row = method_memory(arch, "full", params=arch.params, seq_len=1, micro_batch=1)
    per_param = (
        row.weights_bytes + row.gradients_bytes + row.optimizer_bytes + row.master_weights_bytes
    ) / arch.params
    assert per_param == 16  # 2 weights + 2 grads + 4 fp32 master + 8 AdamW
    assert row.reference_model_bytes == 0


def test_lora_on_llama3_8b_by_hand() -> None:
    arch = KNOWN["llama-3-8b"]
    row = method_memory(arch, "lora", params=arch.params, lora_r=16, seq_len=1, micro_batch=1)
    lora = 41_943_040
    assert row.trainable_params == lora
    assert row.weights_bytes == 2 * 8_030_261_248 + 4 * lora  # bf16 base + fp32 adapters
    assert row.gradients_bytes == 4 * lora
    assert row.optimizer_bytes == 8 * lora


def test_qlora_weights_are_nf4_linear_layers_plus_16_bit_rest() -> None:
    arch = KNOWN["llama-3-8b"]
    row = method_memory(arch, "qlora", params=arch.params, seq_len=1, micro_batch=1)
    linear = arch.linear_params  # 6,979,321,856 = 32 layers × 218,103,808
    assert linear == 32 * 218_103_808
    nf4 = linear * (0.5 + 1 / 64 + 4 / (64 * 256))  # double-quantized constants
    rest = (arch.params - linear) * 2
    assert row.weights_bytes == round(nf4 + rest) + 4 * 41_943_040
    assert quantized_weight_bytes(64, double_quant=False) == 64 * (0.5 + 4 / 64)


def test_activation_formula_by_hand() -> None:
    arch = KNOWN["llama-3-8b"]
    # e = 4h + 2q + 2kv + 4i = 16384 + 8192 + 2048 + 57344 = 83,968 values per token and layer
    tokens = 2 * 1024
    no_ckpt = activation_bytes(
        arch, micro_batch=2, seq_len=1024, dtype_bytes=2, gradient_checkpointing=False
    )
    logits = tokens * 128_256 * (2 + 8)
    assert no_ckpt == tokens * 32 * 83_968 * 2 + logits
    ckpt = activation_bytes(
        arch, micro_batch=2, seq_len=1024, dtype_bytes=2, gradient_checkpointing=True
    )
    assert ckpt == tokens * (32 * 4096 + 83_968) * 2 + logits


def test_dpo_doubles_sequences_and_full_dpo_keeps_a_reference_copy() -> None:
    arch = KNOWN["qwen2.5-0.5b"]
    sft = method_memory(arch, "full", params=arch.params, micro_batch=2, seq_len=512)
    dpo = method_memory(
        arch, "full", params=arch.params, micro_batch=2, seq_len=512, objective="dpo"
    )
    lora_dpo = method_memory(
        arch, "lora", params=arch.params, micro_batch=2, seq_len=512, objective="dpo"
    )
    assert (
        dpo.activations_bytes
        == method_memory(
            arch, "full", params=arch.params, micro_batch=4, seq_len=512
        ).activations_bytes
    )
    assert dpo.reference_model_bytes == arch.params * 2
    assert sft.reference_model_bytes == 0
    assert lora_dpo.reference_model_bytes == 0  # the adapters are switched off instead


def test_total_is_the_sum_of_components() -> None:
    arch = KNOWN["llama-3.2-1b"]
    row = method_memory(arch, "full", params=arch.params, micro_batch=4, seq_len=2048)
    parts = (
        row.weights_bytes
        + row.gradients_bytes
        + row.optimizer_bytes
        + row.master_weights_bytes
        + row.activations_bytes
        + row.reference_model_bytes
    )
    assert row.total_bytes == parts + OVERHEAD_BYTES


def test_gpu_fit_verdicts_and_headroom() -> None:
    fits = {f.gpu: f for f in gpu_fits(21 * GIB)}
    assert fits["T4 16GB"].verdict == "no"
    assert fits["T4 16GB"].headroom_bytes == 15360 * 1024**2 - 21 * GIB
    assert fits["L4 24GB"].verdict == "tight"  # 22.5 GiB card: 1.5 GiB (under 10%) left
    assert fits["A100 80GB"].verdict == "fits"
    assert fits["H200 141GB"].headroom_bytes > 0
