"""Log parsing against real Axolotl / Hugging Face Trainer output lines.

Sources of the lines (copied verbatim):
- axolotl-ai-cloud/axolotl issue #592 (2023): tqdm bars and ``{'loss': 1.0226, ...}`` dicts
- axolotl-ai-cloud/axolotl issue #2004 (2024): dict with grad_norm
- axolotl-ai-cloud/axolotl issue #2688 (2025): ``Maximum number of steps set at 33788``
- axolotl-ai-cloud/axolotl pull request #3148 (2025): eval dict with memory keys
- transformers 5 ProgressCallback.on_log (transformers/trainer_callback.py) formats floats as
  ``f"{v:.4g}"`` strings: the string-valued line below is built exactly that way.
"""

from __future__ import annotations

from tunesdk.events import Evaluation, Progress
from tunesdk_axolotl.logs import LogParser, parse_log_dict, split_stream
from tunesdk_axolotl.training import last_error_line

ISSUE_592 = [
    " 30%|█████████████████████████████████▋                                                "
    "                                | 258/873 [22:15<43:27,  4.24s/it]",
    "{'loss': 1.0226, 'learning_rate': 0.00014229432213209734, 'epoch': 0.89}",
    "[2023-09-17 13:15:13,336] [INFO] [axolotl.utils.dataloader._len_est:264] [PID:11100] "
    "[RANK:0] packing_efficiency_estimate: 0.77 total_num_tokens per device: 26275",
]
ISSUE_2004 = (
    "`{'loss': 7.9071, 'grad_norm': 6.211667537689209, 'learning_rate': 4.524625433624047e-05, "
    "'epoch': 0.52}`"
)
ISSUE_2688 = (
    "[2025-06-04 19:05:53,742] [INFO] [axolotl.utils.data.sft.prepare_dataset:187] [PID:2608] "
    "[RANK:0] Maximum number of steps set at 33788"
)
PR_3148_EVAL = (
    "{'eval_loss': 1.3642939329147339, 'eval_runtime': 16.2872, 'eval_samples_per_second': 6.14, "
    "'eval_steps_per_second': 3.07, 'memory/max_active (GiB)': 1.92, "
    "'memory/max_allocated (GiB)': 10.97, 'memory/device_reserved (GiB)': 0, 'epoch': 0}"
)
TRANSFORMERS_5 = str(
    {
        k: f"{v:.4g}"
        for k, v in {
            "loss": 2.3456789,
            "grad_norm": 0.98765,
            "learning_rate": 0.0002,
            "epoch": 0.25,
        }.items()
    }
)


def test_total_steps_from_axolotls_logger() -> None:
    parser = LogParser()
    assert parser.feed(ISSUE_2688) == []
    assert parser.total_steps == 33788


def test_float_valued_log_dicts_become_progress() -> None:
    parser = LogParser(total_steps=873)
    events = [e for line in ISSUE_592 for e in parser.feed(line)]
    assert len(events) == 1
    progress = events[0]
    assert isinstance(progress, Progress)
    assert (progress.step, progress.total_steps) == (1, 873)
    assert progress.train_loss == 1.0226 and progress.epoch == 0.89
    assert progress.learning_rate == 0.00014229432213209734
    assert progress.grad_norm is None
    (second,) = parser.feed(ISSUE_2004)
    assert isinstance(second, Progress)
    assert second.step == 2 and second.grad_norm == 6.211667537689209


def test_string_valued_dicts_of_transformers_5() -> None:
    (event,) = LogParser().feed(TRANSFORMERS_5)
    assert isinstance(event, Progress)
    assert event.train_loss == 2.346 and event.grad_norm == 0.9877
    assert event.learning_rate == 0.0002 and event.epoch == 0.25


def test_eval_dicts_become_evaluations_at_the_current_step() -> None:
    parser = LogParser(step=40)
    (event,) = parser.feed(PR_3148_EVAL)
    assert isinstance(event, Evaluation)
    assert event.step == 40 and event.eval_loss == 1.3642939329147339
    assert event.metrics["runtime"] == 16.2872
    assert "memory/max_active (GiB)" not in event.metrics
    assert parser.step == 40  # an eval is not a training step


def test_the_final_summary_is_not_a_step() -> None:
    parser = LogParser()
    summary = (
        "{'train_runtime': 120.5, 'train_samples_per_second': 3.2, 'train_steps_per_second': "
        "0.4, 'train_loss': 1.1, 'epoch': 1.0}"
    )
    assert parser.feed(summary) == [] and parser.step == 0


def test_checkpoints_resynchronise_the_step_count() -> None:
    parser = LogParser()
    parser.saw_checkpoint(10)
    (event,) = parser.feed(ISSUE_2004)
    assert isinstance(event, Progress) and event.step == 11


def test_noise_is_ignored() -> None:
    parser = LogParser()
    for line in (
        ISSUE_592[0],
        ISSUE_592[2],
        "trainable params: 746,610,688 || all params: 47,449,419,776 || trainable%: 1.57",
        "{not a dict}",
        "{'loss': float('nan')",
    ):
        assert parser.feed(line) == []


def test_carriage_return_progress_bars_split_into_lines() -> None:
    lines, rest = split_stream("\r 10%| 1/10 [00:01]\r 20%| 2/10 [00:02]\n{'loss': 1.0}\n{'lo")
    assert lines == [" 10%| 1/10 [00:01]", " 20%| 2/10 [00:02]", "{'loss': 1.0}"]
    assert rest == "{'lo"


def test_last_error_line_of_a_traceback() -> None:
    tail = [
        "Traceback (most recent call last):",
        '  File "/usr/lib/python3.11/site-packages/axolotl/train.py", line 203, in execute_training',
        "    trainer.train(resume_from_checkpoint=resume_from_checkpoint)",
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB.",
        "[2025-06-04 19:05:53,742] [INFO] [axolotl.cli.main:99] [PID:1] exiting",
    ]
    assert last_error_line(tail) == (
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB."
    )
    assert parse_log_dict("no dict here") is None


def test_throughput_comes_from_axolotls_per_gpu_token_rate() -> None:
    """Axolotl's trainer adds ``tokens/train_per_sec_per_gpu`` to each training log when
    ``include_tkps`` is on (its default; axolotl/core/trainers/base.py in 0.19.0)."""
    parser = LogParser(total_steps=10, world_size=2)
    line = (
        "{'loss': '1.234', 'grad_norm': '0.5', 'learning_rate': '2e-05', 'epoch': '0.1', "
        "'tokens/train_per_sec_per_gpu': '1500.5', 'tokens/trainable': 2048, 'tokens/total': 4096}"
    )
    (progress,) = parser.feed(line)
    assert isinstance(progress, Progress)
    assert progress.tokens_per_second == 3001.0
    (without,) = LogParser().feed("{'loss': '1.2', 'epoch': '0.2'}")
    assert isinstance(without, Progress) and without.tokens_per_second is None
