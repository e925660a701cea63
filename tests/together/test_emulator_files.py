"""The emulator's file API, driven by the official ``together`` SDK over real HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import together.lib.resources.files as sdk_files
from together import Together

from tunesdk_together.emulator import TogetherEmulator


def test_sdk_upload_goes_through_presigned_put_and_preprocess(
    client: Together, emulator: TogetherEmulator, sft_file: Path
) -> None:
    uploaded = client.files.upload(file=sft_file, purpose="fine-tune")

    assert uploaded.id.startswith("file-")
    assert uploaded.bytes == sft_file.stat().st_size
    assert uploaded.processing_status == "COMPLETED"
    calls = [(r.method, r.path) for r in emulator.faults.requests]
    assert calls == [
        ("POST", "/v1/files"),
        ("PUT", f"/_storage/uploads/{uploaded.id}"),
        ("POST", f"/v1/files/{uploaded.id}/preprocess"),
    ]
    stored = client.files.retrieve(uploaded.id)
    assert stored.validation_report is not None
    assert stored.validation_report.dataset_format == "CONVERSATION"
    assert stored.validation_report.nlines == 16
    with client.files.with_streaming_response.content(uploaded.id) as response:
        assert response.read() == sft_file.read_bytes()


def test_identical_upload_is_deduplicated_by_checksum(client: Together, sft_file: Path) -> None:
    first = client.files.upload(file=sft_file, purpose="fine-tune")
    again = client.files.upload(file=sft_file, purpose="fine-tune")

    assert again.id == first.id
    assert [f.id for f in client.files.list().data] == [first.id]


def test_multipart_upload_path_of_the_sdk(
    client: Together, emulator: TogetherEmulator, data, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = data.write("big.jsonl", data.chat(400))
    # The SDK switches to multipart above 5 GiB with parts of >= 5 MiB; shrink both so a small
    # file takes the same code path and splits into several parts.
    monkeypatch.setattr(sdk_files, "MULTIPART_THRESHOLD_GB", 0.0)
    monkeypatch.setattr(sdk_files, "TARGET_PART_SIZE_MB", 0.01)
    monkeypatch.setattr(sdk_files, "MIN_PART_SIZE_MB", 0.005)

    uploaded = client.files.upload(file=path, purpose="fine-tune")

    parts = [r for r in emulator.faults.requests if r.method == "PUT"]
    assert len(parts) > 1
    assert emulator.faults.count("POST", "/v1/files/multipart/initiate") == 1
    assert emulator.faults.count("POST", "/v1/files/multipart/complete") == 1
    assert uploaded.processing_status == "COMPLETED"
    assert emulator.state.files.get(uploaded.id).path.read_bytes() == path.read_bytes()


def test_spec_single_request_upload(emulator: TogetherEmulator, sft_file: Path) -> None:
    with sft_file.open("rb") as handle:
        response = httpx.post(
            f"{emulator.base_url}/v1/files/upload",
            headers={"Authorization": "Bearer k"},
            data={"purpose": "fine-tune", "file_name": "train.jsonl"},
            files={"file": ("train.jsonl", handle)},
        )
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "file"
    assert body["FileType"] == "jsonl"
    assert body["validation_report"]["valid"] is True


def test_invalid_file_is_marked_with_the_offending_line(client: Together, data) -> None:
    rows = data.chat(3)
    rows[1]["messages"] = [{"role": "assistant", "content": "starts with the model"}]
    path = data.write("bad.jsonl", rows)

    uploaded = client.files.upload(file=path, purpose="fine-tune")
    report = client.files.retrieve(uploaded.id).validation_report

    assert uploaded.processing_status == "INVALID_FORMAT"
    assert report is not None and report.valid is False
    assert report.error_type == "INVALID_FORMAT"
    assert "line 2" in (report.error or "")
    assert "must start with a system or user message" in (report.error or "")


def test_delete_and_missing_file(client: Together, sft_file: Path) -> None:
    from together import NotFoundError

    uploaded = client.files.upload(file=sft_file, purpose="fine-tune")
    assert client.files.delete(uploaded.id).deleted is True
    with pytest.raises(NotFoundError) as caught:
        client.files.retrieve(uploaded.id)
    body: Any = caught.value.body
    assert body["error"]["code"] == "file_not_found"


def test_requests_without_a_key_are_refused(emulator: TogetherEmulator) -> None:
    response = httpx.get(f"{emulator.base_url}/v1/files")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"
