"""DPO (direct preference optimization) with LoRA on the `trl` backend — offline, on a CPU.

Preference data pairs a prompt with a preferred ("chosen") and a dispreferred ("rejected") answer.
tunesdk recognises the shape and sets objective="dpo" by itself; `beta` sets how far the tuned
model may move from the reference model (TRL's default, 0.1, is a good start).

    python examples/dpo.py [WORK_DIR]

Needs: pip install tunesdk tunesdk-trl
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import tunesdk as ts
from tunesdk.testing import tiny_model, tiny_preference_data


def main(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    model_path = tiny_model(work / "tiny-llama")
    data = work / "preferences.jsonl"
    # TRL's conversational shape; OpenAI's DPO shape (input / preferred_output /
    # non_preferred_output) is recognised too.
    rows = tiny_preference_data(32)
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    print("one pair:", json.dumps(rows[0]))

    job = ts.Job(
        model=str(model_path),
        data=data,
        method=ts.LoRA(r=8),  # with LoRA the reference model is the base with the adapter off
        beta=0.1,
        epochs=1,
        batch_size=8,
        max_seq_length=128,
        learning_rate=5e-3,
    )
    print("objective:", job.infer_objective())  # "dpo", from the data
    print("trainer:", job.plan("trl").native["trainer"])

    def on_event(event: ts.Event) -> None:
        if isinstance(event, ts.Progress) and event.train_loss is not None:
            print(f"step {event.step}/{event.total_steps} loss {event.train_loss:.4f}")

    result = job.run(backend="trl", on_event=on_event)
    print("model:", result.model.to_uri() if result.model else None)
    print("train_loss:", round(result.metrics["train_loss"], 4))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="tunesdk-")))
