"""GPU memory of one training process, per method (full, LoRA, QLoRA): an estimate.

Components (bytes), for P base parameters, T trainable parameters, b micro-batch, s sequence length:

- weights: P × bytes(dtype); QLoRA: block linear weights at 4 bits (0.5 B/param) plus
  quantization constants, everything else (embeddings, norms, LM head) in the compute dtype;
  LoRA adapters are kept in fp32 (PEFT's ``autocast_adapter_dtype``).
- gradients: T × bytes of the trainable weights (dtype for full, fp32 for adapters).
- optimizer: AdamW's two moments, 2 × 4 B per trainable parameter.
- master weights: full fine-tuning in 16-bit mixed precision keeps an fp32 copy, 4 B per parameter.
- activations: see ``activation_bytes``; DPO runs chosen and rejected together (2b sequences).
- reference model: full-parameter DPO keeps a frozen copy of the weights (LoRA DPO disables the
  adapters instead).
- overhead: CUDA context, kernels' workspaces and allocator slack, a constant.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tunesdk.estimation.architectures import Architecture

GIB = 1024**3
OVERHEAD_BYTES = GIB  # CUDA context (~0.3–0.5 GiB) + cuBLAS/attention workspaces + allocator slack
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
ADAM_BYTES = 8
ADAPTER_BYTES = 4
NF4_BLOCK = 64
DOUBLE_QUANT_BLOCK = 256

MethodKind = Literal["full", "lora", "qlora"]
Dtype = Literal["float32", "bfloat16", "float16"]

#: name, memory as the driver reports it (nvidia-smi "Total", MiB)
GPUS: tuple[tuple[str, int], ...] = (
    ("T4 16GB", 15360),
    ("L4 24GB", 23034),
    ("A10G 24GB", 23028),
    ("RTX 4090 24GB", 24564),
    ("A100 40GB", 40960),
    ("A100 80GB", 81920),
    ("H100 80GB", 81559),
    ("H200 141GB", 143771),
)
TIGHT_FRACTION = 0.10


class GPUFit(BaseModel):
    gpu: str
    memory_bytes: int
    headroom_bytes: int = Field(description="GPU memory left after the estimate (negative: short)")
    verdict: Literal["fits", "tight", "no"] = Field(
        description="fits: ≥10% left; tight: under 10% left; no: the estimate exceeds the GPU"
    )


class MethodMemory(BaseModel):
    """Estimated peak GPU memory of one method, by component (bytes). An estimate, not a measure."""

    method: MethodKind
    selected: bool = Field(description="the job's own method")
    trainable_params: int
    weights_bytes: int
    gradients_bytes: int
    optimizer_bytes: int
    master_weights_bytes: int
    activations_bytes: int
    reference_model_bytes: int
    overhead_bytes: int
    total_bytes: int
    fits: list[GPUFit]

    @property
    def total_gib(self) -> float:
        return self.total_bytes / GIB


def quantized_weight_bytes(
    linear_params: int, *, bits: int = 4, double_quant: bool = True
) -> float:
    """Bytes of bitsandbytes-quantized linear weights, constants included.

    4-bit: 0.5 B/param plus one absmax per 64-weight block, fp32 (4/64 B/param), or with double
    quantization 8-bit absmax plus one fp32 constant per 256 blocks. 8-bit (LLM.int8): 1 B/param
    plus fp32 row scales, which are negligible and left out.
    """
    if bits == 8:
        return float(linear_params)
    if double_quant:
        constants = 1 / NF4_BLOCK + 4 / (NF4_BLOCK * DOUBLE_QUANT_BLOCK)
    else:
        constants = 4 / NF4_BLOCK
    return linear_params * (0.5 + constants)


def activation_bytes(
    arch: Architecture,
    *,
    micro_batch: int,
    seq_len: int,
    dtype_bytes: int,
    gradient_checkpointing: bool,
) -> int:
    """Activations kept for the backward pass, with a fused (flash/SDPA) attention kernel.

    Per layer and token a Llama-style block keeps e = 4h + 2·q_dim + 2·kv_dim + 4i values: the
    residual input and the two norm outputs (3h), q (q_dim), k and v (2·kv_dim), the attention
    output (q_dim), the second residual (h), and gate, up, act(gate) and their product (4i).
    Without checkpointing all L layers keep them: L·b·s·e. With checkpointing only each layer's
    input is kept (L·b·s·h) and one layer is recomputed at a time (b·s·e). The logits add
    b·s·V·(dtype + 8): the logits, their fp32 copy for the loss, and its fp32 gradient.
    """
    h, i = arch.hidden_size, arch.intermediate_size
    per_token_layer = 4 * h + 2 * arch.q_dim + 2 * arch.kv_dim + 4 * i
    tokens = micro_batch * seq_len
    if gradient_checkpointing:
        blocks = tokens * (arch.num_layers * h + per_token_layer) * dtype_bytes
    else:
        blocks = tokens * arch.num_layers * per_token_layer * dtype_bytes
    logits = tokens * arch.vocab_size * (dtype_bytes + 8)
    return int(blocks + logits)


def gpu_fits(total_bytes: int) -> list[GPUFit]:
    fits = []
    for name, mib in GPUS:
        capacity = mib * 1024**2
        headroom = capacity - total_bytes
        if headroom < 0:
            verdict: Literal["fits", "tight", "no"] = "no"
        elif headroom < TIGHT_FRACTION * capacity:
            verdict = "tight"
        else:
            verdict = "fits"
        fits.append(
            GPUFit(gpu=name, memory_bytes=capacity, headroom_bytes=headroom, verdict=verdict)
        )
    return fits


def method_memory(
    arch: Architecture,
    method: MethodKind,
    *,
    params: int,
    lora_r: int = 16,
    lora_targets: list[str] | str = "all-linear",
    dora: bool = False,
    bits: int = 4,
    double_quant: bool = True,
    dtype: Dtype = "bfloat16",
    micro_batch: int = 1,
    seq_len: int = 2048,
    gradient_checkpointing: bool = True,
    objective: str = "sft",
    selected: bool = False,
) -> MethodMemory:
    """The estimate for one method; ``params`` may differ from ``arch.params`` (a size override)."""
    width = DTYPE_BYTES[dtype]
    scale = params / arch.params  # 1.0 unless the user gave the size and we borrowed the shapes
    master = 0
    reference = 0
    if method == "full":
        trainable = params
        weights = params * width
        gradients = params * width
        if width < 4:
            master = params * 4
        if objective == "dpo":
            reference = params * width
    else:
        trainable = round(arch.lora_params(lora_r, lora_targets, dora=dora) * scale)
        adapters = trainable * ADAPTER_BYTES
        gradients = trainable * ADAPTER_BYTES
        if method == "qlora":
            linear = round(arch.linear_params * scale)
            packed = quantized_weight_bytes(linear, bits=bits, double_quant=double_quant)
            weights = round(packed + (params - linear) * width) + adapters
        else:
            weights = params * width + adapters
    optimizer = trainable * ADAM_BYTES
    sequences = micro_batch * (2 if objective == "dpo" else 1)
    activations = activation_bytes(
        arch,
        micro_batch=sequences,
        seq_len=seq_len,
        dtype_bytes=width,
        gradient_checkpointing=gradient_checkpointing,
    )
    total = weights + gradients + optimizer + master + activations + reference + OVERHEAD_BYTES
    return MethodMemory(
        method=method,
        selected=selected,
        trainable_params=trainable,
        weights_bytes=weights,
        gradients_bytes=gradients,
        optimizer_bytes=optimizer,
        master_weights_bytes=master,
        activations_bytes=activations,
        reference_model_bytes=reference,
        overhead_bytes=OVERHEAD_BYTES,
        total_bytes=total,
        fits=gpu_fits(total),
    )
