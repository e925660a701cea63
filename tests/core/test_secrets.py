"""Secret-looking options never appear in a repr, str, plan, run file, log or error."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console
from rich.pretty import Pretty

import tunesdk as ts
from tunesdk.errors import JobError
from tunesdk.secrets import REDACTED, is_secret_key, redact, redact_tree

SECRET = "sk-canary-0123456789abcdef"


@pytest.mark.parametrize(
    "key",
    [
        "api_key",
        "apiKey",
        "API-KEY",
        "hf_api_token",
        "wandb_api_key",
        "client_secret",
        "password",
        "hftoken",
        "access_token",
        "key",
        "Authorization",
        "aws_secret_access_key",
    ],
)
def test_secret_looking_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["max_tokens", "tokenizer", "model", "n_epochs", "monkeypatch_x"])
def test_ordinary_keys(key: str) -> None:
    assert not is_secret_key(key)


def test_redact_reaches_every_depth_and_type() -> None:
    value = {"api_key": 12345, "nested": {"hf_token": SECRET, "list": [{"password": "x"}]}, "n": 1}
    assert redact_tree(value) == {
        "api_key": REDACTED,
        "nested": {"hf_token": REDACTED, "list": [{"password": REDACTED}]},
        "n": 1,
    }
    assert redact("api_key", "") == ""  # nothing set, nothing hidden
    assert value["api_key"] == 12345  # the original is untouched


def test_the_old_private_import_path_still_works() -> None:
    from tunesdk.backend import _redact

    assert _redact("api_key", SECRET) == REDACTED


def test_repr_str_and_rich_never_show_secret_options(make_job: Callable[..., ts.Job]) -> None:
    job = make_job(backend_options={"together": {"api_key": SECRET, "n_evals": 2}})
    buffer = io.StringIO()
    Console(file=buffer, width=200).print(Pretty(job))
    for text in (repr(job), str(job), f"{job!r}", buffer.getvalue()):
        assert SECRET not in text
        assert REDACTED in text
    assert "n_evals" in repr(job)
    assert job.backend_options["together"]["api_key"] == SECRET  # the job itself keeps it


def test_a_forgotten_backend_level_does_not_echo_the_key(tmp_path: Path, data_file: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(f"model: m\ndata: {data_file}\nbackend_options: {{api_key: {SECRET}}}\n")
    with pytest.raises(JobError) as info:
        ts.Job.from_yaml(path)
    text = str(info.value) + repr(info.value)
    assert SECRET not in text
    assert "api_key" in text and "under a backend name" in text


@pytest.mark.parametrize(
    "options",
    [{"together": SECRET}, {"together": {"api_key": {"nested": SECRET}}, "openai": [SECRET]}],
)
def test_no_backend_option_value_is_echoed_in_errors(
    data_file: Path, options: dict[str, object]
) -> None:
    with pytest.raises(JobError) as info:
        ts.Job.from_dict({"model": "m", "data": str(data_file), "backend_options": options})
    assert SECRET not in str(info.value)


def test_a_secret_in_a_bad_field_is_not_echoed(data_file: Path) -> None:
    # a type error under a secret-looking key path names the field, not the value
    with pytest.raises(JobError) as info:
        ts.ModelRef.parse({"name": "m", "ids": {"api_key": ["sk", SECRET]}})
    assert SECRET not in str(info.value)


def test_submitted_run_files_and_events_hold_no_secret(make_job: Callable[..., ts.Job]) -> None:
    job = make_job(backend_options={"simulated": {"api_key": SECRET, "step_seconds": 0.0}})
    result = job.run("simulated")
    for path in result.run_dir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in job.plan("simulated").render()


def test_plans_never_hold_a_credential_in_their_native_request(
    make_job: Callable[..., ts.Job],
) -> None:
    from tunesdk.backend import NativeRequest, PlanBuilder

    builder = PlanBuilder(make_job(), "simulated", "local")
    builder.native = {
        "config": {"hub_token": SECRET, "pad_token": "<pad>", "max_tokens": 5},
        "wandb_key": "<from $WANDB_API_KEY>",
    }
    builder.requests = [NativeRequest(method="POST", path="/jobs", body={"api_key": SECRET})]
    plan = builder.build()
    assert SECRET not in plan.model_dump_json() and SECRET not in plan.native_text()
    assert plan.native["config"] == {"hub_token": REDACTED, "pad_token": "<pad>", "max_tokens": 5}
    assert plan.native["wandb_key"] == "<from $WANDB_API_KEY>"  # a placeholder holds no secret


def test_repr_summarises_long_in_memory_data() -> None:
    rows = [{"messages": [{"role": "user", "content": "x" * 50}]}] * 1000
    job = ts.Job(model="m", data=rows)
    assert "data=<1000 records>" in repr(job)
    assert len(repr(job)) < 2_000
