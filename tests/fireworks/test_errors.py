"""Fireworks errors, as the SDK raises them from real emulator responses, -> tunesdk errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import fireworks
import httpx
import pytest

from tunesdk.errors import AuthError, ProviderError, QuotaExceeded, RateLimited
from tunesdk_fireworks.client import settings_from
from tunesdk_fireworks.emulator import FireworksEmulator
from tunesdk_fireworks.errors import error_details, map_error


def raised(call: Callable[[], object]) -> Exception:
    with pytest.raises(fireworks.APIStatusError) as info:
        call()
    return info.value


def test_statuses_map_to_tunesdk_errors(
    sdk: fireworks.Fireworks, emulator: FireworksEmulator
) -> None:
    cases = [
        (429, "slow down", RateLimited),
        (429, "monthly quota exceeded for fine-tuning", QuotaExceeded),
        (402, "add credit", QuotaExceeded),
        (403, "no access to account acme", AuthError),
        (500, "boom", ProviderError),
    ]
    for status, message, kind in cases:
        emulator.faults.add(kind="status", status=status, message=message)
        error = map_error(raised(sdk.datasets.list))
        assert type(error) is kind, (status, message)
        assert error is not None
        assert error.status == status
        assert error.message == message
        assert error.request_id == "req_emulated_fault"
        assert error.provider == "fireworks"


def test_auth_error_names_the_variable_never_the_key(emulator: FireworksEmulator) -> None:
    emulator.config.api_key = "right"
    client = fireworks.Fireworks(
        api_key="fw-wrong-secret", account_id="acme", base_url=emulator.base_url, max_retries=0
    )
    error = map_error(raised(client.datasets.list))
    assert isinstance(error, AuthError)
    assert error.code == "UNAUTHENTICATED"
    assert "FIREWORKS_API_KEY" in str(error)
    assert "fw-wrong-secret" not in str(error)


def test_invalid_data_and_unknown_models_keep_the_provider_message(
    sdk: fireworks.Fireworks, tmp_path: Path, samples, ready_dataset: str
) -> None:
    sdk.datasets.create(dataset_id="short", dataset={"user_uploaded": {}})
    short = samples.write(tmp_path / "short.jsonl", samples.chat(2))
    invalid = map_error(raised(lambda: sdk.datasets.upload("short", file=short)))
    assert invalid is not None and invalid.status == 400 and invalid.code == "INVALID_ARGUMENT"
    assert "at least 3 are required" in invalid.message

    missing = map_error(
        raised(
            lambda: sdk.supervised_fine_tuning_jobs.create(
                dataset=ready_dataset, base_model="accounts/fireworks/models/nope"
            )
        )
    )
    assert missing is not None and missing.code == "NOT_FOUND"
    assert "Model not found" in missing.message and "firectl" in (missing.fix or "")

    undeployed = map_error(
        raised(
            lambda: sdk.chat.completions.create(
                model="accounts/acme/models/nope", messages=[{"role": "user", "content": "x"}]
            )
        )
    )
    assert undeployed is not None and "deploy()" in (undeployed.fix or "")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"code": 9, "message": "not ready", "details": []}, ("not ready", "FAILED_PRECONDITION")),
        ({"error": {"message": "nope", "code": "NOT_FOUND"}}, ("nope", "NOT_FOUND")),
        ({"error": "Model not found"}, ("Model not found", None)),
        ("plain text", ("plain text", None)),
        (None, (None, None)),
    ],
)
def test_both_error_shapes_are_read(body: object, expected: tuple[str | None, str | None]) -> None:
    assert error_details(body) == expected


def test_other_exceptions_are_not_claimed() -> None:
    request = httpx.Request("GET", "http://127.0.0.1")
    assert map_error(fireworks.APIConnectionError(request=request)) is None
    assert map_error(ValueError("x")) is None


def test_missing_settings_name_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FIREWORKS_API_KEY", raising=False)
    monkeypatch.delenv("FIREWORKS_ACCOUNT_ID", raising=False)
    with pytest.raises(AuthError, match="FIREWORKS_API_KEY"):
        settings_from({})
    with pytest.raises(AuthError, match="FIREWORKS_ACCOUNT_ID"):
        settings_from({"api_key": "k"})
    settings = settings_from({"api_key": "secret-value", "account_id": "acme"})
    assert "secret-value" not in repr(settings)


def test_check_names_the_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from tunesdk_fireworks.backend import FireworksBackend

    monkeypatch.setenv("FIREWORKS_API_KEY", "k")
    monkeypatch.delenv("FIREWORKS_ACCOUNT_ID", raising=False)
    missing_account = FireworksBackend().check()
    assert not missing_account.usable and "FIREWORKS_ACCOUNT_ID" in (missing_account.fix or "")
    monkeypatch.delenv("FIREWORKS_API_KEY")
    assert "FIREWORKS_API_KEY" in (FireworksBackend().check().reason or "")
    monkeypatch.setenv("FIREWORKS_API_KEY", "k")
    monkeypatch.setenv("FIREWORKS_ACCOUNT_ID", "acme")
    assert FireworksBackend().check().usable
