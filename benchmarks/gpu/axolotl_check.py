"""GPU check for the axolotl backend: LoRA and QLoRA through tunesdk.

The model, data, Job and row are ``common.py``'s (a random-weight ~0.5B bf16 Llama built locally,
no hub). Each case runs in its own process: the axolotl backend trains the Job exactly as its
worker would (``check_job`` → ``plan`` → ``preflight`` → run folder → ``AxolotlBackend.train``,
which writes the YAML and runs ``axolotl train``). Axolotl trains in its own process, so the
numbers come from its log (``<run folder>/axolotl.log``), one Trainer log dict per step:
``loss``, ``tokens/train_per_sec_per_gpu`` (Axolotl's ``include_tkps``, on by default: tokens
with a label per second, which with ``train_on_inputs=True`` are the non-padding tokens) and
``memory/max_allocated (GiB)`` (``torch.cuda.max_memory_allocated`` in Axolotl's process). There
is no plain-Axolotl row: tunesdk's part is writing the YAML; ``axolotl train`` then runs as is.

Usage (a CUDA GPU and ``pip install 'tunesdk-axolotl[axolotl]'``, or Axolotl in its own virtualenv
named by ``TUNESDK_AXOLOTL_COMMAND=/path/to/venv/bin/axolotl``: it pins its own torch and
transformers)::

    python benchmarks/gpu/axolotl_check.py [--steps 30] [--out axolotl.json]
    python benchmarks/gpu/axolotl_check.py --tiny --steps 2   # without Axolotl: rows skipped

Exits 1 if a case failed (a skipped case is not a failure).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import common
from common import Case, Row, Size, StepSample

CASES = [Case("axolotl", method, "tunesdk") for method in ("lora", "qlora")]
TIMEOUTS = {"axolotl": 300.0}  # Axolotl's start-up (CLI, config checks, data preparation) is slow
MEMORY_KEY = "memory/max_allocated (GiB)"
TOKENS_KEY = "tokens/train_per_sec_per_gpu"
SUMMARY_KEYS = frozenset({"train_runtime", "train_loss", "train_samples_per_second"})


def run_case(case: Case, model: Path, size: Size, steps: int) -> Row:
    job = common.make_job(model, case.method, size, steps)
    with tempfile.TemporaryDirectory() as tmp:
        record = common.train_with_tunesdk(job, "axolotl", Path(tmp))
        from tunesdk_axolotl.training import LOG_FILE

        samples, peak = read_axolotl_log((record.dir / LOG_FILE).read_text(errors="replace"))
    return common.summarize(case, samples, steps, peak)


def read_axolotl_log(text: str) -> tuple[list[StepSample], float | None]:
    """Per-step samples and the peak GPU memory (GiB) from Axolotl's console output."""
    from tunesdk_axolotl.logs import parse_log_dict, split_stream

    lines, rest = split_stream(text)
    samples: list[StepSample] = []
    peaks: list[float] = []
    for line in [*lines, rest]:
        logs = parse_log_dict(line)
        if not logs or "loss" not in logs or SUMMARY_KEYS & logs.keys():
            continue
        samples.append(StepSample(len(samples) + 1, logs.get(TOKENS_KEY), logs["loss"]))
        if MEMORY_KEY in logs:
            peaks.append(logs[MEMORY_KEY])
    return samples, max(peaks) if peaks else None


if __name__ == "__main__":
    sys.exit(common.script_main(__file__, CASES, run_case, __doc__ or "", timeouts=TIMEOUTS))
