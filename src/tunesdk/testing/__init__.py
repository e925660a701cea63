"""Offline test helpers: a tiny random-weight chat model and a small learnable chat task.

Everything is built on the spot (no hub download) in a few seconds on a CPU. Heavy libraries
(``tokenizers``, ``transformers``, ``torch``) are imported inside the functions, so
``import tunesdk.testing`` stays light.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunesdk.backend import Backend
    from tunesdk.events import Event
    from tunesdk.job import Job
    from tunesdk.store import RunRecord
    from tunesdk.testing.contract import BackendFacts

#: A ChatML-style template; ``{% generation %}`` marks assistant text for TRL's assistant masks.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['role'] == 'assistant' %}{% generation %}"
    "{{ message['content'] + '<|im_end|>' }}"
    "{% endgeneration %}{% else %}"
    "{{ message['content'] + '<|im_end|>' }}"
    "{% endif %}{{ '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<pad>", "<|im_start|>", "<|im_end|>"]

_ANIMALS = {
    "cat": "meow",
    "dog": "woof",
    "cow": "moo",
    "duck": "quack",
    "sheep": "baa",
    "owl": "hoot",
    "frog": "ribbit",
    "lion": "roar",
}


def tiny_chat_data(n: int = 32, *, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` OpenAI-style chat examples of a learnable task: an animal's name → its sound."""
    rng = random.Random(seed)
    names = sorted(_ANIMALS)
    rows = []
    for _ in range(n):
        animal = rng.choice(names)
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": f"What does the {animal} say?"},
                    {"role": "assistant", "content": f"The {animal} says {_ANIMALS[animal]}."},
                ]
            }
        )
    return rows


def tiny_preference_data(n: int = 32, *, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` preference pairs (TRL conversational shape): the right sound is chosen, a wrong one
    rejected."""
    rng = random.Random(seed)
    names = sorted(_ANIMALS)
    rows = []
    for _ in range(n):
        animal, other = rng.sample(names, 2)
        rows.append(
            {
                "prompt": [{"role": "user", "content": f"What does the {animal} say?"}],
                "chosen": [
                    {"role": "assistant", "content": f"The {animal} says {_ANIMALS[animal]}."}
                ],
                "rejected": [
                    {"role": "assistant", "content": f"The {animal} says {_ANIMALS[other]}."}
                ],
            }
        )
    return rows


def _corpus() -> list[str]:
    lines = []
    for animal, sound in _ANIMALS.items():
        lines.append(f"What does the {animal} say? The {animal} says {sound}.")
    lines += ["user assistant system hello hi yes no the a is of and to in"] * 4
    return lines * 8


def tiny_tokenizer(vocab_size: int = 300) -> Any:
    """A byte-level BPE tokenizer (``vocab_size`` tokens) trained now, with a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        eos_token="<|im_end|>",
        bos_token=None,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_model(path: str | Path, *, seed: int = 0, layers: int = 2, hidden: int = 64) -> Path:
    """Save a random-weight tiny ``LlamaForCausalLM`` and its tokenizer at ``path``; return it.

    2 layers, hidden size 64, a ~300-token BPE tokenizer: trains in well under a second per step
    on a CPU, offline.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    target = Path(path)
    tokenizer = tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    from tunesdk.quiet import quiet_hf

    with quiet_hf():  # no "Writing model shards" bar
        model.save_pretrained(target)
        tokenizer.save_pretrained(target)
    return target


def tiny_job(model: str | Path, **overrides: Any) -> Job:
    """A small SFT LoRA job on ``tiny_chat_data(16)`` that trains ``model`` (e.g. ``tiny_model``)
    in seconds on a CPU; keyword arguments override any Job field."""
    from tunesdk.job import Job
    from tunesdk.methods import LoRA

    fields: dict[str, Any] = {
        "model": str(model),
        "data": tiny_chat_data(16),
        "method": LoRA(r=8),
        "epochs": 2,
        "batch_size": 4,
        "max_seq_length": 64,
        "learning_rate": 5e-3,  # high: the tiny model starts from random weights
    }
    fields.update(overrides)
    return Job(**fields)


def train_losses(events: Iterable[Event]) -> list[float]:
    """The training loss of every Progress event that has one, in order."""
    from tunesdk.events import Progress

    return [e.train_loss for e in events if isinstance(e, Progress) and e.train_loss is not None]


def local_contract_facts(backend: str, model: str | Path, **facts: Any) -> BackendFacts:
    """`tunesdk.testing.contract.BackendFacts` for a local engine training ``model`` (e.g.
    ``tiny_model``): a 3-step LoRA job on ``tiny_chat_data(12)``, ``suffix`` as the option it
    drops, chat of a few tokens that need not echo, and no cancel or reattach cases (each would
    start another worker, which needs seconds to import torch). ``facts`` override any of it
    (``env=``, ``python_path=``, ``cancel=True``, ...)."""
    from tunesdk.methods import LoRA
    from tunesdk.testing.contract import BackendFacts

    job = {
        "model": str(model),
        "data": tiny_chat_data(12),
        "method": LoRA(r=4),
        "batch_size": 4,
        "max_seq_length": 64,
        "max_steps": 3,
    }
    defaults: dict[str, Any] = {
        "job": job,
        "dropped": {"suffix": "bot"},
        "cancel": False,
        "reattach": False,
        "chat_echoes": False,
        "generation": {"max_new_tokens": 4},
    }
    return BackendFacts(backend, **(defaults | facts))


def launch_run(backend: Backend, job: Job) -> RunRecord:
    """Plan, preflight and launch ``job`` on ``backend`` in this process, as ``Run.submit`` does
    but without its follow loop: the new run's record, for tests that drive a backend's hooks
    (``poll``, ``cancel``) one call at a time. The run store is ``$TUNESDK_HOME``'s."""
    from tunesdk.store import RunStore

    plan = backend.plan(job)
    backend.preflight(job, plan)
    record = RunStore().create(job, plan, backend.name)
    backend.launch(record)
    return record


def poll_until_done(
    backend: Backend, run: RunRecord, *, timeout: float = 15.0, interval: float = 0.02
) -> RunRecord:
    """Call ``backend.poll(run)`` until the run has ended; AssertionError naming its status when
    it has not after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while not run.terminal:
        assert time.monotonic() < deadline, f"run still {run.status} after {timeout} s"
        backend.poll(run)
        time.sleep(interval)
    return run


__all__ = [
    "CHAT_TEMPLATE",
    "launch_run",
    "local_contract_facts",
    "poll_until_done",
    "tiny_chat_data",
    "tiny_job",
    "tiny_model",
    "tiny_preference_data",
    "tiny_tokenizer",
    "train_losses",
]
