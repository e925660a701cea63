from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from transformers import AutoConfig, AutoTokenizer

from tunesdk.testing import tiny_chat_data, tiny_preference_data


def test_tiny_model_is_a_small_llama_with_a_chat_template(tiny_model_path: Path) -> None:
    config = AutoConfig.from_pretrained(tiny_model_path)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    assert config.model_type == "llama"
    assert (config.num_hidden_layers, config.hidden_size) == (2, 64)
    assert 250 <= len(tokenizer) <= 320
    text = str(tokenizer.apply_chat_template(tiny_chat_data(1)[0]["messages"], tokenize=False))
    assert text.startswith("<|im_start|>user\n") and "<|im_start|>assistant\n" in text
    assert tokenizer.decode(tokenizer("The cow says moo.")["input_ids"]) == "The cow says moo."


def test_tiny_data_is_deterministic_and_well_formed() -> None:
    assert tiny_chat_data(5, seed=1) == tiny_chat_data(5, seed=1)
    pair = tiny_preference_data(1)[0]
    assert pair["chosen"] != pair["rejected"]
    assert pair["prompt"][0]["role"] == "user"


def test_importing_tunesdk_testing_does_not_import_torch() -> None:
    code = "import sys, tunesdk, tunesdk.testing; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
