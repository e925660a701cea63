"""Job -> Fireworks plan: the exact create body, units, and every option's fate (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesdk.backend import Plan
from tunesdk.errors import JobError, UnsupportedOption
from tunesdk.job import Job, ModelRef
from tunesdk.methods import Full, LoRA, PrefixTuning, QLoRA
from tunesdk_fireworks.backend import FireworksBackend
from tunesdk_fireworks.plan import RunNames, build_request

QWEN = "accounts/fireworks/models/qwen2p5-7b-instruct"


@pytest.fixture(autouse=True)
def no_fireworks_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FIREWORKS_ACCOUNT_ID", "FIREWORKS_API_KEY", "FIREWORKS_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)


@pytest.fixture
def data(tmp_path: Path, samples) -> Path:
    return samples.write(tmp_path / "train.jsonl", samples.chat(20))


@pytest.fixture
def prefs(tmp_path: Path, samples) -> Path:
    return samples.write(tmp_path / "prefs.jsonl", samples.dpo(10))


def plan(job: Job) -> Plan:
    return FireworksBackend().plan(job)


def test_sft_body_is_the_rest_request(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIREWORKS_ACCOUNT_ID", "acme")
    job = Job(model="Qwen/Qwen2.5-7B-Instruct", data=str(data), epochs=3, learning_rate=1e-4)
    result = plan(job)
    assert result.native == {
        "displayName": "tunesdk {run_id}",
        "dataset": "accounts/acme/datasets/{run_id}-train",
        "baseModel": QWEN,
        "outputModel": "tunesdk-{run_id}",
        "loraRank": 16,
        "epochs": 3,
        "learningRate": 1e-4,
        "maxContextLength": 2048,
    }
    calls = [(r.method, r.path) for r in result.requests]
    assert calls == [
        ("POST", "/v1/accounts/acme/datasets"),
        ("POST", "/v1/accounts/acme/datasets/{run_id}-train:upload"),
        ("POST", "/v1/accounts/acme/supervisedFineTuningJobs?supervisedFineTuningJobId={run_id}"),
        ("GET", "/v1/accounts/acme/supervisedFineTuningJobs/{run_id}"),
    ]
    assert result.row("learning_rate").status == "mapped"
    assert result.row("method.r").native == "loraRank"


def test_batch_size_counts_examples_not_tokens(data: Path) -> None:
    unset = plan(Job(model="Qwen/Qwen2.5-7B-Instruct", data=str(data)))
    assert "batchSizeSamples" not in unset.native and "batchSize" not in unset.native
    assert unset.row("batch_size").status == "defaulted"

    given = plan(Job(model="Qwen/Qwen2.5-7B-Instruct", data=str(data), batch_size=4))
    assert given.native["batchSizeSamples"] == 4
    assert "batchSize" not in given.native  # Fireworks' batchSize is tokens per packed batch
    assert given.row("batch_size").native == "batchSizeSamples"


def test_warmup_ratio_becomes_steps(data: Path) -> None:
    # 20 examples, 25% held out -> 15 train; batch 4 -> 4 steps/epoch; 2 epochs -> 8 steps
    job = Job(
        model="Qwen/Qwen2.5-7B-Instruct",
        data=str(data),
        eval_split=0.25,
        batch_size=4,
        epochs=2,
        warmup_ratio=0.25,
    )
    result = plan(job)
    assert result.native["learningRateWarmupSteps"] == 2
    assert result.native["batchSizeSamples"] == 4
    eval_name = "accounts/{FIREWORKS_ACCOUNT_ID}/datasets/{run_id}-eval"
    assert result.native["evaluationDataset"] == eval_name
    assert "8 steps" in (result.row("warmup_ratio").reason or "")


def test_suffix_names_the_output_model_with_the_run_id(data: Path) -> None:
    job = Job(model="Qwen/Qwen2.5-7B-Instruct", data=str(data), suffix="Support Bot v2")
    assert plan(job).native["outputModel"] == "support-bot-v2-{run_id}"
    names = RunNames("acme", "fireworks-20261129-031500-abc123")
    request = build_request(job, names)
    assert request.body["outputModel"] == "support-bot-v2-fireworks-20261129-031500-abc123"
    assert request.job_id == "fireworks-20261129-031500-abc123"
    long = build_request(job.model_copy(update={"suffix": "x" * 40}), names)
    assert len(long.body["outputModel"]) <= 63
    assert long.body["outputModel"].endswith(names.run_id)


def test_dpo_nests_training_config_and_asks_for_dpo_loss(prefs: Path) -> None:
    job = Job(model="meta-llama/Llama-3.1-8B-Instruct", data=str(prefs), beta=0.2, eval_split=0.3)
    result = plan(job)
    assert result.objective == "dpo"
    assert result.native["lossConfig"] == {"method": "DPO", "dpo": {"beta": 0.2}}
    config = result.native["trainingConfig"]
    assert config["baseModel"] == "accounts/fireworks/models/llama-v3p1-8b-instruct"
    assert config["loraRank"] == 16
    assert "baseModel" not in result.native
    assert "evaluationDataset" not in result.native
    assert result.row("eval_split").status == "dropped"
    assert "/dpoJobs?dpoJobId={run_id}" in result.requests[-2].path


def test_dpo_beta_must_be_below_one_half(prefs: Path) -> None:
    with pytest.raises(JobError, match=r"below 0\.5"):
        plan(Job(model="Qwen/Qwen2.5-7B-Instruct", data=str(prefs), beta=0.5))


def test_unknown_base_model_is_an_error_at_plan_time(data: Path) -> None:
    with pytest.raises(JobError) as unknown:
        plan(Job(model="Qwen/Qwen2.5-0.5B-Instruct", data=str(data)))
    assert "Fireworks has no known model for 'Qwen/Qwen2.5-0.5B-Instruct'" in str(unknown.value)
    assert "meta-llama/Llama-3.1-8B-Instruct" in str(unknown.value.fix)


def test_native_names_and_model_refs_pass_through(data: Path) -> None:
    own = plan(Job(model="accounts/acme/models/my-base", data=str(data)))
    assert own.native["baseModel"] == "accounts/acme/models/my-base"
    short = plan(Job(model="llama-v3p2-3b-instruct", data=str(data)))
    assert short.native["baseModel"] == "accounts/fireworks/models/llama-v3p2-3b-instruct"
    ref = ModelRef(name="some/hf-model", ids={"fireworks": "accounts/acme/models/custom"})
    assert plan(Job(model=ref, data=str(data))).native["baseModel"] == "accounts/acme/models/custom"


@pytest.mark.parametrize(
    ("method", "message"),
    [
        (Full(), "LoRA adapters only"),
        (PrefixTuning(), "LoRA adapters only"),
        (LoRA(r=128), "ranks 4-64"),
        (LoRA(r=2), "ranks 4-64"),
    ],
)
def test_methods_fireworks_cannot_train(data: Path, method: object, message: str) -> None:
    with pytest.raises(JobError, match=message):
        plan(Job(model="Qwen/Qwen2.5-7B-Instruct", data=str(data), method=method))


def test_context_longer_than_the_model_is_refused(data: Path) -> None:
    with pytest.raises(JobError, match="8192"):
        plan(Job(model="google/gemma-2-9b-it", data=str(data), max_seq_length=16384))


def test_unsupported_options_warn_or_fail_in_strict_mode(data: Path) -> None:
    job = Job(model="Qwen/Qwen2.5-7B-Instruct", data=str(data), seed=7, lr_scheduler="cosine")
    result = plan(job)
    assert {r.option for r in result.dropped} == {"seed", "lr_scheduler"}
    assert result.row("max_grad_norm").status == "defaulted"  # not set by the user
    with pytest.raises(UnsupportedOption) as strict:
        plan(job.model_copy(update={"strict": True}))
    assert set(strict.value.options) == {"seed", "lr_scheduler"}
    qlora = plan(Job(model="Qwen/Qwen2.5-7B-Instruct", data=str(data), method=QLoRA(r=8)))
    assert qlora.row("method").status == "dropped"
    assert qlora.native["loraRank"] == 8


def test_wandb_key_is_sent_but_never_planned(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", "wandb-secret-123")
    job = Job(
        model="Qwen/Qwen2.5-7B-Instruct", data=str(data), report_to=["wandb"], wandb_project="ft"
    )
    result = plan(job)
    assert result.native["wandbConfig"] == {"enabled": True, "project": "ft", "apiKey": "***"}
    assert "wandb-secret-123" not in result.model_dump_json()
    request = build_request(job, RunNames("acme", "run-1"))
    assert request.body["wandbConfig"]["apiKey"] == "wandb-secret-123"


def test_backend_options_pass_through_visibly(prefs: Path, data: Path) -> None:
    options = {"fireworks": {"api_key": "fw-secret", "batchSize": 65536, "earlyStop": True}}
    sft = plan(Job(model="Qwen/Qwen2.5-7B-Instruct", data=str(data), backend_options=options))
    assert sft.native["batchSize"] == 65536 and sft.native["earlyStop"] is True
    assert "api_key" not in sft.native
    assert sft.row("backend_options.api_key").value == "***"
    assert "fw-secret" not in sft.model_dump_json()
    dpo = plan(Job(model="Qwen/Qwen2.5-7B-Instruct", data=str(prefs), backend_options=options))
    assert dpo.native["trainingConfig"]["batchSize"] == 65536
    assert dpo.native["earlyStop"] is True
