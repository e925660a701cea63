"""One GPU check for every local engine: the same job through TRL, Unsloth and Axolotl, one table.

Runs the cases of ``trl_qlora_check.py``, ``unsloth_check.py`` and ``axolotl_check.py`` (model,
data, Job and measurements from ``common.py``: a random-weight ~0.51B bf16 Llama built locally,
LoRA r=16 all-linear / QLoRA nf4 / full, 30 steps of 8 examples ≤1024 tokens, seed 7) and prints
ONE Markdown table: backend × method via tunesdk, plus the plain TRL and plain Unsloth baselines,
with tokens/s, peak GiB, final loss and the tunesdk/plain throughput ratio. ``--out`` writes the
rows, ratios, device and versions as JSON.

Each case runs in its own process (clean peak memory; Unsloth's patches stay in theirs) under a
per-case limit (``--case-timeout``, 180 s; Axolotl at least 300 s) and a total ``--budget`` (450 s).
Cases run in priority order (the LoRA pairs first, full fine-tuning last); a case that would
start with under 30 s of budget left is reported "skipped: time budget ... used up". A missing
engine or GPU gives a "skipped: <reason>" row; nothing crashes the table.

Time on one H200 (estimated, not yet measured): building the model ~10 s; each TRL case ~25 s
(imports, loading, 30 steps of a fraction of a second); each Unsloth case ~45 s (its import
patches and compiles); each Axolotl case ~90 s (CLI start, config validation, data preparation).
About 7–8 minutes in all, inside the 450 s budget plus the build; raise ``--budget`` when the
machine allows.

    python benchmarks/gpu/run_all.py --out gpu-check.json
    python benchmarks/gpu/run_all.py --only trl,unsloth --steps 50
    python benchmarks/gpu/run_all.py --tiny --steps 2     # CPU smoke run: trl LoRA/full only

Exits 1 if a case failed (skipped cases are not failures).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import axolotl_check
import common
import trl_qlora_check
import unsloth_check
from common import Case

HERE = Path(__file__).resolve().parent
SCRIPTS = {
    "trl": (HERE / "trl_qlora_check.py", trl_qlora_check.CASES),
    "unsloth": (HERE / "unsloth_check.py", unsloth_check.CASES),
    "axolotl": (HERE / "axolotl_check.py", axolotl_check.CASES),
}
#: what runs first when the budget is short: the LoRA comparisons, then QLoRA, then full
PRIORITY = [
    ("trl", "lora"),
    ("unsloth", "lora"),
    ("axolotl", "lora"),
    ("trl", "qlora"),
    ("unsloth", "qlora"),
    ("axolotl", "qlora"),
    ("trl", "full"),
    # GRPO, KTO and ORPO through Unsloth's patched trainers: last, when the budget allows
    ("unsloth", "grpo"),
    ("unsloth", "kto"),
    ("unsloth", "orpo"),
]


def schedule(backends: list[str], case_timeout: float, budget_s: float) -> common.Schedule:
    """Every case of the chosen backends, in priority order (tunesdk before plain)."""
    chosen: list[tuple[Path, Case]] = []
    for backend, method in PRIORITY:
        if backend not in backends:
            continue
        script, cases = SCRIPTS[backend]
        for via in ("tunesdk", "plain"):
            chosen += [(script, c) for c in cases if c.method == method and c.via == via]
    timeouts = dict(axolotl_check.TIMEOUTS)
    return common.Schedule(chosen, case_timeout, budget_s, timeouts)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common.add_arguments(parser)
    parser.add_argument(
        "--budget", type=float, default=450.0, help="seconds for all cases together (default 450)"
    )
    parser.add_argument(
        "--only", default=",".join(SCRIPTS), help="backends to run, comma-separated (default all)"
    )
    args = parser.parse_args()
    backends = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = sorted(set(backends) - set(SCRIPTS))
    if unknown:
        parser.error(f"--only: unknown backend(s) {unknown}; choose from {sorted(SCRIPTS)}")
    if args.case:
        parser.error("--case is for a check script's own children, not run_all.py")
    plan = schedule(backends, args.case_timeout, args.budget)
    return common.orchestrate(plan, args, common.size_from(args, parser))


if __name__ == "__main__":
    sys.exit(main())
