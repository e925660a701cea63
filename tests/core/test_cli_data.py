"""The data commands of the CLI: validate, stats, convert."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

GOOD = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


def _tunesdk(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from tunesdk.cli import main; sys.argv = ['tunesdk', *sys.argv[1:]]; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )


def test_validate_lists_bad_lines_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    lines = [json.dumps(GOOD)] * 12 + ["not json", json.dumps({"messages": []})]
    path.write_text("\n".join(lines) + "\n")
    done = _tunesdk("validate", str(path), "--backend", "openai")
    assert done.returncode == 2
    assert "bad.jsonl:13" in done.stdout and "bad.jsonl:14" in done.stdout
    assert "Traceback" not in done.stderr


def test_validate_ok_stats_and_convert(tmp_path: Path) -> None:
    path = tmp_path / "good.jsonl"
    path.write_text((json.dumps(GOOD) + "\n") * 12)
    assert _tunesdk("validate", str(path), "--backend", "openai").returncode == 0
    stats = _tunesdk("stats", str(path))
    assert stats.returncode == 0 and "12" in stats.stdout
    out = tmp_path / "together.jsonl"
    converted = _tunesdk("convert", str(path), "--to", "together", "-o", str(out))
    assert converted.returncode == 0, converted.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 12 and rows[0]["messages"][1]["content"] == "hello"


def test_a_file_wide_format_error_prints_its_fix_once(tmp_path: Path) -> None:
    path = tmp_path / "qa.csv"
    path.write_text("Question,Answer\n" + "".join(f"q{i},a{i}\n" for i in range(12)))
    done = _tunesdk("validate", str(path))
    assert done.returncode == 2
    assert done.stderr.count("--columns Question=prompt,Answer=completion") == 1
    assert done.stderr.count("match no known format") == 1 and "Traceback" not in done.stderr
