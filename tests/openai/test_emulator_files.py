"""The emulator's Files and Uploads APIs, driven by the official openai SDK over HTTP."""

from __future__ import annotations

import hashlib

import httpx
import openai
import pytest


def test_file_upload_retrieve_list_content_delete(sdk, samples):
    data = samples.jsonl(samples.chat(12))
    created = sdk.files.create(file=("train.jsonl", data), purpose="fine-tune")
    assert created.id.startswith("file-")
    assert (created.bytes, created.filename, created.purpose) == (
        len(data),
        "train.jsonl",
        "fine-tune",
    )
    assert sdk.files.retrieve(created.id).bytes == len(data)
    assert sdk.files.content(created.id).read() == data

    other = sdk.files.create(file=("notes.txt", b"hello"), purpose="assistants")
    listed = sdk.files.list()
    assert [f.id for f in listed.data] == [other.id, created.id]  # newest first
    assert [f.id for f in sdk.files.list(purpose="fine-tune").data] == [created.id]

    deleted = sdk.files.delete(created.id)
    assert deleted.deleted is True
    with pytest.raises(openai.NotFoundError):
        sdk.files.retrieve(created.id)


def test_file_list_paginates_with_after_cursor(sdk):
    ids = [sdk.files.create(file=(f"f{i}.txt", b"x"), purpose="assistants").id for i in range(5)]
    first = sdk.files.list(limit=2)
    assert [f.id for f in first.data] == ids[::-1][:2]
    assert first.has_more is True
    every = [f.id for f in sdk.files.list(limit=2)]  # the SDK follows the cursor
    assert every == ids[::-1]


def test_fine_tune_files_must_be_jsonl(sdk):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.files.create(file=("train.csv", b"a,b\n"), purpose="fine-tune")
    assert caught.value.param == "file"
    assert "jsonl" in caught.value.message


def test_files_above_the_single_file_limit_are_refused(emulator, sdk, samples):
    emulator.settings.max_file_bytes = 100
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.files.create(file=("train.jsonl", samples.jsonl(samples.chat(12))), purpose="fine-tune")
    assert caught.value.status_code == 413
    assert caught.value.code == "file_too_large"
    assert "Uploads API" in caught.value.message


def test_uploads_api_assembles_parts_in_order(emulator, sdk, samples):
    emulator.settings.max_file_bytes = 100  # the Files API would refuse this file
    data = samples.jsonl(samples.chat(12))
    upload = sdk.uploads.upload_file_chunked(
        file=data,
        filename="big.jsonl",
        bytes=len(data),
        mime_type="text/jsonl",
        purpose="fine-tune",
        part_size=128,
        md5=hashlib.md5(data).hexdigest(),
    )
    assert upload.status == "completed"
    assert upload.file is not None
    assert sdk.files.content(upload.file.id).read() == data
    part_requests = emulator.faults.count("POST", f"/v1/uploads/{upload.id}/parts")
    assert part_requests == -(-len(data) // 128)


def test_upload_complete_checks_size_md5_and_state(sdk):
    upload = sdk.uploads.create(
        bytes=10, filename="x.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    part = sdk.uploads.parts.create(upload.id, data=b"12345")
    with pytest.raises(openai.BadRequestError, match="10 bytes"):
        sdk.uploads.complete(upload.id, part_ids=[part.id])
    second = sdk.uploads.parts.create(upload.id, data=b"67890")
    with pytest.raises(openai.BadRequestError, match="md5"):
        sdk.uploads.complete(upload.id, part_ids=[part.id, second.id], md5="0" * 32)
    done = sdk.uploads.complete(upload.id, part_ids=[second.id, part.id])  # caller picks the order
    assert sdk.files.content(done.file.id).read() == b"6789012345"
    with pytest.raises(openai.BadRequestError, match="completed"):
        sdk.uploads.parts.create(upload.id, data=b"more")


def test_cancelled_upload_takes_no_parts(sdk):
    upload = sdk.uploads.create(
        bytes=4, filename="x.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    assert sdk.uploads.cancel(upload.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError, match="cancelled"):
        sdk.uploads.parts.create(upload.id, data=b"1234")


def test_upload_parts_are_capped(emulator, sdk):
    emulator.settings.max_part_bytes = 4
    upload = sdk.uploads.create(
        bytes=8, filename="x.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.uploads.parts.create(upload.id, data=b"12345678")
    assert caught.value.param == "data"


def test_fine_tune_upload_needs_a_jsonl_mime_type(sdk):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.uploads.create(bytes=4, filename="x.jsonl", mime_type="text/csv", purpose="fine-tune")
    assert caught.value.param == "mime_type"


def test_missing_and_wrong_keys_are_401_without_echoing_the_key(emulator, api_key):
    emulator.settings.api_keys = frozenset({api_key})
    wrong = "sk-wrong-key-abcdefghijklmnopqrstuvwxyz"
    client = openai.OpenAI(base_url=emulator.base_url, api_key=wrong, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.files.list()
    assert caught.value.code == "invalid_api_key"
    assert wrong not in caught.value.message
    response = httpx.get(f"{emulator.base_url}/files")
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_every_response_carries_a_request_id(emulator, sdk):
    raw = sdk.files.with_raw_response.list()
    assert raw.headers["x-request-id"].startswith("req_")
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.files.retrieve("file-missing")
    assert caught.value.request_id and caught.value.request_id.startswith("req_")


def test_unknown_routes_answer_in_openai_error_shape(emulator, api_key):
    response = httpx.get(
        f"{emulator.base_url}/nope", headers={"Authorization": f"Bearer {api_key}"}
    )
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Invalid URL (GET /v1/nope)"
