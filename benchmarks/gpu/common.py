"""What the GPU checks share: one model, one dataset, one Job, one way to measure, one result row.

Every check (``trl_qlora_check.py``, ``unsloth_check.py``, ``axolotl_check.py``, ``run_all.py``)
trains the same thing so their rows can sit in one table:

- **Model**: a random-weight Llama-architecture model built locally (no hub), saved in bf16 with
  ``tunesdk.testing.tiny_tokenizer`` (a BPE tokenizer trained on the spot, with a chat template).
  The default size is 24 layers, hidden 1280, MLP 3584, 20 query heads and 5 KV heads, vocabulary
  32000: about 0.51B parameters. Size flags shrink it for a CPU smoke run (``--tiny``).
- **Dataset**: ``tunesdk.testing.tiny_chat_data`` with every message repeated until the longest
  conversation fills 90% of ``--seq`` tokens, so no example is ever cut.
- **Job**: LoRA r=16 (alpha 32, dropout 0, all linear layers), QLoRA (the same adapter on a 4-bit
  nf4 base, double quantization, bf16 compute) or full fine-tuning; ``--steps`` optimizer steps
  of ``--batch`` examples (no accumulation), linear schedule with 5% warm-up, lr 2e-4 for adapters
  and 2e-5 for full, seed 7, bf16 mixed precision on a bf16-capable GPU. Every case trains on all
  tokens (``train_on_inputs=True``) so losses compare across engines and with the plain baselines.
- **Measure**: per-step throughput is the non-padding tokens of a step over its wall time
  (``num_input_tokens_seen``, as tunesdk's TRL callback reports it); ``tokens_per_s`` is the
  median over the steps after the first ``WARMUP_STEPS`` (CUDA kernels, allocator, autotuning);
  ``peak_gib`` is ``torch.cuda.max_memory_allocated`` of the case's own process; ``final_loss``
  is the last logged step loss.
- **Row**: ``{backend, method, via, tokens_per_s, peak_gib, final_loss, ok, error}``; a case that
  cannot run here (engine missing, no CUDA) has ``ok=False`` and ``error="skipped: <reason>"``.

Each case runs in its own process (clean peak memory, Unsloth's patches kept away from the
others) with a time limit; the parent only builds the model, starts children and prints the table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

SEED = 7
LORA_RANK = 16
WARMUP_STEPS = 3
DEFAULT_STEPS = 30
LEARNING_RATES = {"lora": 2e-4, "qlora": 2e-4, "full": 2e-5}
METHOD_LABELS = {"lora": "LoRA", "qlora": "QLoRA", "full": "full"}
#: the children print their row on one stdout line starting with this
ROW_MARKER = "GPU-CHECK-ROW "
SKIPPED = "skipped: "
#: a case is not started with less of the total budget left than this
MIN_CASE_S = 30.0
#: no hub access on the device machine; Unsloth also stops looking for the network with these
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
_ERROR_LINE = re.compile(r"^(?:[\w.]+\.)?\w*(?:Error|Exception|Interrupt)\b(?::.*)?$")


# ---- sizes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    """Model shape and batch geometry. Heads are 64 wide; KV heads about a quarter of them."""

    layers: int = 24
    hidden: int = 1280
    vocab: int = 32000
    seq: int = 1024
    batch: int = 8
    examples: int = 512

    @property
    def heads(self) -> int:
        return max(self.hidden // 64, 1)

    @property
    def kv_heads(self) -> int:
        # the largest divisor of heads not above heads/4 (grouped-query attention, as in Llama 3)
        return next(d for d in range(max(self.heads // 4, 1), 0, -1) if self.heads % d == 0)

    @property
    def intermediate(self) -> int:
        return max(round(self.hidden * 2.8 / 64) * 64, 64)

    def problems(self) -> list[str]:
        """What makes this size unusable, as flag-level messages (empty when it is fine)."""
        found = [f"--{f.name} must be ≥ 1" for f in fields(self) if getattr(self, f.name) < 1]
        if self.seq < 64:
            found.append("--seq must be ≥ 64: one chat example of the dataset needs ~40 tokens")
        return found

    def flags(self) -> list[str]:
        """The command-line flags that reproduce this size in a child process."""
        return [f"--{f.name}={getattr(self, f.name)}" for f in fields(self)]


#: a CPU smoke run: a few seconds per case on two cores
TINY = Size(layers=2, hidden=64, vocab=512, seq=128, batch=2, examples=32)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The CLI every check shares: ``--steps``, ``--out``, the size flags, the time limits."""
    default = Size()
    parser.add_argument(
        "--steps", type=int, default=DEFAULT_STEPS, help=f"steps per case (default {DEFAULT_STEPS})"
    )
    parser.add_argument("--out", type=Path, help="also write the rows (and run details) as JSON")
    parser.add_argument("--tiny", action="store_true", help=f"CPU smoke size: {TINY.flags()}")
    for f in fields(Size):
        parser.add_argument(f"--{f.name}", type=int, help=f"default {getattr(default, f.name)}")
    parser.add_argument(
        "--case-timeout", type=float, default=180.0, help="seconds one case may take (default 180)"
    )
    parser.add_argument(
        "--logs", type=Path, help="keep each case's full output in this folder (default: dropped)"
    )
    parser.add_argument("--case", help=argparse.SUPPRESS)  # set in a child: run this one case
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)  # the model it trains


