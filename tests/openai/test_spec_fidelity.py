"""The OpenAI emulator's answers match OpenAI's published OpenAPI document (shared/specs/openai).

Every answer of a whole fine-tuning session (files, uploads, jobs, events, checkpoints, cancel,
chat) is validated with openapi-core against the operation the spec declares. The fields the spec
declares optional and non-nullable (a file's ``expires_at`` and ``status_details``) are left out
rather than sent as ``null``, as the service does.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest


@pytest.fixture
def answers(provider: Any, specs: Any, samples: Any) -> list[httpx.Response]:
    """Every answer of one session against the emulator: upload, train to the end, look around."""
    if not specs.available("openai"):
        pytest.skip("shared/specs/openai/openapi.yaml is not here")
    provider.emulator.configure(min_examples=1)
    seen: list[httpx.Response] = []
    headers = {"Authorization": f"Bearer {provider.api_key}"}
    with httpx.Client(
        base_url=provider.emulator.url, headers=headers, event_hooks={"response": [seen.append]}
    ) as http:
        train = samples.jsonl(samples.chat(12))
        file_id = http.post(
            "/v1/files",
            files={"file": ("train.jsonl", train, "application/jsonl")},
            data={"purpose": "fine-tune"},
        ).json()["id"]
        http.get(f"/v1/files/{file_id}")
        http.get("/v1/files")
        upload = http.post(
            "/v1/uploads",
            json={
                "filename": "big.jsonl",
                "purpose": "fine-tune",
                "bytes": len(train),
                "mime_type": "text/jsonl",
            },
        ).json()
        part = http.post(
            f"/v1/uploads/{upload['id']}/parts", files={"data": ("part", train)}
        ).json()
        http.post(f"/v1/uploads/{upload['id']}/complete", json={"part_ids": [part["id"]]})
        job = http.post(
            "/v1/fine_tuning/jobs",
            json={"model": "gpt-4o-mini-2024-07-18", "training_file": file_id, "suffix": "spec"},
        ).json()
        deadline = time.monotonic() + 20
        while http.get(f"/v1/fine_tuning/jobs/{job['id']}").json()["status"] != "succeeded":
            assert time.monotonic() < deadline, "the emulated job did not finish"
            time.sleep(0.05)
        http.get("/v1/fine_tuning/jobs")
        http.get(f"/v1/fine_tuning/jobs/{job['id']}/events")
        http.get(f"/v1/fine_tuning/jobs/{job['id']}/checkpoints")
        other = http.post(
            "/v1/fine_tuning/jobs",
            json={"model": "gpt-4o-mini-2024-07-18", "training_file": file_id},
        ).json()
        http.post(f"/v1/fine_tuning/jobs/{other['id']}/cancel")
        provider.emulator.fail_next_job(at_step=1)
        failing = http.post(
            "/v1/fine_tuning/jobs",
            json={"model": "gpt-4o-mini-2024-07-18", "training_file": file_id},
        ).json()
        while http.get(f"/v1/fine_tuning/jobs/{failing['id']}").json()["status"] != "failed":
            assert time.monotonic() < deadline + 20, "the emulated job did not fail"
            time.sleep(0.05)
        tuned = http.get(f"/v1/fine_tuning/jobs/{job['id']}").json()["fine_tuned_model"]
        http.post(
            "/v1/chat/completions",
            json={"model": tuned, "messages": [{"role": "user", "content": "hi"}]},
        )
        http.delete(f"/v1/files/{file_id}")
    return [r for r in seen if r.is_success and r.request.url.path.startswith("/v1/")]


def test_every_answer_matches_the_published_spec(answers: list[httpx.Response], specs: Any) -> None:
    problems = [line for response in answers for line in specs.problems("openai", response)]
    assert problems == [], "\n".join(problems)
    assert len(answers) >= 15  # the whole session was checked, not an empty list


def test_files_leave_out_the_fields_they_do_not_have(answers: list[httpx.Response]) -> None:
    files = [r.json() for r in answers if r.request.url.path.startswith("/v1/files/file-")]
    assert files and all(f["object"] == "file" for f in files if "deleted" not in f)
    for stored in (f for f in files if "deleted" not in f):
        assert "expires_at" not in stored and "status_details" not in stored
