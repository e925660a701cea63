"""Plans: the exact OpenAI request for a Job and the fate of every option (no network)."""

from __future__ import annotations

import pytest

from tunesdk.errors import JobError, UnsupportedOption
from tunesdk.job import Job, ModelRef
from tunesdk.registry import get_backend

MODEL = "gpt-4.1-mini-2025-04-14"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    # plans are pure: no key needed, and a base URL nobody listens on
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    for name in ("AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION"):
        monkeypatch.delenv(name, raising=False)


def _plan(job):
    """The plan from the backend registered under the "openai" entry point."""
    return get_backend("openai").plan(job)


def _job(samples, **fields):
    return Job(**({"model": MODEL, "data": samples.chat(), "objective": "sft"} | fields))


def test_sft_request_is_exactly_what_openai_receives(samples):
    plan = _plan(_job(samples, epochs=3, batch_size=16, seed=7, suffix="support-bot"))
    assert plan.native["job"] == {
        "model": MODEL,
        "training_file": "<file id of train.jsonl>",
        "method": {
            "type": "supervised",
            "supervised": {"hyperparameters": {"n_epochs": 3, "batch_size": 16}},
        },
        "seed": 7,
        "metadata": {"tunesdk_run_id": "<run id>"},
        "suffix": "support-bot",
    }
    assert [(r.method, r.path) for r in plan.requests] == [
        ("POST", "/v1/files"),
        ("POST", "/v1/fine_tuning/jobs"),
    ]
    assert plan.row("epochs").native == "method.supervised.hyperparameters.n_epochs"
    assert plan.row("suffix").status == "mapped"
    assert any("2027-01-06" in note for note in plan.notes)


def test_dpo_is_inferred_from_preference_data_and_maps_beta(samples):
    plan = _plan(Job(model=MODEL, data=samples.dpo(), beta=0.3, eval_split=0.2))
    assert plan.objective == "dpo"
    job = plan.native["job"]
    assert job["method"] == {
        "type": "dpo",
        "dpo": {"hyperparameters": {"n_epochs": 1, "batch_size": 8, "beta": 0.3}},
    }
    assert job["validation_file"] == "<file id of eval.jsonl>"
    assert plan.row("beta").native == "method.dpo.hyperparameters.beta"
    assert plan.row("eval_split").status == "mapped"


def test_learning_rate_is_dropped_not_converted(samples):
    plan = _plan(_job(samples, learning_rate=1e-4))
    row = plan.row("learning_rate")
    assert row.status == "dropped" and row.user_set
    assert "learning_rate_multiplier" in (row.reason or "")
    assert "learning_rate_multiplier" not in str(plan.native)
    with pytest.raises(UnsupportedOption) as caught:
        _plan(_job(samples, learning_rate=1e-4, strict=True))
    assert "learning_rate" in caught.value.options


def test_backend_options_set_native_hyperparameters_visibly(samples):
    options = {"openai": {"learning_rate_multiplier": 0.5, "n_epochs": "auto"}}
    plan = _plan(_job(samples, backend_options=options))
    hyper = plan.native["job"]["method"]["supervised"]["hyperparameters"]
    assert hyper == {"n_epochs": "auto", "batch_size": 8, "learning_rate_multiplier": 0.5}
    assert plan.row("backend_options.learning_rate_multiplier").status == "mapped"
    assert "overrides" in (plan.row("epochs").reason or "")


def test_every_option_has_a_specific_fate(samples):
    plan = _plan(_job(samples, eval_data=samples.chat(10), report_to=["tensorboard"]))
    generic = [r.option for r in plan.rows if r.reason == "openai has no equivalent"]
    assert generic == []
    assert plan.row("report_to").status == "dropped"
    assert plan.row("method.r").status == "dropped"
    assert plan.row("max_seq_length").reason and "65536" in plan.row("max_seq_length").reason


def test_wandb_integration(samples):
    plan = _plan(_job(samples, report_to=["wandb"], wandb_project="ft", name="exp-1"))
    assert plan.native["job"]["integrations"] == [
        {"type": "wandb", "wandb": {"project": "ft", "name": "exp-1"}}
    ]
    assert plan.native["job"]["metadata"]["tunesdk_job_name"] == "exp-1"
    with pytest.raises(JobError, match="wandb_project"):
        _plan(_job(samples, report_to=["wandb"]))


def test_unknown_base_model_is_rejected_at_plan_time(samples):
    with pytest.raises(JobError) as caught:
        _plan(_job(samples, model="Qwen/Qwen2.5-0.5B-Instruct"))
    assert "Qwen/Qwen2.5-0.5B-Instruct" in str(caught.value)
    assert "gpt-4o-mini-2024-07-18" in (caught.value.fix or "")


def test_model_ref_and_compatible_servers(samples):
    ref = ModelRef(name="Qwen/Qwen2.5-0.5B-Instruct", ids={"openai": "gpt-4o-mini"})
    assert _plan(_job(samples, model=ref)).native["job"]["model"] == "gpt-4o-mini"
    options = {"openai": {"base_url": "http://localhost:8000/v1", "check_model": False}}
    plan = _plan(_job(samples, model="Qwen/Qwen2.5-0.5B-Instruct", backend_options=options))
    assert plan.native["job"]["model"] == "Qwen/Qwen2.5-0.5B-Instruct"
    assert "server's" in (plan.row("max_seq_length").reason or "")


def test_dpo_on_a_model_without_dpo(samples):
    with pytest.raises(JobError, match="sft only"):
        _plan(Job(model="gpt-3.5-turbo-0125", data=samples.dpo(), objective="dpo"))


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"batch_size": 512}, "job.batch_size"),
        ({"seed": -3}, "job.seed"),
        ({"objective": "dpo", "data": None, "beta": 3.0}, "job.beta"),
        (
            {"backend_options": {"openai": {"learning_rate_multiplier": 0}}},
            "learning_rate_multiplier",
        ),
        ({"backend_options": {"openai": {"base_ur": "x"}}}, "base_ur"),
    ],
)
def test_out_of_range_values_are_job_errors_naming_the_field(samples, fields, where):
    if fields.get("data", "") is None:
        fields = fields | {"data": samples.dpo()}
    with pytest.raises(JobError) as caught:
        _plan(_job(samples, **fields))
    assert where in (caught.value.where or "")


def test_unknown_backend_option_suggests_the_close_one(samples):
    with pytest.raises(JobError) as caught:
        _plan(_job(samples, backend_options={"openai": {"base_ur": "x"}}))
    assert "did you mean 'base_url'" in (caught.value.fix or "")


def test_azure_needs_an_api_version(samples):
    options = {"openai": {"azure_endpoint": "https://example.openai.azure.com"}}
    with pytest.raises(JobError, match="API version"):
        _plan(_job(samples, backend_options=options))
    options["openai"]["api_version"] = "2025-04-01-preview"
    assert _plan(_job(samples, backend_options=options)).backend == "openai"


def test_api_key_in_backend_options_is_redacted_in_the_plan(samples):
    secret = "sk-very-secret-value-123456"
    plan = _plan(_job(samples, backend_options={"openai": {"api_key": secret}}))
    assert secret not in plan.model_dump_json()
