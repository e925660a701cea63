"""Generation from prefix-tuned models sees the prefix (PEFT 0.21 + transformers 5.24 lost it).

The oracle is PEFT's own forward pass, the one training optimizes: it puts the prefix in front of
the whole sequence on every call, so greedy decoding by repeated forward passes (no cache) is what
``generate`` must reproduce.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import tunesdk as ts
from tunesdk.events import Progress
from tunesdk.store import RunRecord
from tunesdk_trl import TRLBackend, inference

from .test_grpo import grpo_job

MakeRecord = Callable[[ts.Job], RunRecord]

PROMPT = "What does the cat say?"
QUESTION = [{"role": "user", "content": PROMPT}]
NEW_TOKENS = 8


@pytest.fixture(scope="module")
def prefix_handle(tiny_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> ts.LocalModel:
    """A prefix-tuning adapter of the tiny model with a large random prefix (one that moves
    greedy tokens), saved the way training saves it."""
    from peft import PrefixTuningConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(str(tiny_model_path)),
        PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4),
    )
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.prompt_encoder.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 3)
    path = tmp_path_factory.mktemp("prefix") / "adapter"
    model.save_pretrained(str(path))
    return ts.LocalModel(path=str(path), base_model=str(tiny_model_path), kind="adapter")


def _reference(
    model: Any, ids: torch.Tensor, eos: int | None, steps: int = NEW_TOKENS
) -> list[int]:
    """Greedy tokens by one full PEFT forward pass per step (the prefix prepended every time)."""
    tokens: list[int] = []
    with torch.no_grad():
        for _ in range(steps):
            token = int(
                model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0, -1].argmax()
            )
            tokens.append(token)
            if token == eos:
                break
            ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    return tokens


def test_generate_and_chat_follow_the_prefix_like_a_decoding_that_prepends_it_each_step(
    prefix_handle: ts.LocalModel, tiny_model_path: Path
) -> None:
    base = ts.LocalModel(path=str(tiny_model_path), kind="full")
    model, tokenizer = prefix_handle.load()
    eos = tokenizer.eos_token_id

    text = prefix_handle.generate(PROMPT, max_new_tokens=NEW_TOKENS)
    expected = _reference(model, tokenizer(PROMPT, return_tensors="pt")["input_ids"], eos)
    assert text == tokenizer.decode(expected, skip_special_tokens=True)
    assert text != base.generate(PROMPT, max_new_tokens=NEW_TOKENS)

    chat_ids = tokenizer.apply_chat_template(
        QUESTION, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )["input_ids"]
    reply = prefix_handle.chat(QUESTION, max_new_tokens=NEW_TOKENS)
    assert reply == tokenizer.decode(_reference(model, chat_ids, eos), skip_special_tokens=True)
    assert reply != base.chat(QUESTION, max_new_tokens=NEW_TOKENS)


def test_a_left_padded_batch_starts_from_the_forward_pass_logits_and_decodes_each_row(
    prefix_handle: ts.LocalModel,
) -> None:
    """The shape GRPO generates in: several prompts, left-padded, sampled several times."""
    model, tokenizer = prefix_handle.load()
    tokenizer.padding_side = "left"
    prompts = [PROMPT, "hi"]
    batch = tokenizer(prompts, return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model.generate(
            **batch,
            max_new_tokens=6,
            do_sample=False,
            eos_token_id=None,
            pad_token_id=tokenizer.pad_token_id,
            output_scores=True,
            return_dict_in_generate=True,
        )
    width = batch["input_ids"].shape[1]
    for row, prompt in enumerate(prompts):
        ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            forward = model(input_ids=ids).logits[0, -1]
        assert torch.allclose(out.scores[0][row], forward, atol=1e-4)
        assert out.sequences[row, width:].tolist() == _reference(model, ids, None, steps=6)

    with torch.no_grad():  # generate repeats the rows, not the cache: the prefix must cover them
        sampled = model.generate(
            **batch, max_new_tokens=3, do_sample=True, num_return_sequences=3, eos_token_id=None
        )
    assert sampled.shape == (6, width + 3)


def test_other_models_keep_their_own_generate(tiny_model_path: Path, tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(str(tiny_model_path)),
        LoraConfig(task_type="CAUSAL_LM", r=4, target_modules=["q_proj"]),
    )
    assert not inference.is_prefix_tuned(model)
    assert "generate" not in vars(inference.honour_prefix(model))


def test_a_cache_that_cannot_hold_the_prefix_is_refused_naming_the_fix(
    prefix_handle: ts.LocalModel,
) -> None:
    model, tokenizer = prefix_handle.load()
    ids = tokenizer(PROMPT, return_tensors="pt")
    with pytest.raises(
        ValueError, match="cache_implementation='static' cannot start from it: leave it unset"
    ):
        model.generate(**ids, max_new_tokens=2, cache_implementation="static")
    with pytest.raises(ValueError, match="leave use_cache on"):
        model.generate(**ids, max_new_tokens=2, use_cache=False)


def test_grpo_trains_prefix_tuning_sampling_from_the_prefix(
    tiny_model_path: Path, make_record: MakeRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    real = inference.prefix_generate

    def spy(model: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(model)
        return real(model, *args, **kwargs)

    monkeypatch.setattr(inference, "prefix_generate", spy)
    job = grpo_job(
        tiny_model_path, method=ts.PrefixTuning(num_virtual_tokens=4), batch_size=8, max_steps=2
    )
    assert job.plan("trl").native["peft"]["class"] == "PrefixTuningConfig"
    record = make_record(job)
    handle = TRLBackend().train(record)
    assert len([e for e in record.events() if isinstance(e, Progress)]) == 2
    assert len(calls) == 2 and all(inference.is_prefix_tuned(m) for m in calls)  # every batch
    assert Path(handle.path, "adapter_config.json").exists()
    assert isinstance(handle.generate("the quick", max_new_tokens=4), str)
