"""Bottleneck adapter layers on a transformers causal LM: add, freeze the base, save, reload.

Each adapter is a child module of its decoder layer (``bottleneck_attention`` / ``bottleneck_mlp``)
and runs as a forward hook on the block it follows, so the base model's own modules, weights and
state-dict names are untouched. Only adapter tensors are ever saved (`save`), and `BottleneckTrainer`
makes TRL's trainer checkpoint and resume exactly those.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tunesdk.errors import JobError
from tunesdk_trl import bottleneck

NONLINEARITIES: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
}
MODULE_PREFIX = "bottleneck_"
SETTINGS_ATTRIBUTE = "_tunesdk_bottleneck"


class BottleneckAdapter(nn.Module):
    """``h + up(act(down(h)))``; the up-projection starts at zero, so a new adapter is the identity.

    Computed in the adapter's own dtype (fp32), returned in the block's.
    """

    def __init__(self, hidden_size: int, size: int, nonlinearity: str) -> None:
        super().__init__()
        self.down = nn.Linear(hidden_size, size)
        self.act = NONLINEARITIES[nonlinearity]()
        self.up = nn.Linear(size, hidden_size)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        delta = self.up(self.act(self.down(hidden.to(self.down.weight.dtype))))
        return hidden + delta.to(hidden.dtype)

    def after_block(self, module: nn.Module, args: Any, output: Any) -> Any:
        """Forward hook on the adapted block (attention blocks return ``(hidden, weights)``).

        A bound method rather than a closure, so ``copy.deepcopy(model)`` hooks the copy's adapters.
        """
        if isinstance(output, tuple):
            return (self(output[0]), *output[1:])
        return self(output)


def decoder_layers(model: Any, model_name: str) -> tuple[bottleneck.DecoderLayout, list[Any]]:
    """The model's layout (from the name map) and its decoder layers."""
    layout = bottleneck.layout_for(getattr(model.config, "model_type", None), model_name)
    try:
        layers = model.get_submodule(layout.layers)
    except AttributeError:
        raise bottleneck.unsupported_architecture(model.config.model_type, model_name) from None
    return layout, list(layers)


def attach(model: Any, native: dict[str, Any], model_name: str) -> int:
    """Add the adapters ``native`` (`bottleneck.settings`) describes to ``model``, in place.

    Returns the number of adapter parameters. Their initialisation is seeded by ``native["seed"]``.
    """
    layout, layers = decoder_layers(model, model_name)
    hidden = int(model.config.get_text_config().hidden_size)
    size = bottleneck.bottleneck_size(hidden, native["reduction"], model_name)
    added = 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(native.get("seed", 0))
        for layer in layers:
            device = next(layer.parameters()).device
            for sublayer in native["sublayers"]:
                block = layer.get_submodule(layout.block(sublayer))
                adapter = BottleneckAdapter(hidden, size, native["nonlinearity"]).to(device)
                layer.add_module(MODULE_PREFIX + sublayer, adapter)
                block.register_forward_hook(adapter.after_block)
                added += sum(p.numel() for p in adapter.parameters())
    setattr(model, SETTINGS_ATTRIBUTE, {**native, "hidden_size": hidden, "bottleneck_size": size})
    return added


def is_adapter_key(name: str) -> bool:
    return f".{MODULE_PREFIX}attention." in name or f".{MODULE_PREFIX}mlp." in name


def freeze_base(model: Any) -> None:
    """Only the adapters train."""
    for name, parameter in model.named_parameters():
        parameter.requires_grad = is_adapter_key(name)


def prepare_for_training(model: Any, native: dict[str, Any], model_name: str) -> Any:
    """Add the adapters and freeze everything else; the model is ready for the trainer."""
    attach(model, native, model_name)
    freeze_base(model)
    # with a frozen base, (reentrant) gradient checkpointing needs inputs that require grad (as PEFT)
    model.enable_input_require_grads()
    return model


