"""Fine-tune a tiny model, then check whether it helped: loss plot, metrics, side-by-side page.

    python examples/evaluation.py [OUT_DIR]      # default ./eval_out; about a minute on 2 CPUs

Everything is offline: the model is a 2-layer random-weight Llama built on the spot
(``tunesdk.testing.tiny_model``) and the task is "what does the <animal> say?". Needs the TRL
backend (``pip install tunesdk-trl``) and the eval extra (``pip install 'tunesdk[eval]'``).
Writes into OUT_DIR:

- ``loss.png``: train and eval loss against step (overfitting, if any, is shaded);
- ``metrics.txt`` / ``metrics.csv`` / ``metrics.json``: base and tuned scores on held-out examples;
- ``comparison/comparison.html`` (+ ``ratings.csv`` for human raters and ``ratings_key.csv``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import tunesdk as ts
from tunesdk.testing import tiny_chat_data, tiny_model

METRICS = ["exact_match", "f1", "rouge", "accuracy"]
ANIMALS = ["cat", "dog", "cow", "duck", "sheep", "owl", "frog", "lion"]


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault(
        "TUNESDK_HOME", str(out / "tunesdk_home")
    )  # keep the runs with the output
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    base_path = tiny_model(out / "base_model")
    job = ts.Job(
        model=str(base_path),
        data=tiny_chat_data(64, seed=0),
        eval_data=tiny_chat_data(16, seed=1),
        method=ts.Full(),  # random weights learn faster in full than through a LoRA adapter
        learning_rate=1e-2,
        batch_size=8,
        max_steps=48,
        eval_steps=6,
        max_seq_length=64,
    )
    result = job.run(backend="trl")
    print(f"trained {result.run_id}: {result.metrics}")

    plot = result.plot_loss(out / "loss.png")
    warning = ts.detect_overfitting(result.events())
    print(f"loss plot: {plot}" + (f"  ({warning.message})" if warning else ""))

    assert result.model is not None
    base = ts.LocalModel(path=str(base_path), kind="full", engine="trl")
    tuned = result.model
    heldout = tiny_chat_data(16, seed=2)
    scores = {
        name: ts.evaluate(model, heldout, metrics=METRICS, max_new_tokens=12)
        for name, model in (("base", base), ("tuned", tuned))
    }
    table = "\n\n".join(f"{name}:\n{report}" for name, report in scores.items())
    (out / "metrics.txt").write_text(table + "\n", encoding="utf-8")
    scores["tuned"].to_csv(out / "metrics.csv")
    scores["tuned"].to_json(out / "metrics.json")
    print(table)

    prompts = [f"What does the {animal} say?" for animal in ANIMALS]
    comparison = ts.compare(base, tuned, prompts, out_dir=out / "comparison", max_new_tokens=12)
    print(comparison.summary())
    print(f"side by side: {comparison.files['html']}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("eval_out"))
