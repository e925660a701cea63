"""Throughput and memory of tunesdk.data, as ratios to a plain-JSON baseline measured in this run.

    .venv/bin/python benchmarks/data_throughput.py [--examples 200000] [--big-gb 1.0]

1. Throughput: 200,000 generated chat examples (JSONL, a sixth of them with tool calls). The
   baseline parses and re-serializes each line with the same JSON library (stdlib ``json``)
   and writes it out. tunesdk does what a managed backend does before upload: detect the format
   (``Dataset.load``), validate it for OpenAI and write OpenAI's file. ``to()`` validates while
   it converts (one pass); ``validate()`` then ``to()`` is timed too (two passes).
   Times are CPU seconds of this process (``time.process_time``), best of 3 interleaved runs,
   so other work on a shared machine does not skew the ratio. Target: within 2x.
2. Memory: peak RSS of a child process converting a ~1 GB JSONL file with ``to("openai")``,
   next to the peak RSS of a child that only imports tunesdk.data. Target: under 300 MB.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOPICS = ["billing", "shipping", "returns", "passwords", "invoices", "refunds", "accounts"]
LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look up the account state for a topic.",
        "parameters": {"type": "object", "properties": {"topic": {"type": "string"}}},
    },
}


def example(rng: random.Random, index: int) -> dict[str, object]:
    """One realistic chat example: system prompt, 1-3 exchanges, sometimes a tool call."""
    topic = rng.choice(TOPICS)
    messages: list[dict[str, object]] = [
        {"role": "system", "content": f"You are a support agent for {topic}. Be concise."}
    ]
    for turn in range(rng.randint(1, 3)):
        words = " ".join(rng.choice(TOPICS) for _ in range(rng.randint(8, 40)))
        messages.append({"role": "user", "content": f"Question {index}.{turn} about {words}?"})
        if rng.random() < 0.15:
            call_id = f"call_{index}_{turn}"
            messages.append(
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {
                                "name": "lookup",
                                "arguments": json.dumps({"topic": topic}),
                            },
                        }
                    ],
                }
            )
            messages.append({"role": "tool", "tool_call_id": call_id, "content": f"{topic}: ok"})
        answer = " ".join(rng.choice(TOPICS) for _ in range(rng.randint(10, 60)))
        messages.append({"role": "assistant", "content": f"Answer: {answer}.", "weight": 1})
    if any("tool_calls" in message for message in messages):
        return {"messages": messages, "tools": [LOOKUP]}
    return {"messages": messages}


def generate(path: Path, count: int | None = None, size_bytes: int | None = None) -> int:
    rng = random.Random(0)
    written = lines = 0
    with path.open("w", encoding="utf-8") as out:
        while (count is not None and lines < count) or (
            size_bytes is not None and written < size_bytes
        ):
            line = json.dumps(example(rng, lines)) + "\n"
            out.write(line)
            written += len(line)
            lines += 1
    return lines


def baseline(src: Path, dst: Path) -> float:
    start = time.process_time()
    loads, dumps = json.loads, json.JSONEncoder(ensure_ascii=False).encode
    with src.open("rb") as handle, dst.open("w", encoding="utf-8") as out:
        for line in handle:
            out.write(dumps(loads(line)))
            out.write("\n")
    return time.process_time() - start


def one_pass(src: Path, dst: Path) -> float:
    """Detect, validate for OpenAI and convert, as ``to()`` does in one read of the file."""
    from tunesdk.data import Dataset

    start = time.process_time()
    Dataset.load(src).to("openai", dst)
    return time.process_time() - start


def two_passes(src: Path, dst: Path) -> tuple[float, float]:
    """``validate()`` (one read), then ``to()`` (another read): (validate, convert) seconds."""
    from tunesdk.data import Dataset

    start = time.process_time()
    ds = Dataset.load(src)
    report = ds.validate("openai")
    validated = time.process_time()
    ds.to("openai", dst)
    assert report.ok and report.examples > 0, report.render()
    return validated - start, time.process_time() - validated


_REPORT_PEAK = "import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
_CHILD_CONVERT = f"""
import sys
from tunesdk.data import Dataset
Dataset.load(sys.argv[1]).to("openai", sys.argv[2])
{_REPORT_PEAK}
"""
_CHILD_IMPORT = f"import tunesdk.data\n{_REPORT_PEAK}"


def child_peak_mb(code: str, *args: str) -> float:
    """Peak RSS (MB) of a fresh Python process running ``code``, as it reports it (Linux: KiB)."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True
    )
    return int(done.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200_000)
    parser.add_argument("--big-gb", type=float, default=1.0, help="0 skips the memory check")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        src = tmp / "chat.jsonl"
        count = generate(src, count=args.examples)
        size_mb = src.stat().st_size / 1e6
        print(f"throughput: {count:,} chat examples, {size_mb:.0f} MB of JSONL (CPU seconds)")
        base, single, double = [], [], []
        for _ in range(3):
            base.append(baseline(src, tmp / "base.jsonl"))
            single.append(one_pass(src, tmp / "openai.jsonl"))
            double.append(two_passes(src, tmp / "openai.jsonl"))
        b, s1 = min(base), min(single)
        v, c = min(double, key=sum)
        print(
            f"  baseline, json.loads + json.dumps per line:   {b:6.2f} s "
            f"({count / b:,.0f} examples/s)"
        )
        print(
            f"  Dataset.load + to('openai') (one pass):       {s1:6.2f} s  "
            f"ratio {s1 / b:.2f}x  (target <= 2x)"
        )
        print(
            f"  validate('openai') then to('openai'):         {v + c:6.2f} s  "
            f"ratio {(v + c) / b:.2f}x  (validate {v / b:.2f}x + convert {c / b:.2f}x)"
        )
        if args.big_gb <= 0:
            return
        big = tmp / "big.jsonl"
        lines = generate(big, size_bytes=int(args.big_gb * 1e9))
        print(f"memory: converting {big.stat().st_size / 1e9:.2f} GB ({lines:,} examples)")
        idle = child_peak_mb(_CHILD_IMPORT)
        start = time.perf_counter()
        peak = child_peak_mb(_CHILD_CONVERT, str(big), str(tmp / "big_openai.jsonl"))
        elapsed = time.perf_counter() - start
        print(f"  peak RSS importing tunesdk.data only: {idle:6.0f} MB")
        print(
            f"  peak RSS converting the file:         {peak:6.0f} MB  (target < 300 MB), "
            f"{elapsed:.0f} s"
        )


if __name__ == "__main__":
    main()
