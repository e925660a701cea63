"""Unsloth's start-of-training banner → a Log event, checked against banners real runs printed."""

from __future__ import annotations

import logging
from pathlib import Path

import tunesdk as ts
from tunesdk.events import Log
from tunesdk.store import RunStore
from tunesdk.testing import tiny_chat_data
from tunesdk_unsloth import UnslothBackend
from tunesdk_unsloth.banner import banner_events, parse_banner, summarize

# Copied from the output of real Unsloth training runs (2025-2026 versions).
REAL_BANNER = (
    "==((====))==  Unsloth - 2x faster free finetuning | Num GPUs used = 1\n"
    "   \\\\   /|    Num examples = 295 | Num Epochs = 3 | Total steps = 111\n"
    "O^O/ \\_/ \\    Batch size per device = 2 | Gradient accumulation steps = 4\n"
    "\\        /    Data Parallel GPUs = 1 | Total batch size (2 x 4 x 1) = 8\n"
    ' "-____-"     Trainable parameters = 13,045,760 of 1,012,931,712 (1.29% trained)'
)
REAL_BANNER_2 = (
    "==((====))==  Unsloth - 2x faster free finetuning | Num GPUs used = 1\n"
    "   \\\\   /|    Num examples = 20 | Num Epochs = 30 | Total steps = 90\n"
    "O^O/ \\_/ \\    Batch size per device = 4 | Gradient accumulation steps = 2\n"
    "\\        /    Data Parallel GPUs = 1 | Total batch size (4 x 2 x 1) = 8\n"
    ' "-____-"     Trainable parameters = 50,462,720 of 1,150,511,104 (4.39% trained)'
)
# The model-loading banner has the same art but no training numbers.
LOADING_BANNER = (
    "==((====))==  Unsloth 2025.6.4: Fast Qwen3 patching. Transformers: 4.52.4.\n"
    "   \\\\   /|    NVIDIA L4. Num GPUs = 1. Max memory: 22.045 GB. Platform: Linux.\n"
)


def test_real_banners_are_parsed() -> None:
    assert parse_banner(REAL_BANNER) == {
        "gpus": 1,
        "examples": 295,
        "epochs": 3,
        "total_steps": 111,
        "total_batch": 8,
        "trainable": 13_045_760,
        "parameters": 1_012_931_712,
        "trainable_percent": 1.29,
    }
    fields = parse_banner(REAL_BANNER_2)
    assert fields is not None
    assert (fields["trainable"], fields["total_steps"], fields["total_batch"]) == (
        50_462_720,
        90,
        8,
    )
    assert summarize(fields) == (
        "Unsloth training: 50,462,720 of 1,150,511,104 parameters trainable (4.39%), "
        "20 examples, 90 steps, total batch 8, 1 GPU(s)"
    )


def test_other_lines_are_not_banners() -> None:
    assert parse_banner(LOADING_BANNER) is None
    assert parse_banner("Unsloth: Will smartly offload gradients to save VRAM!") is None


def test_the_banner_logged_through_transformers_becomes_one_log_event(tmp_path: Path) -> None:
    job = ts.Job(model="/m", data=tiny_chat_data(4))
    record = RunStore(tmp_path).create(job, UnslothBackend().plan(job), "unsloth")
    logger = logging.getLogger("transformers.models.llama.modeling_llama")  # Unsloth's logger
    with banner_events(record):
        logger.warning(REAL_BANNER)
        logger.warning("Unsloth: something else")
    logger.warning(REAL_BANNER)  # after training: no longer listened to
    logs = [e.message for e in record.events() if isinstance(e, Log)]
    assert logs == [summarize(parse_banner(REAL_BANNER) or {})]
