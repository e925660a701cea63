"""Device check for the trl backend's GPU-only paths: QLoRA (bitsandbytes 4-bit) and bf16 LoRA.

Not run in CI (CPU-only); run it on a CUDA machine with bitsandbytes installed::

    python benchmarks/gpu/trl_qlora_check.py [--out results.json]

Each case trains the tiny offline model for a few steps through ``TRLBackend.train`` and checks
that the loss goes down and an adapter is written. Exits non-zero if any case fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import tunesdk as ts
from tunesdk.events import Progress
from tunesdk.store import RunStore
from tunesdk.testing import tiny_chat_data, tiny_model
from tunesdk_trl import TRLBackend

CASES: dict[str, dict[str, Any]] = {
    "qlora_nf4_bf16": {
        "method": ts.QLoRA(r=8, compute_dtype="bfloat16"),
        "resources": ts.Resources(mixed_precision="bf16"),
    },
    "qlora_8bit": {"method": ts.QLoRA(r=8, bits=8), "resources": ts.Resources()},
    "lora_bf16": {"method": ts.LoRA(r=8), "resources": ts.Resources(mixed_precision="bf16")},
}


def run_case(name: str, options: dict[str, Any], model: Path, root: Path) -> dict[str, Any]:
    job = ts.Job(
        model=str(model),
        data=tiny_chat_data(64),
        batch_size=8,
        max_steps=16,
        learning_rate=5e-3,
        max_seq_length=64,
        **options,
    )
    backend = TRLBackend()
    check = backend.check_job(job)
    if not check.usable:
        return {"case": name, "ok": False, "error": check.reason, "fix": check.fix}
    record = RunStore(root / name).create(job, backend.plan(job), "trl")
    start = time.perf_counter()
    try:
        handle = backend.train(record)
    except Exception as exc:
        return {"case": name, "ok": False, "error": repr(exc), "trace": traceback.format_exc()}
    losses = [e.train_loss for e in record.events() if isinstance(e, Progress) and e.train_loss]
    went_down = sum(losses[-4:]) / 4 < sum(losses[:4]) / 4
    saved = (Path(handle.path) / "adapter_config.json").exists()
    return {
        "case": name,
        "ok": went_down and saved,
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "adapter_saved": saved,
        "wall_s": round(time.perf_counter() - start, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = tiny_model(root / "model")
        results = [run_case(name, options, model, root) for name, options in CASES.items()]
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
