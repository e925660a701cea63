"""One Tinker training client's model: a base model with PEFT LoRA layers and an AdamW optimizer.

``forward_backward`` adds gradients (Tinker sums losses over tokens and datums, and accumulates
over calls) until ``optim_step`` applies them with that step's Adam parameters and clears them.
LoRA covers the layers the client asked for: attention (``train_attn``), MLP (``train_mlp``) and
the unembedding (``train_unembed``), with ``lora_alpha`` from the server's settings.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tunesdk_tinker.emulator.errors import BadRequest
from tunesdk_tinker.emulator.losses import loss_fn
from tunesdk_tinker.emulator.store import RunInfo
from tunesdk_tinker.emulator.wire import Datum

OPTIMIZER_FILE = "optimizer.pt"


def lora_targets(model: Any, info: RunInfo) -> list[str]:
    """Full names of the linear layers LoRA goes on, by the client's three switches."""
    unembed = model.get_output_embeddings()
    chosen = []
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        if module is unembed:
            wanted = info.train_unembed
        elif "attn" in name or "attention" in name:
            wanted = info.train_attn
        else:
            wanted = info.train_mlp
        if wanted:
            chosen.append(name)
    if not chosen:
        raise BadRequest("the LoRA config selects no layer of this model (train_mlp/attn/unembed)")
    return chosen


def attach_lora(base: Any, info: RunInfo) -> Any:
    """``base`` with fresh LoRA layers (seeded by ``info.seed``) as a PEFT model."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=info.lora_rank,
        lora_alpha=info.lora_alpha,  # type: ignore[arg-type]  # PEFT takes floats
        lora_dropout=0.0,
        target_modules=lora_targets(base, info),
        bias="none",
        task_type="CAUSAL_LM",
    )
    generator_state = torch.random.get_rng_state()
    if info.seed is not None:
        torch.manual_seed(info.seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # PEFT calls a deprecated HF property
            return get_peft_model(base, config)
    finally:
        torch.random.set_rng_state(generator_state)


def check_vocabulary(model: Any, tokens: Sequence[int], where: str) -> None:
    """BadRequest for a token id the model has no embedding for."""
    size = model.get_input_embeddings().num_embeddings
    bad = next((t for t in tokens if not 0 <= t < size), None)
    if bad is not None:
        raise BadRequest(
            f"{where}: token id {bad} is outside the model's vocabulary (0..{size - 1})"
        )


def target_logprobs(model: Any, batch: Sequence[Datum]) -> list[torch.Tensor]:
    """Per datum, the model's logprob of each ``target_tokens`` entry (right-padded batch)."""
    for index, datum in enumerate(batch):
        if not datum.tokens:
            raise BadRequest(f"datum {index}: model_input is empty")
        targets = datum.inputs.get("target_tokens")
        if targets is None:
            raise BadRequest(f"datum {index}: loss_fn_inputs needs 'target_tokens'")
        if targets.size != len(datum.tokens):
            raise BadRequest(
                f"datum {index}: target_tokens has {targets.size} entries but model_input has "
                f"{len(datum.tokens)} tokens (position i predicts target i)"
            )
        check_vocabulary(model, datum.tokens + targets.tolist(), f"datum {index}")
    device = next(model.parameters()).device
    longest = max(len(d.tokens) for d in batch)
    ids = torch.zeros((len(batch), longest), dtype=torch.long)
    mask = torch.zeros((len(batch), longest), dtype=torch.long)
    for row, datum in enumerate(batch):
        ids[row, : len(datum.tokens)] = torch.tensor(datum.tokens)
        mask[row, : len(datum.tokens)] = 1
    logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
    logprobs = torch.log_softmax(logits, dim=-1)
    out = []
    for row, datum in enumerate(batch):
        wanted = torch.from_numpy(datum.inputs["target_tokens"].astype(np.int64)).to(device)
        n = len(datum.tokens)
        out.append(logprobs[row, :n].gather(-1, wanted[:, None]).squeeze(-1).cpu())
    return out


