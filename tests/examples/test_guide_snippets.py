"""The opening example of a guide runs as written, in a fresh process as a user pastes it: here
up to ``job.plan`` (where a reward the worker cannot import, or a bad grader, is refused), with
the tiny model in place of the hub id, offline."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def python_blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / page).read_text(), re.S)


def test_the_reinforcement_guides_opening_example_plans(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    rewards, script = python_blocks("docs/guide/reinforcement.md")[:2]
    (tmp_path / "my_rewards.py").write_text(rewards)
    (tmp_path / "math_prompts.jsonl").write_text(
        '{"prompt": "What is 17 × 3?", "answer": "51"}\n{"prompt": "What is 2 + 2?", "answer": "4"}\n'
    )
    assert '"Qwen/Qwen2.5-0.5B-Instruct"' in script and "job.run(" in script
    script = script.replace('"Qwen/Qwen2.5-0.5B-Instruct"', repr(str(tiny_model_path)))
    script = script.split("result = job.run(")[0]  # training it is the trl tests' job
    (tmp_path / "rl_job.py").write_text(script)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TUNESDK_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "rl_job.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "grpo" in done.stdout and "rewards" in done.stdout
