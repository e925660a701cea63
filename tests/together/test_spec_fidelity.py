"""The Together emulator's answers match Together's published OpenAPI document
(shared/specs/together).

Every answer of a whole session (files, price estimate, jobs through every status, events,
checkpoints, cancel, models, chat) is validated with openapi-core against the operation the spec
declares. Optional fields the spec declares non-nullable (a job's ``validation_file``,
``from_checkpoint``, ``wandb_*``, ``started_at``, ``eval_steps``) are left out when they have no
value, as the service does, instead of being sent as ``null``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

SERVERLESS = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
TERMINAL = {"completed", "error", "cancelled"}


def _wait(http: httpx.Client, job_id: str, statuses: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        job = http.get(f"/v1/fine-tunes/{job_id}").json()
        if job["status"] in statuses:
            return dict(job)
        assert time.monotonic() < deadline, f"the emulated job is still {job['status']}"
        time.sleep(0.02)


@pytest.fixture
def answers(provider: Any, specs: Any, sft_file: Path) -> list[httpx.Response]:
    """Every answer of one session against the emulator."""
    if not specs.available("together"):
        pytest.skip("shared/specs/together/openapi.yaml is not here")
    seen: list[httpx.Response] = []
    headers = {"Authorization": f"Bearer {provider.api_key}"}
    with httpx.Client(
        base_url=provider.emulator.url, headers=headers, event_hooks={"response": [seen.append]}
    ) as http:
        uploaded = http.post(
            "/v1/files/upload",
            files={"file": ("train.jsonl", sft_file.read_bytes(), "application/jsonl")},
            data={"purpose": "fine-tune", "file_name": "train.jsonl", "file_type": "jsonl"},
        ).json()
        http.get(f"/v1/files/{uploaded['id']}")
        http.get("/v1/files")
        request = {"training_file": uploaded["id"], "model": SERVERLESS, "n_epochs": 2}
        http.post("/v1/fine-tunes/estimate-price", json=request)
        provider.emulator.configure(seconds_per_step=0.2)  # running long enough to be seen
        job = http.post("/v1/fine-tunes", json={**request, "suffix": "spec"}).json()
        _wait(http, job["id"], {"running"})
        done = _wait(http, job["id"], TERMINAL)
        assert done["status"] == "completed"
        http.get("/v1/fine-tunes")
        http.get(f"/v1/fine-tunes/{job['id']}/events")
        http.get(f"/v1/fine-tunes/{job['id']}/checkpoints")
        http.get("/v1/fine-tunes/models/supported")
        http.get("/v1/fine-tunes/models/limits", params={"model_name": SERVERLESS})
        provider.emulator.fail_next_job(at_step=1, message="Training failed: loss became NaN")
        failing = http.post("/v1/fine-tunes", json=request).json()
        _wait(http, failing["id"], TERMINAL)
        provider.emulator.configure(seconds_per_step=1.0)
        other = http.post("/v1/fine-tunes", json=request).json()
        http.post(f"/v1/fine-tunes/{other['id']}/cancel")
        http.get(f"/v1/fine-tunes/{other['id']}")
        http.post(
            "/v1/chat/completions",
            json={
                "model": done["model_output_name"],
                "messages": [{"role": "user", "content": "hi"}],
            },
        )
    return [r for r in seen if r.is_success]


def test_every_answer_matches_the_published_spec(answers: list[httpx.Response], specs: Any) -> None:
    problems = [line for response in answers for line in specs.problems("together", response)]
    assert problems == [], "\n".join(problems)
    assert len(answers) >= 15  # the whole session was checked, not an empty list


def test_jobs_leave_out_the_fields_they_do_not_have(answers: list[httpx.Response]) -> None:
    jobs = [
        r.json()
        for r in answers
        if r.request.method == "GET"
        and r.request.url.path.startswith("/v1/fine-tunes/ft-")
        and r.request.url.path.count("/") == 3
    ]
    assert {job["status"] for job in jobs} >= {"pending", "running", "completed", "error"}
    for job in jobs:
        for name in ("validation_file", "from_checkpoint", "wandb_project_name", "wandb_name"):
            assert name not in job, f"{name} sent for a job without one"
        assert job.get("started_at", "") is not None
        assert job.get("eval_steps", 0) is not None
    assert any("started_at" in job for job in jobs if job["status"] == "running")