def size_from(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Size:
    """The size the flags ask for: the default (or ``--tiny``) with any explicit flag applied;
    a usage error naming the flag when it cannot work."""
    base = TINY if args.tiny else Size()
    given = {
        f.name: getattr(args, f.name) for f in fields(Size) if getattr(args, f.name) is not None
    }
    size = replace(base, **given)
    if size.problems():
        parser.error("; ".join(size.problems()))
    if args.steps < 1:
        parser.error("--steps must be ≥ 1")
    return size


# ---- model and data ---------------------------------------------------------------------------


def build_model(path: Path, size: Size) -> int:
    """Save a random-weight bf16 Llama of ``size`` and the tiny tokenizer at ``path``; returns
    the parameter count. Initialised on the GPU when there is one (seconds instead of a minute)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from tunesdk.testing import tiny_tokenizer

    tokenizer = tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=max(size.vocab, len(tokenizer)),
        hidden_size=size.hidden,
        intermediate_size=size.intermediate,
        num_hidden_layers=size.layers,
        num_attention_heads=size.heads,
        num_key_value_heads=size.kv_heads,
        max_position_embeddings=max(4096, 2 * size.seq),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = LlamaForCausalLM(config).bfloat16()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return sum(p.numel() for p in model.parameters())


def chat_rows(size: Size) -> list[dict[str, Any]]:
    """The one dataset: ``size.examples`` chat examples, each at most 90% of ``size.seq`` tokens
    with the chat template applied (every message repeated as often as that allows)."""
    from tunesdk.testing import tiny_chat_data, tiny_tokenizer

    tokenizer = tiny_tokenizer()
    base = tiny_chat_data(size.examples, seed=0)
    limit = int(size.seq * 0.9)

    def repeated(times: int) -> list[dict[str, Any]]:
        return [
            {
                "messages": [
                    {"role": m["role"], "content": " ".join([m["content"]] * times)}
                    for m in row["messages"]
                ]
            }
            for row in base
        ]

    def longest(rows: list[dict[str, Any]]) -> int:
        texts = {tokenizer.apply_chat_template(r["messages"], tokenize=False) for r in rows}
        return max(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)

    times = max(limit // max(longest(base), 1), 1)  # a first guess; the template is not repeated
    while longest(repeated(times + 1)) <= limit:
        times += 1
    while times > 1 and longest(repeated(times)) > limit:
        times -= 1
    return repeated(times)


def cuda_precision() -> str | None:
    """``"bf16"`` on a bf16-capable CUDA GPU, else None (fp32 autocast off, e.g. on a CPU)."""
    import torch

    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else None


def make_job(model: Path, method: str, size: Size, steps: int) -> Any:
    """The one ``ts.Job`` every backend runs (see the module docstring)."""
    import tunesdk as ts

    adapter = {
        "r": LORA_RANK,
        "alpha": 2 * LORA_RANK,
        "dropout": 0.0,
        "target_modules": "all-linear",
    }
    methods: dict[str, Any] = {
        "lora": ts.LoRA(**adapter),
        "qlora": ts.QLoRA(**adapter, bits=4, quant_type="nf4", compute_dtype="bfloat16"),
        "full": ts.Full(),
    }
    return ts.Job(
        model=str(model),
        data=chat_rows(size),
        method=methods[method],
        batch_size=size.batch,
        max_steps=steps,
        learning_rate=LEARNING_RATES[method],
        warmup_ratio=0.05,
        lr_scheduler="linear",
        max_seq_length=size.seq,
        seed=SEED,
        train_on_inputs=True,
        resources=ts.Resources(mixed_precision=cuda_precision()),
    )


# ---- rows ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One row of the table: an engine, a method, and whether tunesdk or a plain script runs it."""

    backend: str
    method: str
    via: str  # "tunesdk" | "plain"

    @property
    def name(self) -> str:
        return f"{self.backend}-{self.method}-{self.via}"


@dataclass
class Row:
    """One case's result. ``error`` starts with ``"skipped: "`` when the case could not run here."""

    backend: str
    method: str
    via: str
    tokens_per_s: float | None = None
    peak_gib: float | None = None
    final_loss: float | None = None
    ok: bool = False
    error: str | None = None

    @classmethod
    def of(cls, case: Case, **values: Any) -> Row:
        return cls(backend=case.backend, method=case.method, via=case.via, **values)

    @property
    def skipped(self) -> bool:
        return bool(self.error and self.error.startswith(SKIPPED))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class CaseSkipped(Exception):
    """The case cannot run on this machine (engine not installed, no CUDA GPU, ...)."""


@dataclass(frozen=True)
class StepSample:
    """One logged optimizer step: its throughput (non-padding tokens/s) and loss."""

    step: int
    tokens_per_s: float | None
    loss: float | None


def warmup_for(steps: int) -> int:
    """Steps left out of tokens/s: ``WARMUP_STEPS``, but at least one step is always measured."""
    return max(min(WARMUP_STEPS, steps - 1), 0)


def summarize(case: Case, samples: Sequence[StepSample], steps: int, peak_gib: float | None) -> Row:
    """The row for a finished training: ok when every step logged a finite loss."""
    losses = [s.loss for s in samples if s.loss is not None]
    rates = [
        s.tokens_per_s for s in samples if s.step > warmup_for(steps) and s.tokens_per_s is not None
    ]
    problems = []
    if len(losses) < steps:
        problems.append(f"{len(losses)} of {steps} steps logged a loss")
    if any(not math.isfinite(x) for x in losses):
        problems.append("a loss is not finite")
    return Row.of(
        case,
        tokens_per_s=round(statistics.median(rates), 1) if rates else None,
        peak_gib=round(peak_gib, 2) if peak_gib is not None else None,
        final_loss=round(losses[-1], 4) if losses else None,
        ok=not problems,
        error="; ".join(problems) or None,
    )


def measure(case: Case, steps: int, train: Callable[[], Sequence[StepSample]]) -> Row:
    """Run ``train`` in this process and summarize it with this process's peak GPU memory."""
    import torch

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    samples = train()
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
    return summarize(case, samples, steps, peak)


def step_logger(samples: list[StepSample]) -> Any:
    """A ``TrainerCallback`` for the plain baselines that records each step exactly as
    tunesdk's TRL callback computes its Progress events (needs ``logging_steps=1`` and
    ``include_num_input_tokens_seen="non_padding"``)."""
    from transformers import TrainerCallback

    class StepLogger(TrainerCallback):
        last = (0.0, 0)

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.last = (time.monotonic(), state.num_input_tokens_seen)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if not logs or "loss" not in logs:
                return
            now, tokens = time.monotonic(), state.num_input_tokens_seen
            elapsed = now - self.last[0]
            rate = (tokens - self.last[1]) / elapsed if tokens and elapsed > 0 else None
            self.last = (now, tokens)
            samples.append(StepSample(state.global_step, rate, float(logs["loss"])))

    return StepLogger()


def train_with_tunesdk(job: Any, backend_name: str, home: Path) -> Any:
    """Train ``job`` through tunesdk's backend in this process, as its worker does: check, plan,
    preflight, a run folder, ``backend.train``. Returns the run record. CaseSkipped when the
    backend says it cannot run the job here."""
    from tunesdk.registry import get_backend
    from tunesdk.store import RunStore

    backend = get_backend(backend_name)
    check = backend.check_job(job)
    if not check.usable:
        raise CaseSkipped(check.reason + (f" (fix: {check.fix})" if check.fix else ""))
    plan = backend.plan(job)
    backend.preflight(job, plan)
    record = RunStore(home).create(job, plan, backend_name)
    backend.train(record)
    return record


def progress_samples(record: Any) -> list[StepSample]:
    """The run's Progress events as samples."""
    from tunesdk.events import Progress

    return [
        StepSample(e.step, e.tokens_per_second, e.train_loss)
        for e in record.events()
        if isinstance(e, Progress)
    ]


def require_cuda(what: str) -> None:
    """CaseSkipped unless torch sees a CUDA GPU."""
    import torch

    if not torch.cuda.is_available():
        raise CaseSkipped(f"{what} needs a CUDA GPU; none is visible here")


# ---- running cases in child processes -------------------------------------------------------

#: runs one case in the current (child) process and returns its row
CaseRunner = Callable[[Case, Path, Size, int], Row]


def run_in_this_process(case: Case, runner: CaseRunner, model: Path, size: Size, steps: int) -> Row:
    """The child's side: run the case, turn a skip or a failure into a row."""
    try:
        return runner(case, model, size, steps)
    except CaseSkipped as exc:
        return Row.of(case, error=SKIPPED + str(exc))
    except Exception as exc:  # every failure becomes a row; the traceback is in the output
        import traceback

        traceback.print_exc()
        return Row.of(case, error=one_line(exc))


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}"[:300] if text else type(exc).__name__