def adapter_state(model: Any, state_dict: dict[str, Any] | None = None) -> dict[str, torch.Tensor]:
    """The adapter tensors (of ``state_dict`` when given, e.g. a gathered FSDP state dict)."""
    source = state_dict if state_dict is not None else model.state_dict()
    return {
        name: tensor.detach().cpu().contiguous()
        for name, tensor in source.items()
        if is_adapter_key(name)
    }


def save(model: Any, folder: str | Path, base_model: str, state_dict: dict | None = None) -> None:
    """Write only the adapters: ``bottleneck_adapter.safetensors`` and ``bottleneck_config.json``."""
    from safetensors.torch import save_file

    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    tensors = adapter_state(model, state_dict)
    save_file(tensors, str(target / bottleneck.WEIGHTS_FILE), metadata={"format": "pt"})
    native = getattr(model, SETTINGS_ATTRIBUTE)
    config = {
        "format": bottleneck.FORMAT,
        "base_model_name_or_path": bottleneck.base_reference(base_model),
        "model_type": model.config.model_type,
        "reduction": native["reduction"],
        "placement": native["placement"],
        "nonlinearity": native["nonlinearity"],
        "sublayers": native["sublayers"],
        "hidden_size": native["hidden_size"],
        "bottleneck_size": native["bottleneck_size"],
        "trainable_parameters": sum(t.numel() for t in tensors.values()),
    }
    (target / bottleneck.CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", "utf-8")


def load_weights(model: Any, folder: str | Path) -> None:
    """Load saved adapter tensors into a model that has the same adapters attached."""
    from safetensors.torch import load_file

    file = Path(folder) / bottleneck.WEIGHTS_FILE
    if not file.is_file():
        raise JobError(
            f"no bottleneck adapter weights at {file}",
            where="model.path",
            fix="point at a folder a bottleneck-adapter run wrote",
        )
    tensors = load_file(str(file))
    expected = set(adapter_state(model))
    if set(tensors) != expected:
        missing, extra = sorted(expected - set(tensors)), sorted(set(tensors) - expected)
        raise JobError(
            f"{file} does not fit this model's adapters (missing {missing[:3]}, unexpected "
            f"{extra[:3]})",
            where="model.path",
            fix="load it on the base model and adapter settings it was trained with",
        )
    model.load_state_dict(tensors, strict=False)


def load(folder: str | Path, base_model: str | None = None) -> Any:
    """Base model + the saved adapters of ``folder``, in eval mode (the base's own path by default:
    the one the config names)."""
    from tunesdk_trl.modeling import load_model

    config = bottleneck.read_config(folder)
    base = base_model or config["base_model_name_or_path"]
    model = load_model(base)
    native = {key: config[key] for key in ("reduction", "placement", "nonlinearity", "sublayers")}
    attach(model, native, base)
    load_weights(model, folder)
    model.eval()
    return model


def trainer_class(base: type, base_model: str) -> type:
    """``base`` (SFTTrainer/DPOTrainer) saving and resuming only the adapter weights."""

    class BottleneckTrainer(base):
        def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
            folder = output_dir if output_dir is not None else self.args.output_dir
            if not self.args.should_save:
                return
            model = self.accelerator.unwrap_model(self.model, keep_torch_compile=False)
            save(model, folder, base_model, state_dict)
            if self.processing_class is not None:
                self.processing_class.save_pretrained(folder)
            torch.save(self.args, os.path.join(folder, "training_args.bin"))

        def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
            target = model if model is not None else self.model
            load_weights(self.accelerator.unwrap_model(target), resume_from_checkpoint)

        def _load_best_model(self) -> None:
            best = self.state.best_model_checkpoint
            if best is not None:
                load_weights(self.accelerator.unwrap_model(self.model), best)

    BottleneckTrainer.__name__ = BottleneckTrainer.__qualname__ = f"Bottleneck{base.__name__}"
    return BottleneckTrainer
