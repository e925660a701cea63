"""Commands that neither train nor tokenize never import torch or transformers (the seconds those
imports take are what made `tunesdk backends` take 4 s). Not timed: benchmarks/import_time.py
reports each command's time as a ratio to ``python -c pass``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = {"torch", "transformers", "datasets", "trl", "peft", "unsloth", "axolotl"}


def imported_modules(args: list[str], cwd: Path) -> tuple[int, set[str], str]:
    """(exit code, top-level modules imported, stderr without the import log) of ``tunesdk ARGS``."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tunesdk", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )
    names, rest = set(), []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") >= 2:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
        else:
            rest.append(line)
    return proc.returncode, names, "\n".join(rest)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with data, a job on a hub model id, and one completed simulated run."""
    folder = tmp_path_factory.mktemp("speed")
    rows = [
        {"messages": [{"role": "user", "content": f"{i}?"}, {"role": "assistant", "content": "ok"}]}
        for i in range(16)
    ]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "job.yaml").write_text(
        "model: Qwen/Qwen2.5-0.5B-Instruct\ndata: train.jsonl\nmax_steps: 3\n"
        "backend_options:\n  simulated:\n    step_seconds: 0.001\n"
    )
    return folder


@pytest.fixture
def completed_run(workspace: Path) -> str:
    folder = workspace
    proc = subprocess.run(
        [sys.executable, "-m", "tunesdk", "run", "job.yaml", "-b", "simulated", "--json"],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=120,
        check=True,
    )
    return str(json.loads(proc.stdout.splitlines()[0])["run_id"])


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["backends"],
        ["runs"],
        ["plan", "job.yaml", "-b", "simulated"],
        ["plan", "job.yaml", "-b", "trl"],
        ["estimate", "job.yaml"],
        ["validate", "train.jsonl"],
        ["stats", "train.jsonl"],
    ],
    ids=lambda args: " ".join(args),
)
def test_light_commands_import_no_torch(args: list[str], workspace: Path) -> None:
    code, modules, stderr = imported_modules(args, workspace)
    assert code == 0, stderr
    assert not modules & HEAVY, sorted(modules & HEAVY)


def test_commands_on_a_run_import_no_torch(workspace: Path, completed_run: str) -> None:
    for args in (["status", completed_run], ["logs", completed_run], ["resume", completed_run]):
        code, modules, stderr = imported_modules(args, workspace)
        assert code == 0, stderr
        assert not modules & HEAVY, (args, sorted(modules & HEAVY))


def test_the_gpu_probe_reads_torch_build_without_importing_torch() -> None:
    """The GPU check reads torch's build and the driver's GPU list instead of importing torch."""
    from tunesdk.hardware import quick_gpu, torch_build

    build = torch_build()
    assert build is not None and set(build) == {"cuda", "hip", "xpu"}
    decided, gpu = quick_gpu()
    if "torch" not in sys.modules:
        assert decided
    if build["cuda"] is None and build["hip"] is None and decided:
        assert gpu is None  # a CPU build of torch sees no GPU, whatever the machine has


def test_estimate_of_a_local_model_counts_tokens_without_torch(tmp_path: Path) -> None:
    """The tutorial's tiny model has a generic fast tokenizer: loaded as the class AutoTokenizer
    would pick, without AutoTokenizer's import of torch (seconds)."""
    pytest.importorskip("transformers")
    from tunesdk.testing import tiny_chat_data, tiny_model

    tiny_model(tmp_path / "tiny-llama")
    rows = tiny_chat_data(16)
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "job.yaml").write_text("model: {name: tiny-llama}\ndata: train.jsonl\n")
    code, modules, stderr = imported_modules(["estimate", "job.yaml", "--json"], tmp_path)
    assert code == 0, stderr
    assert "torch" not in modules
    assert "tokenizers" in modules  # the model's own tokenizer counted