def child_env() -> dict[str, str]:
    return {**os.environ, **OFFLINE_ENV, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}


def run_child(
    script: Path, case: Case, model: Path, size: Size, steps: int, timeout: float, log: Path
) -> Row:
    """Run one case as ``python SCRIPT --case NAME ...`` in a new process group; its output goes
    to ``log``. A timeout kills the whole group (Axolotl's own processes included)."""
    command = [
        sys.executable,
        str(script),
        f"--case={case.name}",
        f"--model={model}",
        f"--steps={steps}",
        *size.flags(),
    ]
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=child_env(), start_new_session=True
        )
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return Row.of(case, error=f"timed out after {timeout:.0f} s")
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    for line in reversed(lines):
        at = line.find(ROW_MARKER)  # progress bars on stderr may share the line
        if at >= 0:
            try:
                values, _ = json.JSONDecoder().raw_decode(line[at + len(ROW_MARKER) :])
                return Row(**values)
            except (ValueError, TypeError):
                break
    reason = next((x.strip() for x in reversed(lines) if _ERROR_LINE.match(x.strip())), None)
    return Row.of(case, error=reason or f"exited with code {code} without a result")


def build_model_in_child(path: Path, size: Size) -> int:
    """Build the model in a child process (the parent never holds a CUDA context)."""
    done = subprocess.run(
        [sys.executable, __file__, "build-model", str(path), *size.flags()],
        capture_output=True,
        text=True,
        env=child_env(),
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"building the model failed:\n{done.stdout}\n{done.stderr}")
    return int(json.loads(done.stdout.strip().splitlines()[-1])["parameters"])


