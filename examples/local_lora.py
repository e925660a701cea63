"""LoRA fine-tuning on this machine with the `trl` backend — offline, on a CPU, in seconds.

A tiny random-weight Llama and a small learnable task ("What does the cat say?" → "The cat says
meow.") stand in for a real model and real data; swap in a Hugging Face id such as
"Qwen/Qwen2.5-0.5B-Instruct" and your own JSONL file for a real run.

    python examples/local_lora.py [WORK_DIR]

Needs: pip install tunesdk tunesdk-trl
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import tunesdk as ts
from tunesdk.testing import tiny_chat_data, tiny_model


def main(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    # 1. A base model and training data. Any HF id or local folder works as `model`; data can be a
    #    path (JSONL/JSON/CSV/Parquet), a list of dicts or a datasets.Dataset.
    model_path = tiny_model(work / "tiny-llama")
    data = work / "train.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in tiny_chat_data(64)))

    # 2. The job: LoRA rank 8 (alpha defaults to 2r = 16). The tiny model needs a higher learning
    #    rate than the LoRA default of 2e-4 to learn something in 16 steps.
    job = ts.Job(
        model=str(model_path),
        data=data,
        eval_split=0.1,  # hold out 10 %, deterministically (seeded)
        method=ts.LoRA(r=8),
        epochs=2,
        batch_size=8,
        micro_batch_size=4,  # gradient accumulation = 8 / 4 = 2
        max_seq_length=128,
        learning_rate=5e-3,
    )

    # 3. The plan: what exactly TRL will be given, and every option's fate. Spends nothing.
    plan = job.plan("trl")
    print("plan:", json.dumps(plan.native.get("peft"), default=str))

    # 4. Train. Training runs in a child process; events arrive as it goes.
    def on_event(event: ts.Event) -> None:
        if isinstance(event, ts.Progress) and event.train_loss is not None:
            print(f"step {event.step}/{event.total_steps} loss {event.train_loss:.3f}")
        elif isinstance(event, ts.Evaluation):
            print(f"eval at step {event.step}: eval_loss {event.eval_loss:.3f}")

    result = job.run(backend="trl", on_event=on_event)

    # 5. The result: a LocalModel handle (a PEFT adapter folder) that can chat, load and merge.
    assert isinstance(result.model, ts.LocalModel)
    print("model:", result.model.to_uri())
    print("metrics:", {k: round(v, 4) for k, v in result.metrics.items()})
    reply = result.model.chat([{"role": "user", "content": "What does the owl say?"}])
    print("chat:", repr(reply))
    merged = result.model.merge(work / "merged")  # base + adapter as one plain transformers model
    print("merged:", merged.kind, merged.path)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="tunesdk-")))
