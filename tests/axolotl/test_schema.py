"""The generated configs against Axolotl's own schema.

``axolotl_schema_fields.json`` lists the field names of Axolotl 0.19.0's pydantic models
(AxolotlInputConfig, SFTDataset, DPODataset, FSDPConfig), read from the installed wheel. Axolotl
cannot be installed into tunesdk's environment (it pins transformers 5.16.1, trl 1.9.0, peft
0.20.0, ...), but installs into its own engine environment beside torch 2.13.0 (CPU), which
scripts/setup.sh builds; there (or in ``$TUNESDK_TEST_AXOLOTL_PYTHON``) every generated config,
the real runs' variants with the events plugin and the CPU kernel keys included, is also
validated by Axolotl's own ``validate_config``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

import tunesdk as ts
from tunesdk.testing import tiny_chat_data, tiny_preference_data
from tunesdk_axolotl import config as cfg
from tunesdk_axolotl import plugin_events
from tunesdk_axolotl.training import run_config

HERE = Path(__file__).parent
FIELDS = json.loads((HERE / "axolotl_schema_fields.json").read_text())


def _configs(model: str) -> list[dict[str, Any]]:
    """One config per method × objective, plus FSDP and DeepSpeed variants."""
    methods = [
        ts.Full(),
        ts.LoRA(),
        ts.QLoRA(),
        ts.QLoRA(bits=8),
        ts.LoRA(use_dora=True, use_rslora=True, target_modules=["q_proj"]),
    ]
    configs = []
    for data in (tiny_chat_data(4), tiny_preference_data(4)):
        for method in methods:
            job = ts.Job(
                model=model,
                data=data,
                method=method,
                eval_split=0.1,
                max_steps=3,
                n_checkpoints=2,
                report_to=["wandb", "tensorboard"],
                wandb_project="p",
                chat_template="chatml",
                resources={"mixed_precision": "bf16"},
            )
            configs.append(cfg.build(job, job.infer_objective(), Path("/runs/r")).config)
    for strategy in ("fsdp", "deepspeed"):
        job = ts.Job(
            model=model,
            data=tiny_chat_data(4),
            batch_size=8,
            micro_batch_size=2,
            resources={"processes": 2, "strategy": strategy},
        )
        configs.append(cfg.build(job, "sft", Path("/runs/r")).config)
    return configs


def test_fixture_names_its_source() -> None:
    assert FIELDS["_source"]["version"] == "0.19.0"
    assert "base_model" in FIELDS["AxolotlInputConfig"]


def test_every_generated_key_is_an_axolotl_field(tiny_model_path: Path) -> None:
    top = set(FIELDS["AxolotlInputConfig"])
    for config in _configs(str(tiny_model_path)):
        assert set(config) <= top, set(config) - top
        dataset_fields = set(FIELDS["DPODataset" if config.get("rl") else "SFTDataset"])
        for entry in config["datasets"]:
            assert set(entry) <= dataset_fields, set(entry) - dataset_fields
        if "fsdp_config" in config:
            assert set(config["fsdp_config"]) <= set(FIELDS["FSDPConfig"])


@pytest.mark.slow
def test_axolotl_validates_every_generated_config(
    tiny_model_path: Path, axolotl_python: str, tmp_path: Path
) -> None:
    plain = _configs(str(tiny_model_path))
    # what a real run trains with: the events plugin named, the LoRA kernels off on a CPU
    runs = [run_config(c, cuda=False) for c in plain]
    configs = plain + runs
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
    results = json.loads(line.removeprefix("RESULTS "))
    for config, result in zip(configs, results, strict=True):
        assert result["ok"], result.get("error")
        assert result["dropped"] == []
        validated = result["config"]
        for key, value in config.items():
            if key in ("datasets", "fsdp_config"):
                continue
            assert validated[key] == value, key
        for ours, theirs in zip(config["datasets"], validated["datasets"], strict=True):
            assert {k: theirs[k] for k in ours} == ours


CHECK_VALIDATE = """
import json, sys
from tunesdk.errors import JobError
from tunesdk_axolotl import schema
config = json.load(sys.stdin)
schema.validate(dict(config))
out = {}
for name, change in (("unknown", {"lora_rr": 8}), ("bad", {"lora_r": "abc"})):
    try:
        schema.validate({**config, **change})
        out[name] = None
    except JobError as exc:
        out[name] = str(exc)
print("RESULTS " + json.dumps(out))
"""


@pytest.mark.slow
def test_preflight_validation_runs_axolotls_own_checks(
    tiny_model_path: Path, axolotl_python: str
) -> None:
    python = axolotl_python
    root = HERE.parent.parent
    config = _configs(str(tiny_model_path))[2]  # SFT QLoRA
    done = subprocess.run(
        [python, "-c", CHECK_VALIDATE],
        input=json.dumps(config),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env={
            **os.environ,
            "PYTHONPATH": f"{root / 'src'}{os.pathsep}{root / 'backends/axolotl/src'}",
            "AXOLOTL_DO_NOT_TRACK": "1",
        },
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULTS "))
    out = json.loads(line.removeprefix("RESULTS "))
    assert "does not know the config key(s) lora_rr" in out["unknown"]
    assert "lora_r: Input should be a valid integer" in out["bad"]