@dataclass
class Schedule:
    """Cases to run in order, under a per-case limit and a total time budget."""

    cases: list[tuple[Path, Case]]
    case_timeout: float
    budget_s: float | None = None
    timeouts: dict[str, float] = field(default_factory=dict)  # per-backend minimum limits


def run_schedule(schedule: Schedule, model: Path, size: Size, steps: int, logs: Path) -> list[Row]:
    """Each case in its own process, in order; cases past the budget become skipped rows."""
    start = time.monotonic()
    rows = []
    for script, case in schedule.cases:
        limit = max(schedule.case_timeout, schedule.timeouts.get(case.backend, 0.0))
        if schedule.budget_s is not None:
            left = schedule.budget_s - (time.monotonic() - start)
            if left < MIN_CASE_S:
                rows.append(
                    Row.of(case, error=f"{SKIPPED}time budget of {schedule.budget_s:.0f} s used up")
                )
                continue
            limit = min(limit, left)
        began = time.monotonic()
        row = run_child(script, case, model, size, steps, limit, logs / f"{case.name}.log")
        print(f"  {case.name}: {status(row)} ({time.monotonic() - began:.0f} s)", flush=True)
        rows.append(row)
    return rows


# ---- the table --------------------------------------------------------------------------------


def status(row: Row) -> str:
    if row.ok:
        return "ok"
    if row.skipped:
        return row.error or "skipped"
    return f"failed: {row.error}"


