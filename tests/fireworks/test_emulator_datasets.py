"""The emulator's dataset API, driven by the official fireworks-ai SDK over real HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fireworks
import httpx
import pytest
from fireworks.lib.dataset_upload import DatasetUploadError, upload_dataset_shards

from tunesdk_fireworks.emulator import FireworksEmulator

ACCOUNT = "acme"


def body(info: pytest.ExceptionInfo[Any]) -> dict[str, Any]:
    """The JSON error body the SDK exception carries."""
    value: dict[str, Any] = info.value.body
    return value


def test_create_upload_and_read_back(sdk: fireworks.Fireworks, train_file: Path) -> None:
    created = sdk.datasets.create(
        dataset_id="train", dataset={"display_name": "My data", "user_uploaded": {}}
    )
    assert created.name == f"accounts/{ACCOUNT}/datasets/train"
    assert created.state == "UPLOADING"

    with train_file.open("rb") as handle:
        uploaded = sdk.datasets.upload("train", file=("train.jsonl", handle, "application/jsonl"))
    assert uploaded.bytes == train_file.stat().st_size
    assert uploaded.filename == "train.jsonl"

    dataset = sdk.datasets.get("train")
    assert dataset.state == "READY"
    assert dataset.example_count == "6"
    assert dataset.format == "CHAT"
    assert dataset.display_name == "My data"


def test_signed_url_path_for_large_files(sdk: fireworks.Fireworks, train_file: Path) -> None:
    size = train_file.stat().st_size
    sdk.datasets.create(dataset_id="big", dataset={"user_uploaded": {}})
    endpoint = sdk.datasets.get_upload_endpoint("big", filename_to_size={"train.jsonl": str(size)})
    url = (endpoint.filename_to_signed_urls or {})["train.jsonl"]

    # validateUpload before the bytes landed is FAILED_PRECONDITION, as on Fireworks
    with pytest.raises(fireworks.BadRequestError) as early:
        sdk.datasets.validate_upload("big", body={})
    assert body(early)["code"] == 9

    # the signature covers the content type and the exact length range
    wrong = httpx.put(url, content=train_file.read_bytes(), headers={"Content-Type": "text/plain"})
    assert wrong.status_code == 400
    put = httpx.put(
        url,
        content=train_file.read_bytes(),
        headers={
            "Content-Type": "application/octet-stream",
            "X-Goog-Content-Length-Range": f"{size},{size}",
        },
    )
    assert put.status_code == 200
    assert "authorization" not in {k.lower() for k in put.request.headers}

    sdk.datasets.validate_upload("big", body={})
    assert sdk.datasets.get("big").state == "READY"


def test_the_sdk_helper_refuses_plain_http_signed_urls(
    sdk: fireworks.Fireworks, train_file: Path
) -> None:
    """Why tunesdk mirrors upload_dataset_shards instead of calling it: it demands https."""
    sdk.datasets.create(dataset_id="shards", dataset={"user_uploaded": {}})
    with pytest.raises(DatasetUploadError, match="non-https"):
        upload_dataset_shards(sdk, "shards", str(train_file))


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("two", "at least 3 are required"),
        ("bad_role", "use system, user, assistant or tool"),
        ("late_system", "a system message may only come first"),
        ("weight", "weight must be 0 or 1"),
        ("no_assistant", "no assistant message"),
        ("mixed", "mixes preference and chat examples"),
        ("not_json", "not valid JSON"),
    ],
)
def test_upload_validation_follows_the_documented_rules(
    sdk: fireworks.Fireworks, tmp_path: Path, samples, rows: str, expected: str
) -> None:
    good = samples.chat(4)
    bad_line = {
        "two": None,
        "bad_role": {
            "messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]
        },
        "late_system": {
            "messages": [
                {"role": "user", "content": "x"},
                {"role": "system", "content": "be nice"},
                {"role": "assistant", "content": "y"},
            ]
        },
        "weight": {
            "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": "y", "weight": 2},
            ]
        },
        "no_assistant": {"messages": [{"role": "user", "content": "x"}]},
        "mixed": samples.dpo(1)[0],
        "not_json": None,
    }[rows]
    path = tmp_path / "data.jsonl"
    if rows == "two":
        samples.write(path, good[:2])
    elif rows == "not_json":
        path.write_text("".join(json.dumps(r) + "\n" for r in good) + "{oops\n")
    else:
        samples.write(path, [*good, bad_line])
    sdk.datasets.create(dataset_id="bad", dataset={"user_uploaded": {}})
    with pytest.raises(fireworks.BadRequestError) as refused:
        sdk.datasets.upload("bad", file=path)
    assert expected in body(refused)["message"]
    if rows != "two":
        assert "data.jsonl:5" in body(refused)["message"]  # file and line
    dataset = sdk.datasets.get("bad")
    assert dataset.state == "UPLOADING"
    assert dataset.status is not None and dataset.status.code == "INVALID_ARGUMENT"


def test_preference_datasets_are_accepted(sdk: fireworks.Fireworks, dpo_file: Path) -> None:
    sdk.datasets.create(dataset_id="prefs", dataset={"user_uploaded": {}})
    sdk.datasets.upload("prefs", file=dpo_file)
    assert sdk.datasets.get("prefs").state == "READY"


def test_ids_conflicts_and_missing_datasets(sdk: fireworks.Fireworks) -> None:
    with pytest.raises(fireworks.BadRequestError, match="1-63 characters"):
        sdk.datasets.create(dataset_id="Not_Valid", dataset={"user_uploaded": {}})
    sdk.datasets.create(dataset_id="once", dataset={"user_uploaded": {}})
    with pytest.raises(fireworks.ConflictError) as twice:
        sdk.datasets.create(dataset_id="once", dataset={"user_uploaded": {}})
    assert body(twice) == {
        "code": 6,
        "message": f"dataset accounts/{ACCOUNT}/datasets/once already exists",
        "details": [],
    }
    assert twice.value.response.headers["x-request-id"].startswith("req_")
    with pytest.raises(fireworks.NotFoundError):
        sdk.datasets.get("never")
    sdk.datasets.delete("once")
    with pytest.raises(fireworks.NotFoundError):
        sdk.datasets.get("once")


def test_list_paginates_with_page_tokens(sdk: fireworks.Fireworks) -> None:
    for index in range(5):
        sdk.datasets.create(dataset_id=f"d{index}", dataset={"user_uploaded": {}})
    first = sdk.datasets.list(page_size=2)
    assert [str(d.name).rsplit("/", 1)[1] for d in first.datasets] == ["d0", "d1"]
    assert first.next_page_token
    everything = [str(d.name).rsplit("/", 1)[1] for d in sdk.datasets.list(page_size=2)]
    assert everything == ["d0", "d1", "d2", "d3", "d4"]
    filtered = sdk.datasets.list(filter=f'name="accounts/{ACCOUNT}/datasets/d3"')
    assert [d.name for d in filtered] == [f"accounts/{ACCOUNT}/datasets/d3"]


def test_auth_is_required_and_checked(emulator: FireworksEmulator) -> None:
    emulator.config.api_key = "the-right-key"
    wrong = fireworks.Fireworks(
        api_key="the-wrong-key", account_id=ACCOUNT, base_url=emulator.base_url, max_retries=0
    )
    with pytest.raises(fireworks.AuthenticationError) as refused:
        wrong.datasets.list()
    assert body(refused)["code"] == 16
    anonymous = httpx.get(f"{emulator.base_url}/v1/accounts/{ACCOUNT}/datasets")
    assert anonymous.status_code == 401
