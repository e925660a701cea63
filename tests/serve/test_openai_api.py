"""The OpenAI-compatible API of ``tunesdk serve`` driven by the official ``openai`` SDK, unchanged:
files, uploads, jobs (on the ``simulated`` backend: a real worker process, no torch), events,
checkpoints, cancel, pause/resume, chat; errors in OpenAI's shape; keys and ownership; limits."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tunesdk.testing import tiny_chat_data

CHAT = "".join(json.dumps(row) + "\n" for row in tiny_chat_data(8)).encode()
FINISHED = ("succeeded", "failed", "cancelled")


def wait_for(client: Any, job_id: str, statuses: tuple[str, ...] = FINISHED) -> Any:
    deadline = time.monotonic() + 60
    while True:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in statuses:
            return job
        assert time.monotonic() < deadline, f"job {job_id} stayed {job.status}"
        time.sleep(0.05)


def sim_job(client: Any, file_id: str, **extra: Any) -> Any:
    """A job on the simulated backend (chosen by the model prefix)."""
    options = extra.pop("tunesdk", {"max_steps": 4})
    return client.fine_tuning.jobs.create(
        model="simulated:tiny-base",
        training_file=file_id,
        extra_body={"tunesdk": options},
        **extra,
    )


# ---- files and uploads --------------------------------------------------------------------------


def test_files_round_trip_and_a_client_path_is_only_a_name(server: Any) -> None:
    client = server.openai()
    created = client.files.create(file=("../../etc/passwd.jsonl", CHAT), purpose="fine-tune")
    assert created.id.startswith("file-") and created.bytes == len(CHAT)
    assert created.filename == "passwd.jsonl" and created.purpose == "fine-tune"
    # stored under the generated id, nowhere else
    folders = [p.name for p in server.ctx.files_dir.iterdir()]
    assert folders == [created.id]
    assert not (server.ctx.serve_dir.parent / "etc").exists()
    assert client.files.retrieve(created.id).id == created.id
    assert [f.id for f in client.files.list()] == [created.id]
    assert client.files.content(created.id).read() == CHAT
    assert client.files.delete(created.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created.id)
    assert list(server.ctx.files_dir.iterdir()) == []


def test_uploads_api_joins_parts_in_order(server: Any, tmp_path: Path, spec_recorder: Any) -> None:
    client = server.openai(http_client=spec_recorder.http_client())
    source = tmp_path / "big.jsonl"
    source.write_bytes(CHAT * 40)
    upload = client.uploads.upload_file_chunked(
        file=source, mime_type="text/jsonl", purpose="fine-tune", part_size=1000
    )
    assert upload.status == "completed" and upload.file is not None
    assert client.files.content(upload.file.id).read() == CHAT * 40
    # cancel and a wrong total
    pending = client.uploads.create(
        filename="x.jsonl", purpose="fine-tune", bytes=10, mime_type="text/jsonl"
    )
    part = client.uploads.parts.create(upload_id=pending.id, data=b"12345")
    with pytest.raises(openai.BadRequestError) as wrong:
        client.uploads.complete(upload_id=pending.id, part_ids=[part.id])
    assert wrong.value.body["param"] == "part_ids"  # type: ignore[index]
    assert client.uploads.cancel(upload_id=pending.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        client.uploads.parts.create(upload_id=pending.id, data=b"more")
    client.files.list()
    client.files.retrieve(upload.file.id)
    client.files.delete(upload.file.id)
    problems = spec_recorder.problems()
    assert problems == [], "\n".join(problems)
    assert len(spec_recorder.seen) >= 12


def test_bad_file_requests_name_the_field(server: Any) -> None:
    client = server.openai()
    with pytest.raises(openai.BadRequestError) as purpose:
        client.files.create(file=("a.jsonl", CHAT), purpose="nonsense")  # type: ignore[arg-type]
    assert purpose.value.body["param"] == "purpose"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as extension:
        client.files.create(file=("a.csv", CHAT), purpose="fine-tune")
    assert extension.value.body["param"] == "file"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as mime:
        client.uploads.create(
            filename="a.jsonl", purpose="fine-tune", bytes=5, mime_type="image/png"
        )
    assert mime.value.body["param"] == "mime_type"  # type: ignore[index]
    for missing in ("file-" + "0" * 24, "../../etc/passwd", "file-xyz"):
        with pytest.raises(openai.NotFoundError):
            client.files.retrieve(missing)
    with pytest.raises(openai.NotFoundError):
        client.uploads.cancel(upload_id="upload_" + "0" * 24)


def test_oversized_file_and_upload_are_refused_with_413(start_server: Callable[..., Any]) -> None:
    server = start_server(max_file_bytes=4096, max_upload_bytes=10_000, max_part_bytes=2048)
    client = server.openai()
    with pytest.raises(openai.APIStatusError) as big:
        client.files.create(file=("big.jsonl", b"x" * 10_000), purpose="fine-tune")
    assert big.value.status_code == 413 and "4096 bytes" in big.value.message
    with pytest.raises(openai.APIStatusError) as upload:
        client.uploads.create(
            filename="big.jsonl", purpose="fine-tune", bytes=20_000, mime_type="text/jsonl"
        )
    assert upload.value.status_code == 413
    assert upload.value.body["param"] == "bytes"  # type: ignore[index]
    pending = client.uploads.create(
        filename="big.jsonl", purpose="fine-tune", bytes=5000, mime_type="text/jsonl"
    )
    with pytest.raises(openai.APIStatusError) as part:
        client.uploads.parts.create(upload_id=pending.id, data=b"x" * 5000)
    assert part.value.status_code == 413

    # a chunked body (no Content-Length) is counted as it streams in and cut off at the limit
    def chunks() -> Any:
        yield (
            b'--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n'
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n'
        )
        for _ in range(10):
            yield b"y" * 1000
        yield b"\r\n--b--\r\n"

    with server.http() as http:
        answer = http.post(
            "/v1/files",
            content=chunks(),
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "request_too_large"
    assert list(server.ctx.files_dir.iterdir()) == []


# ---- jobs ---------------------------------------------------------------------------------------


def test_a_whole_simulated_job_through_the_sdk(server: Any, spec_recorder: Any) -> None:
    client = server.openai(http_client=spec_recorder.http_client())
    training = client.files.create(file=("train.jsonl", CHAT), purpose="fine-tune")
    job = sim_job(
        client,
        training.id,
        seed=7,
        suffix="demo",
        metadata={"team": "a"},
        method={
            "type": "supervised",
            "supervised": {"hyperparameters": {"n_epochs": 2, "learning_rate_multiplier": 0.5}},
        },
        integrations=[{"type": "wandb", "wandb": {"project": "p", "entity": "e"}}],
        tunesdk={"max_steps": 4, "n_checkpoints": 2},
    )
    assert job.id.startswith("simulated-") and job.object == "fine_tuning.job"
    assert job.seed == 7 and job.user_provided_suffix == "demo" and job.metadata == {"team": "a"}
    assert job.hyperparameters.n_epochs == 2
    assert job.hyperparameters.learning_rate_multiplier == 0.5
    # the run is an ordinary run: Run.attach sees the same id, the learning rate is relative
    import tunesdk as ts

    run = ts.Run.attach(job.id)
    assert run.record.job.learning_rate == pytest.approx(1e-4)  # 0.5 × LoRA's 2e-4
    done = wait_for(client, job.id)
    assert done.status == "succeeded", done.error
    assert done.fine_tuned_model and done.fine_tuned_model.startswith("local:")
    assert done.finished_at is not None and done.finished_at >= done.created_at
    (results,) = done.result_files  # OpenAI's per-step metrics file, as a file of the caller's
    csv = client.files.content(results).read().decode().splitlines()
    assert csv[0] == "step,train_loss,valid_loss,learning_rate" and len(csv) == 5
    assert client.files.retrieve(results).purpose == "fine-tune-results"
    assert client.fine_tuning.jobs.retrieve(job.id).result_files == [results]  # made once
    assert done.trained_tokens and done.trained_tokens > 0  # estimated: simulated reports none
    events = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
    assert events[0].message == "The job has successfully completed"  # newest first
    metrics = [e for e in events if e.type == "metrics"]
    assert metrics and all("step" in (e.data or {}) for e in metrics)
    warnings = [e.message for e in events if e.level == "warn"]
    assert any("entity" in w for w in warnings), warnings  # every dropped option is an event
    assert any("dropped" in w or "ignored" in w or "not" in w for w in warnings)
    # the after cursor pages without repeats
    first = client.fine_tuning.jobs.list_events(job.id, limit=2)
    rest = client.fine_tuning.jobs.list_events(job.id, limit=100, after=first.data[-1].id)
    assert [e.id for e in first.data] + [e.id for e in rest.data] == [e.id for e in events]
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id)
    assert checkpoints.data and checkpoints.data[0].fine_tuning_job_id == job.id
    assert checkpoints.data[0].step_number >= checkpoints.data[-1].step_number
    assert [j.id for j in client.fine_tuning.jobs.list()] == [job.id]
    reply = client.chat.completions.create(
        model=done.fine_tuned_model, messages=[{"role": "user", "content": "hello there"}]
    )
    assert reply.object == "chat.completion" and "hello there" in reply.choices[0].message.content
    assert reply.usage is None  # the simulated engine counts no tokens: none made up
    streamed = client.chat.completions.create(
        model=done.fine_tuned_model, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = list(streamed)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == reply.choices[
        0
    ].message.content.replace("hello there", "hi")
    assert chunks[-1].choices[0].finish_reason == "stop"
    for setting in ({"n": 2}, {"stop": "x"}):  # its chat() answers one choice, knows no stop
        with pytest.raises(openai.BadRequestError) as unsupported:
            client.chat.completions.create(
                model=done.fine_tuned_model, messages=[{"role": "user", "content": "hi"}], **setting
            )
        assert unsupported.value.body["param"] == next(iter(setting))  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as pause:
        client.fine_tuning.jobs.pause(job.id)
    assert "simulated backend" in pause.value.message
    problems = spec_recorder.problems()
    assert problems == [], "\n".join(problems)
    assert len(spec_recorder.seen) >= 12


def test_cancel_stops_a_running_job(server: Any) -> None:
    client = server.openai()
    training = client.files.create(file=("train.jsonl", CHAT), purpose="fine-tune")
    job = sim_job(client, training.id, tunesdk={"max_steps": 100_000})
    wait_for(client, job.id, ("running",))
    client.fine_tuning.jobs.cancel(job.id)
    assert wait_for(client, job.id).status == "cancelled"
    assert any("cancelled" in e.message for e in client.fine_tuning.jobs.list_events(job.id))
    with pytest.raises(openai.BadRequestError, match="already cancelled"):
        client.fine_tuning.jobs.cancel(job.id)
    with pytest.raises(openai.BadRequestError, match="cannot resume"):
        client.fine_tuning.jobs.resume(job.id)


def test_list_jobs_pages_newest_first_with_after(server: Any) -> None:
    client = server.openai()
    training = client.files.create(file=("train.jsonl", CHAT), purpose="fine-tune")
    ids = [sim_job(client, training.id, metadata={"n": str(i)}).id for i in range(3)]
    first = client.fine_tuning.jobs.list(limit=2)
    assert [j.id for j in first.data] == ids[::-1][:2] and first.has_more
    second = client.fine_tuning.jobs.list(limit=2, after=first.data[-1].id)
    assert [j.id for j in second.data] == [ids[0]] and not second.has_more
    assert [j.id for j in client.fine_tuning.jobs.list(metadata={"n": "1"})] == [ids[1]]
    # OpenAI lets a file go at any time: the jobs still read their data
    client.files.delete(training.id)
    import tunesdk as ts

    for job_id in ids:
        assert Path(ts.Run.attach(job_id).record.job.data).is_file()
    for job_id in ids:
        assert wait_for(client, job_id).status == "succeeded"


def test_bad_job_bodies_name_the_field(server: Any) -> None:
    client = server.openai()
    training = client.files.create(file=("train.jsonl", CHAT), purpose="fine-tune")
    other = client.files.create(file=("notes.jsonl", CHAT), purpose="assistants")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"training_file": training.id}, "model"),
        ({"model": "simulated:m"}, "training_file"),
        ({"model": "simulated:m", "training_file": "file-" + "0" * 24}, "training_file"),
        ({"model": "simulated:m", "training_file": other.id}, "training_file"),
        (
            {"model": "simulated:m", "training_file": training.id, "method": {"type": "ppo"}},
            "method.type",
        ),
        (
            {
                "model": "simulated:m",
                "training_file": training.id,
                "method": {
                    "type": "supervised",
                    "supervised": {"hyperparameters": {"n_epochs": 0}},
                },
            },
            "method.supervised.hyperparameters.n_epochs",
        ),
        (
            {
                "model": "simulated:m",
                "training_file": training.id,
                "method": {"type": "dpo", "dpo": {"hyperparameters": {"beta": "high"}}},
            },
            "method.dpo.hyperparameters.beta",
        ),
        (
            {"model": "simulated:m", "training_file": training.id, "hyperparameters": {"x": 1}},
            "hyperparameters.x",
        ),
        ({"model": "simulated:m", "training_file": training.id, "seed": -1}, "seed"),
        ({"model": "simulated:m", "training_file": training.id, "suffix": ""}, "suffix"),
        ({"model": "simulated:m", "training_file": training.id, "metadata": {"k": 1}}, "metadata"),
        ({"model": "nope:m", "training_file": training.id, "backend": "nope"}, "backend"),
        (
            {"model": "simulated:m", "training_file": training.id, "tunesdk": {"output_dir": "/"}},
            "tunesdk.output_dir",
        ),
        (
            {"model": "simulated:m", "training_file": training.id, "tunesdk": {"max_steps": 0}},
            "tunesdk.max_steps",
        ),
        (
            {
                "model": "simulated:m",
                "training_file": training.id,
                "method": {
                    "type": "reinforcement",
                    "reinforcement": {"grader": {"type": "python", "name": "g", "source": "x"}},
                },
            },
            "method.reinforcement.grader",
        ),
        ({"model": "simulated:m", "training_file": training.id, "colour": "red"}, "colour"),
    ]
    with server.http() as http:
        for body, param in cases:
            answer = http.post("/v1/fine_tuning/jobs", json=body)
            assert answer.status_code == 400, (body, answer.text)
            assert answer.json()["error"]["param"] == param, (body, answer.json())
        malformed = http.post(
            "/v1/fine_tuning/jobs",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        assert malformed.status_code == 400 and "JSON" in malformed.json()["error"]["message"]
    with pytest.raises(openai.BadRequestError) as sdk:
        client.fine_tuning.jobs.create(model="simulated:m", training_file=training.id, seed=-5)
    assert sdk.value.body["param"] == "seed"  # type: ignore[index]
    assert client.fine_tuning.jobs.list().data == []  # nothing was submitted


def test_unknown_ids_are_not_found(server: Any) -> None:
    client = server.openai()
    for call in (
        lambda: client.fine_tuning.jobs.retrieve("trl-20260101-000000-abcdef"),
        lambda: client.fine_tuning.jobs.cancel("../../etc"),
        lambda: client.fine_tuning.jobs.list_events("nope"),
        lambda: client.fine_tuning.jobs.checkpoints.list("nope"),
        lambda: client.chat.completions.create(
            model="local:/etc", messages=[{"role": "user", "content": "hi"}]
        ),
    ):
        with pytest.raises(openai.NotFoundError):
            call()


# ---- keys and ownership -------------------------------------------------------------------------


def test_two_keys_cannot_see_each_others_files_or_jobs(start_server: Callable[..., Any]) -> None:
    server = start_server(api_keys={"key-alice", "key-bob"})
    alice, bob = server.openai("key-alice"), server.openai("key-bob")
    file = alice.files.create(file=("train.jsonl", CHAT), purpose="fine-tune")
    job = sim_job(alice, file.id)
    assert bob.files.list().data == [] and bob.fine_tuning.jobs.list().data == []
    for call in (
        lambda: bob.files.retrieve(file.id),
        lambda: bob.files.content(file.id),
        lambda: bob.files.delete(file.id),
        lambda: bob.fine_tuning.jobs.retrieve(job.id),
        lambda: bob.fine_tuning.jobs.cancel(job.id),
        lambda: bob.fine_tuning.jobs.list_events(job.id),
        lambda: bob.fine_tuning.jobs.checkpoints.list(job.id),
    ):
        with pytest.raises(openai.NotFoundError):
            call()
    with pytest.raises(openai.BadRequestError) as borrowed:
        sim_job(bob, file.id)  # another key's file is not a file to bob
    assert borrowed.value.body["param"] == "training_file"  # type: ignore[index]
    done = wait_for(alice, job.id)
    assert done.status == "succeeded"
    checkpoint = alice.fine_tuning.jobs.checkpoints.list(job.id).data[0]
    for model in (done.fine_tuned_model or "", checkpoint.fine_tuned_model_checkpoint):
        with pytest.raises(openai.NotFoundError):
            bob.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    assert alice.files.retrieve(file.id).id == file.id
    # a fine-tuned model is a base model only for the key that made it
    tuned = done.fine_tuned_model or ""
    bob_file = bob.files.create(file=("train.jsonl", CHAT), purpose="fine-tune")
    for model in (tuned, str(server.ctx.files_dir / file.id), "/usr/share", "~/models"):
        with pytest.raises(openai.BadRequestError) as foreign:
            bob.fine_tuning.jobs.create(model=f"simulated:{model}", training_file=bob_file.id)
        assert foreign.value.body["param"] == "model"  # type: ignore[index]
    again = alice.fine_tuning.jobs.create(model=f"simulated:{tuned}", training_file=file.id)
    assert wait_for(alice, again.id).status == "succeeded"
    with pytest.raises(openai.AuthenticationError):
        server.openai("key-mallory").files.list()
    with server.http() as http:
        assert http.get("/v1/files").status_code == 401
    # the ownership table holds key hashes, never the keys
    raw = server.ctx.ownership.path.read_bytes()
    assert b"key-alice" not in raw and b"key-bob" not in raw


def test_no_key_and_a_public_host_is_refused(serve_home: Path) -> None:
    from tunesdk.errors import TuneError
    from tunesdk.serve.config import ServeConfig

    with pytest.raises(TuneError, match="without API keys"):
        ServeConfig(host="0.0.0.0").check_bind()
    ServeConfig(host="0.0.0.0", api_keys=frozenset({"k"})).check_bind()
    ServeConfig(host="127.0.0.1").check_bind()


def test_the_cli_refuses_a_public_host_without_keys(serve_home: Path) -> None:
    from typer.testing import CliRunner

    from tunesdk.cli import app

    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code != 0
    assert "without API keys" in (result.output + str(result.exception))


def test_an_unknown_path_answers_in_openais_shape(server: Any) -> None:
    answer = httpx.get(server.base_url + "/v1/fine_tuning/nothing")
    assert answer.status_code == 404
    assert set(answer.json()["error"]) == {"message", "type", "param", "code"}


def test_dpo_and_reinforcement_map_onto_the_job() -> None:
    from tunesdk.serve.job_mapping import build_job, parse_request

    dpo = parse_request(
        {
            "model": "m",
            "training_file": "file-a",
            "method": {
                "type": "dpo",
                "dpo": {"hyperparameters": {"beta": 0.3, "learning_rate_multiplier": 2}},
            },
        },
        default_backend="trl",
        backends=["trl", "together"],
        allow_python=False,
    )
    job = build_job(dpo, Path("/data/prefs.jsonl"), None)
    assert job.objective == "dpo" and job.beta == 0.3
    assert job.learning_rate == pytest.approx(4e-4)
    grader = {
        "type": "string_check",
        "name": "exact",
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "operation": "eq",
    }
    rl = parse_request(
        {
            "model": "together:m",
            "training_file": "file-a",
            "method": {
                "type": "reinforcement",
                "reinforcement": {
                    "grader": grader,
                    "hyperparameters": {"eval_interval": 5, "reasoning_effort": "low"},
                },
            },
        },
        default_backend="trl",
        backends=["trl", "together"],
        allow_python=False,
    )
    assert rl.backend == "together" and rl.model == "m"
    job = build_job(rl, Path("/data/prompts.jsonl"), None)
    assert job.objective == "grpo" and job.eval_steps == 5
    assert job.rewards[0].to_openai()["name"] == "exact"
    assert rl.warnings == [
        "reasoning_effort='low' dropped: tunesdk has no reasoning effort setting"
    ]


def test_a_method_the_backend_lacks_is_a_400_before_anything_runs(server: Any) -> None:
    client = server.openai()
    training = client.files.create(file=("train.jsonl", CHAT), purpose="fine-tune")
    grader = {
        "type": "string_check",
        "name": "g",
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "operation": "eq",
    }
    with pytest.raises(openai.BadRequestError) as refused:
        client.fine_tuning.jobs.create(
            model="simulated:m",
            training_file=training.id,
            method={"type": "reinforcement", "reinforcement": {"grader": grader}},
        )
    assert "grpo" in refused.value.message and "simulated" in refused.value.message
    assert str(server.ctx.files_dir) not in refused.value.message
    assert client.fine_tuning.jobs.list().data == []


def test_a_large_upload_streams_to_disk_not_memory(server: Any, tmp_path: Path) -> None:
    import tracemalloc

    size = 24 * 1024 * 1024
    source = tmp_path / "big.jsonl"
    with source.open("wb") as out:
        out.truncate(size)  # sparse: nothing of it is in this process's memory
    with server.http() as http, source.open("rb") as handle:
        tracemalloc.start()
        try:
            answer = http.post(
                "/v1/files",
                files={"file": ("big.jsonl", handle, "application/jsonl")},
                data={"purpose": "fine-tune"},
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert answer.status_code == 200, answer.text
    assert answer.json()["bytes"] == size
    assert peak < size / 4, f"the upload held {peak} bytes in memory at its peak"


def test_the_cli_refuses_an_unknown_default_backend(serve_home: Path) -> None:
    from typer.testing import CliRunner

    from tunesdk.cli import app

    result = CliRunner().invoke(app, ["serve", "--backend", "nosuch", "--port", "0"])
    assert result.exit_code != 0
    assert "nosuch" in (result.output + str(result.exception))


def test_files_list_pages_in_both_orders_and_by_purpose(server: Any) -> None:
    client = server.openai()
    made = [
        client.files.create(file=(f"f{i}.jsonl", CHAT), purpose="fine-tune").id for i in range(3)
    ]
    other = client.files.create(file=("b.jsonl", CHAT), purpose="batch").id
    newest = [*reversed(made)]
    first = client.files.list(limit=2)
    assert [f.id for f in first.data] == [other, newest[0]] and first.has_more
    rest = client.files.list(limit=10, after=first.data[-1].id)
    assert [f.id for f in rest.data] == newest[1:] and not rest.has_more
    assert [f.id for f in client.files.list(purpose="fine-tune")] == newest
    assert [f.id for f in client.files.list(order="asc", limit=2).data] == made[:2]


def test_bad_training_data_is_a_400_naming_the_file_not_a_server_path(server: Any) -> None:
    client = server.openai()
    broken = client.files.create(
        file=("train.jsonl", b'{"messages": 3}\nnot json\n'), purpose="fine-tune"
    )
    with pytest.raises(openai.BadRequestError) as refused:
        sim_job(client, broken.id)
    assert refused.value.body["param"] == "training_file"  # type: ignore[index]
    assert broken.id in refused.value.message
    assert str(server.ctx.serve_dir) not in refused.value.message


def test_answers_carry_a_request_id_as_openais_do(server: Any) -> None:
    client = server.openai()
    page = client.files.with_raw_response.list()
    assert page.headers["x-request-id"].startswith("req_")
    with pytest.raises(openai.NotFoundError) as missing:
        client.files.retrieve("file-" + "0" * 24)
    assert (missing.value.request_id or "").startswith("req_")


def test_dropped_options_are_job_events_not_warnings_on_the_servers_stderr(
    start_server: Callable[..., Any], capfd: pytest.CaptureFixture[str]
) -> None:
    import warnings

    from tunesdk.errors import UnsupportedOptionWarning

    with warnings.catch_warnings(record=True) as seen:
        # as `python -W always::tunesdk.UnsupportedOptionWarning`: only the server quiets it
        warnings.simplefilter("always", UnsupportedOptionWarning)
        server = start_server()
        client = server.openai()
        training = client.files.create(file=("train.jsonl", CHAT), purpose="fine-tune")
        job = sim_job(client, training.id, suffix="dropped-here")  # simulated drops suffix
        wait_for(client, job.id)
    assert not [w for w in seen if issubclass(w.category, UnsupportedOptionWarning)]
    assert "UnsupportedOptionWarning" not in capfd.readouterr().err
    events = client.fine_tuning.jobs.list_events(job.id, limit=100)
    assert any(e.level == "warn" and "suffix" in e.message for e in events)


def test_expired_uploads_leave_no_parts_on_access_or_after_a_restart(
    serve_home: Path, start_server: Callable[..., Any]
) -> None:
    from tunesdk.serve.file_store import UPLOAD_TTL_S, FileStore

    # an upload abandoned two hours ago, while no server ran
    serve_dir = serve_home / "serve"
    earlier = FileStore(
        serve_dir / "files", serve_dir / "uploads", clock=lambda: time.time() - 7200
    )
    old = earlier.create_upload("old.jsonl", "fine-tune", 10, "text/jsonl")
    earlier.add_part(old["id"], io.BytesIO(b"12345"))
    old_parts = serve_dir / "uploads" / old["id"] / "parts"
    assert any(old_parts.iterdir())
    server = start_server()  # starting expires it
    assert not old_parts.exists()
    assert json.loads(old_parts.with_name("upload.json").read_text())["status"] == "expired"
    # one that expires while the server runs: its parts go the first time it is touched
    now = [time.time()]
    server.ctx.files.clock = lambda: now[0]
    client = server.openai()
    pending = client.uploads.create(
        filename="x.jsonl", purpose="fine-tune", bytes=10, mime_type="text/jsonl"
    )
    client.uploads.parts.create(upload_id=pending.id, data=b"12345")
    parts = server.ctx.files.uploads_dir / pending.id / "parts"
    assert len(list(parts.iterdir())) == 1
    now[0] += UPLOAD_TTL_S + 1
    with pytest.raises(openai.BadRequestError, match="expired"):
        client.uploads.parts.create(upload_id=pending.id, data=b"67890")
    assert not parts.exists()
    with pytest.raises(openai.BadRequestError, match="expired"):
        client.uploads.complete(upload_id=pending.id, part_ids=["part_" + "0" * 24])