def throughput_ratios(rows: Sequence[Row]) -> dict[tuple[str, str], float]:
    """tunesdk tokens/s over the plain baseline's, per (backend, method) where both ran."""
    plain = {(r.backend, r.method): r.tokens_per_s for r in rows if r.via == "plain" and r.ok}
    ratios = {}
    for r in rows:
        base = plain.get((r.backend, r.method))
        if r.via == "tunesdk" and r.ok and r.tokens_per_s and base:
            ratios[(r.backend, r.method)] = round(r.tokens_per_s / base, 3)
    return ratios


def _cell(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def markdown_table(rows: Sequence[Row], *, cpu: bool) -> str:
    """The table as Markdown; on a CPU run peak memory reads "n/a (CPU)"."""
    ratios = throughput_ratios(rows)
    tokens = "tokens/s (CPU)" if cpu else "tokens/s"
    header = [
        f"| backend | method | via | {tokens} | peak GiB | final loss | tunesdk/plain tokens/s "
        "| status |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    lines = []
    for r in rows:
        ratio = ratios.get((r.backend, r.method)) if r.via == "tunesdk" else None
        peak = "n/a (CPU)" if cpu and r.ok else _cell(r.peak_gib, 2)
        cells = [
            r.backend,
            METHOD_LABELS.get(r.method, r.method),
            r.via,
            _cell(r.tokens_per_s, 0),
            peak,
            _cell(r.final_loss, 4),
            _cell(ratio, 3),
            status(r).replace("|", "/"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(header + lines)


def millions(count: int) -> str:
    return f"{count / 1e6:,.0f}M" if count >= 10**7 else f"{count / 1e6:.2f}M"


def describe_device() -> dict[str, Any]:
    """Device and versions, from a child process (so the parent holds no CUDA context)."""
    code = (
        "import json, importlib.metadata as m, torch\n"
        "names = ['torch', 'transformers', 'trl', 'peft', 'bitsandbytes', 'unsloth', 'axolotl']\n"
        "v = {}\n"
        "for n in names:\n"
        "    try: v[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: pass\n"
        "d = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu'\n"
        "print(json.dumps({'device': d, 'versions': v}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=child_env(), check=False
    )
    try:
        info: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        info = {"device": "unknown", "versions": {}}
    return info


def report(
    rows: Sequence[Row], info: dict[str, Any], size: Size, steps: int, parameters: int
) -> tuple[str, dict[str, Any]]:
    """The printed report (title + table) and the JSON document for ``--out``."""
    cpu = info["device"] == "cpu"
    where = "CPU (smoke run: not GPU performance)" if cpu else info["device"]
    title = (
        f"Device: {where}. Model: random-weight Llama, {millions(parameters)} parameters, bf16. "
        f"{steps} steps × {size.batch} examples, ≤{size.seq} tokens each; tokens/s = median of the "
        f"steps after the first {warmup_for(steps)}."
    )
    document = {
        "device": info["device"],
        "cpu_smoke_run": cpu,
        "versions": info.get("versions", {}),
        "parameters": parameters,
        "size": asdict(size),
        "steps": steps,
        "warmup_steps": warmup_for(steps),
        "rows": [r.to_dict() for r in rows],
        "tunesdk_over_plain_tokens_per_s": [
            {"backend": b, "method": m, "ratio": v} for (b, m), v in throughput_ratios(rows).items()
        ],
    }
    return title + "\n\n" + markdown_table(rows, cpu=cpu), document


# ---- the scripts' shared main -------------------------------------------------------------------


def script_main(
    script: str,
    cases: Sequence[Case],
    runner: CaseRunner,
    description: str,
    *,
    timeouts: dict[str, float] | None = None,
) -> int:
    """``main()`` of a check script: in a child (``--case``) run that one case and print its row;
    otherwise build the model, run every case in its own process, print the table, write --out.
    Exit code 1 when a case failed (skipped cases are not failures)."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    args = parser.parse_args()
    size = size_from(args, parser)
    if args.case:
        by_name = {c.name: c for c in cases}
        if args.case not in by_name or args.model is None:
            parser.error(f"--case must be one of {sorted(by_name)}, with --model")
        row = run_in_this_process(by_name[args.case], runner, args.model, size, args.steps)
        print(ROW_MARKER + json.dumps(row.to_dict()), flush=True)
        return 0
    plan = [(Path(script).resolve(), c) for c in cases]
    schedule = Schedule(plan, args.case_timeout, None, timeouts or {})
    return orchestrate(schedule, args, size)


def orchestrate(schedule: Schedule, args: argparse.Namespace, size: Size) -> int:
    """Build the model, run the schedule, print the table, write ``--out``."""
    info = describe_device()
    with tempfile.TemporaryDirectory(prefix="tunesdk-gpu-check-") as tmp:
        logs = args.logs or Path(tmp) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        model = Path(tmp) / "model"
        began = time.monotonic()
        parameters = build_model_in_child(model, size)
        print(
            f"model: {millions(parameters)} parameters, built in {time.monotonic() - began:.0f} s; "
            f"device: {info['device']}",
            flush=True,
        )
        rows = run_schedule(schedule, model, size, args.steps, logs)
    order = {case.name: i for i, case in enumerate(sorted_cases(c for _, c in schedule.cases))}
    rows.sort(key=lambda r: order[Case(r.backend, r.method, r.via).name])
    text, document = report(rows, info, size, args.steps, parameters)
    print("\n" + text, flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return 1 if any(not r.ok and not r.skipped for r in rows) else 0


BACKEND_ORDER = ("trl", "unsloth", "axolotl")
METHOD_ORDER = ("lora", "qlora", "full")


def sorted_cases(cases: Any) -> list[Case]:
    """Table order: backend, method, then tunesdk before plain."""

    def key(c: Case) -> tuple[int, int, int]:
        b = BACKEND_ORDER.index(c.backend) if c.backend in BACKEND_ORDER else len(BACKEND_ORDER)
        m = METHOD_ORDER.index(c.method) if c.method in METHOD_ORDER else len(METHOD_ORDER)
        return (b, m, 0 if c.via == "tunesdk" else 1)

    return sorted(cases, key=key)


def _build_model_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="build the check model")
    parser.add_argument("path", type=Path)
    parser.add_argument("--tiny", action="store_true")
    for f in fields(Size):
        parser.add_argument(f"--{f.name}", type=int)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    print(json.dumps({"parameters": build_model(args.path, size_from(args, parser))}))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["build-model"]:
        sys.exit(_build_model_main(sys.argv[2:]))
    sys.exit("usage: python common.py build-model PATH [size flags]")