class TrainingModel:
    """The model behind one ``model_id``; used only from the server's single worker thread."""

    def __init__(self, info: RunInfo, base: Any) -> None:
        self.info = info
        self.model = attach_lora(base, info)
        self.model.train()
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=1e-4, weight_decay=0.0)
        self.steps = 0

    def forward_backward(
        self,
        data: Sequence[Datum],
        loss_name: str,
        config: dict[str, float | str],
        *,
        backward: bool,
    ) -> tuple[list[dict[str, np.ndarray]], dict[str, float]]:
        """Per-datum ``logprobs`` and ``elementwise_loss``, and ``loss:sum``; gradients added
        to the accumulated ones unless ``backward`` is false."""
        if not data:
            raise BadRequest("forward_backward got no data")
        loss = loss_fn(loss_name)
        with torch.set_grad_enabled(backward):
            logprobs = target_logprobs(self.model, data)
            losses = [
                loss(lp, datum.inputs, config) for lp, datum in zip(logprobs, data, strict=True)
            ]
            total = torch.stack([per_token.sum() for per_token in losses]).sum()
        if backward:
            total.backward()
        outputs = [
            {"logprobs": lp.detach().numpy(), "elementwise_loss": el.detach().numpy()}
            for lp, el in zip(logprobs, losses, strict=True)
        ]
        return outputs, {"loss:sum": float(total.detach())}

    def optim_step(self, params: dict[str, Any]) -> dict[str, float]:
        """Apply the accumulated gradients with these Adam parameters, then clear them."""
        for group in self.optimizer.param_groups:
            group["lr"] = float(params.get("learning_rate", 1e-4))
            group["betas"] = (float(params.get("beta1", 0.9)), float(params.get("beta2", 0.95)))
            group["eps"] = float(params.get("eps", 1e-12))
            group["weight_decay"] = float(params.get("weight_decay", 0.0))
        clip = float(params.get("grad_clip_norm", 0.0))
        norm = torch.nn.utils.clip_grad_norm_(self.params, clip if clip > 0 else float("inf"))
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.steps += 1
        return {"grad_norm:mean": float(norm), "step:max": float(self.steps)}

    def save(self, folder: Path, *, optimizer: bool) -> None:
        """The LoRA weights as a PEFT adapter folder (loadable with ``PeftModel``), and the
        optimizer state when asked."""
        # the LoRA layers on the unembedding are saved like any other; not the full embeddings
        self.model.save_pretrained(folder, save_embedding_layers=False)
        if optimizer:
            torch.save(
                {"optimizer": self.optimizer.state_dict(), "steps": self.steps},
                folder / OPTIMIZER_FILE,
            )

    def load(self, folder: Path, *, optimizer: bool) -> None:
        """Weights (and optimizer state when asked) from a folder `save` wrote."""
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        weights = folder / "adapter_model.safetensors"
        if not weights.is_file():
            raise BadRequest(f"{folder.name}: the checkpoint holds no adapter weights")
        result = set_peft_model_state_dict(self.model, load_file(weights))
        if getattr(result, "unexpected_keys", None):
            raise BadRequest(
                "the checkpoint does not fit this model's LoRA layers (another rank or base model?)"
            )
        self.optimizer.zero_grad(set_to_none=True)
        if optimizer:
            saved = folder / OPTIMIZER_FILE
            if not saved.is_file():
                raise BadRequest(
                    f"{folder.name} has no optimizer state (sampler weights keep none); load it "
                    "without the optimizer"
                )
            state = torch.load(saved, weights_only=True)
            self.optimizer.load_state_dict(state["optimizer"])
            self.steps = int(state["steps"])

    def adapter_state(self) -> dict[str, torch.Tensor]:
        """A copy of the LoRA weights (what a sampler snapshot holds)."""
        from peft import get_peft_model_state_dict

        return {
            k: v.detach().clone()
            for k, v in get_peft_model_state_dict(self.model, save_embedding_layers=False).items()
        }


__all__ = [
    "OPTIMIZER_FILE",
    "TrainingModel",
    "attach_lora",
    "check_vocabulary",
    "lora_targets",
    "target_logprobs",
]
