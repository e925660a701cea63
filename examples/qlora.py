"""QLoRA: LoRA on a 4-bit quantized base model. Shows the plan and the check anywhere; trains
only where a CUDA GPU and bitsandbytes are present.

On a CPU machine this prints why QLoRA cannot run here and how to fix it, and exits 0: QLoRA's
4-bit kernels (bitsandbytes) need an NVIDIA GPU. Nothing is uploaded or started before that check.

    python examples/qlora.py [WORK_DIR]

Needs: pip install tunesdk "tunesdk-trl[qlora]" (bitsandbytes), and a CUDA GPU to train.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import tunesdk as ts
from tunesdk.testing import tiny_chat_data, tiny_model


def main(work: Path) -> int:
    work.mkdir(parents=True, exist_ok=True)
    model_path = tiny_model(work / "tiny-llama")
    data = work / "train.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in tiny_chat_data(64)))

    job = ts.Job(
        model=str(model_path),  # for a real run: e.g. "meta-llama/Llama-3.1-8B-Instruct"
        data=data,
        # 4-bit NF4 with double quantization; the LoRA matrices train in bfloat16 on top.
        method=ts.QLoRA(r=8, bits=4, quant_type="nf4", double_quant=True),
        epochs=1,
        batch_size=8,
        max_seq_length=128,
        learning_rate=5e-3,
        resources=ts.Resources(mixed_precision="bf16"),
    )

    # The plan is pure: it works on any machine and shows the BitsAndBytesConfig TRL will get.
    plan = job.plan("trl")
    print("quantization:", json.dumps(plan.native["model"].get("quantization_config")))
    print("peft:", json.dumps(plan.native.get("peft"), default=str))

    # check_job() answers "can this job run here?" with the reason and the fix.
    check = ts.get_backend("trl").check_job(job)
    if not check.usable:
        print(f"QLoRA cannot train here: {check.reason}")
        print(f"fix: {check.fix}")
        return 0

    result = job.run(backend="trl")
    assert result.model is not None
    print("model:", result.model.to_uri())
    print("train_loss:", round(result.metrics["train_loss"], 4))
    return 0


if __name__ == "__main__":
    work = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="tunesdk-"))
    sys.exit(main(work))
