"""Device check: the memory estimate against measured peaks of one real training step.

Run on a CUDA machine: ``python benchmarks/gpu/estimate_memory_check.py [--out results.json]``.
Random-weight models with the built-in shapes (no download) train one AdamW step in bf16 autocast,
full fine-tuning (fp32 weights: 16 B/param like mixed precision) and LoRA (bf16 base, fp32
adapters), with gradient checkpointing on and off. ``torch.cuda.max_memory_allocated`` is compared
with the estimate minus its fixed CUDA-context overhead (which the allocator does not see).
Without CUDA it runs the tiny model on the CPU and checks only the exact components. Exit code 1
when a peak is off by more than ``--tolerance``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import torch

from tunesdk.estimation.architectures import KNOWN, Architecture
from tunesdk.estimation.memory import OVERHEAD_BYTES, method_memory


def _model(arch: Architecture, device: str, dtype: torch.dtype) -> Any:
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model(
        arch.model_type,
        **arch.hf_config_kwargs(),
        attn_implementation="sdpa",
    )
    with torch.device(device):
        return AutoModelForCausalLM.from_config(config, dtype=dtype)


def _step(
    arch: Architecture, method: str, *, device: str, batch: int, seq: int, ckpt: bool
) -> dict[str, Any]:
    cuda = device == "cuda"
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    base_dtype = torch.float32 if method == "full" or not cuda else torch.bfloat16
    model = _model(arch, device, base_dtype)
    if method == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear"))
    if ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    # fused on CUDA, as the HF Trainer's default optimizer (adamw_torch_fused): no big temporaries
    optimizer = torch.optim.AdamW(trainable, lr=1e-5, fused=cuda)
    ids = torch.randint(0, arch.vocab_size, (batch, seq), device=device)
    with torch.autocast(device, dtype=torch.bfloat16, enabled=cuda):
        loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    optimizer.step()
    measured = {
        "weights": sum(p.nbytes for p in model.parameters()),
        "gradients": sum(p.grad.nbytes for p in trainable),
        "optimizer": sum(
            v.nbytes for s in optimizer.state.values() for k, v in s.items() if k != "step"
        ),
        "trainable": sum(p.numel() for p in trainable),
    }
    if cuda:
        measured["peak"] = torch.cuda.max_memory_allocated()
    del model, optimizer, loss
    return measured


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default="qwen2.5-0.5b,llama-3.2-1b")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seq", type=int, default=1024)
    parser.add_argument("--tolerance", type=float, default=0.25)
    parser.add_argument("--out")
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    if cuda:
        names, batch, seq = args.models.split(","), args.batch, args.seq
        archs = [(name, KNOWN[name]) for name in names]
    else:
        import tempfile

        from tunesdk.estimation.architectures import resolve_architecture
        from tunesdk.testing import tiny_model

        path = tiny_model(tempfile.mkdtemp() + "/tiny")
        archs, batch, seq = [("tiny", resolve_architecture(str(path)).architecture)], 2, 32
    results, ok = [], True
    for name, arch in archs:
        for method in ("full", "lora"):
            for ckpt in (True, False):
                got = _step(arch, method, device=device, batch=batch, seq=seq, ckpt=ckpt)
                # on CUDA both methods are estimated as bf16 mixed precision: for full FT the
                # fp32 weights+grads (8 B/param) equal bf16 weights+grads+fp32 master (2+2+4)
                est = method_memory(
                    arch,
                    method,
                    params=arch.params,
                    lora_r=16,
                    dtype="bfloat16" if cuda else "float32",
                    micro_batch=batch,
                    seq_len=seq,
                    gradient_checkpointing=ckpt,
                )
                persistent = got["weights"] + got["gradients"] + got["optimizer"]
                est_persistent = (
                    est.weights_bytes
                    + est.gradients_bytes
                    + est.optimizer_bytes
                    + est.master_weights_bytes
                )
                row: dict[str, Any] = {"model": name, "method": method, "ckpt": ckpt, **got}
                row["est_trainable"] = est.trainable_params
                row["persistent"] = persistent
                row["est_persistent"] = est_persistent
                row["est_activations"] = est.activations_bytes
                exact = got["trainable"] == est.trainable_params and persistent == est_persistent
                row["components_exact"] = exact
                ok &= exact
                if cuda:
                    row["est_peak"] = est.total_bytes - OVERHEAD_BYTES
                    row["peak_ratio"] = round(got["peak"] / row["est_peak"], 3)
                    ok &= abs(row["peak_ratio"] - 1) <= args.tolerance
                results.append(row)
                print(json.dumps(row), flush=True)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
