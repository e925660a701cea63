"""`tunesdk plan JOB -b axolotl -o FILE` and `--export DIR`: configs for running Axolotl yourself."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tunesdk.cli import app, main


def _job_file(tmp_path: Path) -> Path:
    data = tmp_path / "train.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}
        for i in range(12)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    job = tmp_path / "job.yaml"
    job.write_text(f"model: org/some-model\ndata: {data}\nmethod: {{kind: lora, r: 8}}\n")
    return job


def test_plan_output_writes_the_yaml_config(tmp_path: Path) -> None:
    target = tmp_path / "axolotl.yml"
    result = CliRunner().invoke(
        app, ["plan", str(_job_file(tmp_path)), "-b", "axolotl", "-o", str(target)]
    )
    assert result.exit_code == 0, result.output
    config = yaml.safe_load(target.read_text())
    assert config["base_model"] == "org/some-model"
    assert config["adapter"] == "lora" and config["lora_r"] == 8


def test_plan_export_writes_a_runnable_folder(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    result = CliRunner().invoke(
        app, ["plan", str(_job_file(tmp_path)), "-b", "axolotl", "--export", str(folder)]
    )
    assert result.exit_code == 0, result.output
    config_path = folder / "axolotl" / "axolotl.yml"
    config = yaml.safe_load(config_path.read_text())
    data_path = Path(config["datasets"][0]["path"])
    assert data_path.is_file() and data_path.is_relative_to(folder)
    assert len(data_path.read_text().splitlines()) == 12
    assert "<run folder>" not in config_path.read_text()


def test_export_is_refused_for_backends_without_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["plan", str(_job_file(tmp_path)), "-b", "simulated", "--export", str(tmp_path / "x")]
    monkeypatch.setattr(sys, "argv", ["tunesdk", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    assert "no runnable export" in capsys.readouterr().err


def test_backends_shows_the_install_extra_in_brackets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The fix text keeps its ``[axolotl]`` extra (rich markup would swallow it)."""
    monkeypatch.delenv("TUNESDK_AXOLOTL_COMMAND", raising=False)
    monkeypatch.setattr(sys, "argv", ["tunesdk", "backends"])
    monkeypatch.setenv("COLUMNS", "250")
    main()
    line = next(row for row in capsys.readouterr().out.splitlines() if "axolotl" in row)
    assert "tunesdk-axolotl[axolotl]" in line
