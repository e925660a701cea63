"""KTO and ORPO on Axolotl (``rl: kto`` / ``rl: orpo``) and GRPO refused in the plan.

The configs are checked against Axolotl 0.19.0's field names (axolotl_schema_fields.json) here,
and against Axolotl's own ``validate_config`` where its engine environment exists; the data files
are checked against the row shapes Axolotl's KTO (user_defined) and ORPO (chat_template.argilla)
loaders read.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

import tunesdk as ts
from tunesdk.errors import JobError
from tunesdk.testing import tiny_preference_data
from tunesdk_axolotl import config as cfg
from tunesdk_axolotl import plugin_events
from tunesdk_axolotl.training import run_config

HERE = Path(__file__).parent
FIELDS = json.loads((HERE / "axolotl_schema_fields.json").read_text())
#: Axolotl 0.19.0's UserDefinedKTOType / KTODataset (utils/schemas/datasets.py)
KTO_TYPE_FIELDS = {
    "field_system",
    "field_prompt",
    "field_completion",
    "field_label",
    "prompt_format",
    "completion_format",
}


def _kto_rows(n: int = 8) -> list[dict[str, Any]]:
    return [
        {"prompt": f"Say {i}", "completion": str(i) if i % 2 else "no", "label": bool(i % 2)}
        for i in range(n)
    ]


def _job(model: str, objective: str, **fields: Any) -> ts.Job:
    data = _kto_rows() if objective == "kto" else tiny_preference_data(8)
    return ts.Job(model=model, data=data, objective=objective, max_steps=2, **fields)


@pytest.mark.parametrize("objective", ["kto", "orpo"])
def test_config_keys_are_axolotl_fields(tiny_model_path: Path, objective: str) -> None:
    job = _job(str(tiny_model_path), objective, beta=0.2)
    config = cfg.build(job, objective, Path("/runs/r")).config
    assert set(config) <= set(FIELDS["AxolotlInputConfig"]), set(config) - set(
        FIELDS["AxolotlInputConfig"]
    )
    assert config["rl"] == objective
    [entry] = config["datasets"]
    assert set(entry) <= set(FIELDS["DPODataset"])  # KTODataset's keys are a subset too
    if objective == "kto":
        assert config["rl_beta"] == 0.2
        assert set(entry["type"]) <= KTO_TYPE_FIELDS
    else:
        assert config["orpo_alpha"] == 0.2 and "rl_beta" not in config
        assert entry["type"] == "chat_template.argilla"


def test_plan_maps_the_objective_and_beta(tiny_model_path: Path) -> None:
    plan = _job(str(tiny_model_path), "orpo").plan("axolotl")
    assert plan.native["rl"] == "orpo"
    assert plan.row("beta").native == "orpo_alpha"
    assert _job(str(tiny_model_path), "kto").plan("axolotl").row("objective").native_value == "kto"


def test_data_is_written_in_the_shapes_axolotl_reads(tiny_model_path: Path, tmp_path: Path) -> None:
    kto = cfg.write(_job(str(tiny_model_path), "kto"), "kto", tmp_path / "kto").parent
    rows = [json.loads(x) for x in (kto / cfg.TRAIN_FILE).read_text().splitlines()]
    assert rows[1] == {"prompt": "Say 1", "completion": "1", "label": True}
    assert rows[0]["label"] is False

    orpo = cfg.write(_job(str(tiny_model_path), "orpo"), "orpo", tmp_path / "orpo").parent
    row = json.loads((orpo / cfg.TRAIN_FILE).read_text().splitlines()[0])
    pair = tiny_preference_data(8)[0]
    assert [m["role"] for m in row["chosen"]] == ["user", "assistant"]
    assert row["chosen"][-1]["content"] != row["rejected"][-1]["content"]
    assert row["chosen"][0]["content"] == row["rejected"][0]["content"]
    assert json.dumps(pair).count(row["chosen"][-1]["content"][:10]) >= 1


def test_grpo_is_refused_in_the_plan_with_the_reason(tiny_model_path: Path) -> None:
    job = ts.Job(
        model=str(tiny_model_path),
        data=[{"prompt": "hi", "answer": "x"}] * 4,
        objective="grpo",
        rewards=["tests.axolotl.test_rl_configs:_kto_rows"],
    )
    with pytest.raises(JobError) as caught:
        job.plan("axolotl")
    assert "vLLM" in str(caught.value) and "trl backend" in str(caught.value)


@pytest.mark.slow
def test_axolotl_validates_the_kto_and_orpo_configs(
    tiny_model_path: Path, axolotl_python: str, tmp_path: Path
) -> None:
    plain = [
        cfg.build(_job(str(tiny_model_path), o), o, Path("/runs/r")).config for o in ("kto", "orpo")
    ]
    configs = plain + [run_config(c, cuda=False) for c in plain]
    plugin_dir, _ = plugin_events.install(tmp_path)
    done = subprocess.run(
        [axolotl_python, str(HERE / "validate_with_axolotl.py")],
        input=json.dumps(configs),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env={**os.environ, "PYTHONPATH": str(plugin_dir), "AXOLOTL_DO_NOT_TRACK": "1"},
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULTS "))
    for config, result in zip(configs, json.loads(line.removeprefix("RESULTS ")), strict=True):
        assert result["ok"], result.get("error")
        assert result["dropped"] == []
        assert result["config"]["rl"] == config["rl"]
