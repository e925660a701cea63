"""The Unsloth engine behind the shared trainer glue: ``FastLanguageModel`` loads the model and
adds the LoRA adapter; everything else is ``tunesdk_trl.training``'s."""

from __future__ import annotations

from typing import Any

from tunesdk.job import Job
from tunesdk_trl.modeling import ModelLoader, check_model_path, check_target_modules
from tunesdk_unsloth.environment import require_unsloth


class UnslothLoader(ModelLoader):
    """Loads with ``FastLanguageModel.from_pretrained`` and ``get_peft_model`` (see ``native.py``).

    The tokenizer is loaded first with transformers (data problems surface before any weight is
    loaded) and is the one the trainer uses, so the data is tokenized exactly as for the trl backend.
    """

    @property
    def source(self) -> str:
        return str(self.native["from_pretrained"]["model_name"])

    @property
    def trains_adapter(self) -> bool:
        return self.native["get_peft_model"] is not None

    def preconditions(self, job: Job) -> None:
        check_model_path(self.source)
        require_unsloth(job)

    def load_model(self, tokenizer: Any) -> Any:
        import torch
        from unsloth import FastLanguageModel

        kwargs = dict(self.native["from_pretrained"])
        if kwargs["dtype"] is not None:
            kwargs["dtype"] = getattr(torch, kwargs["dtype"])
        model, _ = FastLanguageModel.from_pretrained(**kwargs)
        peft = self.native["get_peft_model"]
        if peft is None:
            return model
        check_target_modules(model, peft["target_modules"])
        return FastLanguageModel.get_peft_model(model, **peft)

    def trainer_peft_config(self) -> Any:
        return None  # get_peft_model already wrapped the model
