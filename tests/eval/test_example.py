"""examples/evaluation.py end to end: real TRL training of the tiny model, then every artefact."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "evaluation.py"


@pytest.mark.slow
def test_the_example_writes_the_plot_the_metric_table_and_the_page(tmp_path: Path) -> None:
    pytest.importorskip("tunesdk_trl")
    out = tmp_path / "eval_out"
    env = {**os.environ, "TUNESDK_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), str(out)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (out / "metrics.txt").read_text(encoding="utf-8")
    for metric in ("exact_match", "f1", "rouge1", "rouge2", "rougeL", "accuracy"):
        assert metric in table
    scores = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert scores["n"] == 16 and set(scores["aggregate"]) >= {"f1", "rougeL"}
    with open(out / "metrics.csv", newline="", encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == 16

    page = (out / "comparison" / "comparison.html").read_text(encoding="utf-8")
    assert page.count("<tr>") == 1 + 8  # header + one row per prompt
    assert "What does the owl say?" in page
    with open(out / "comparison" / "ratings.csv", newline="", encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == 8
    # the example trains for real: the tuned model must beat the random base on the task
    comparison = json.loads((out / "comparison" / "comparison.json").read_text(encoding="utf-8"))
    assert sum("says" in row["tuned"] for row in comparison["rows"]) >= 4
