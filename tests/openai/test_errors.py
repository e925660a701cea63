"""SDK exceptions from the emulator become tunesdk errors with message, status, code, request id."""

from __future__ import annotations

import openai
import pytest

from tunesdk.errors import AuthError, ProviderError, QuotaExceeded, RateLimited
from tunesdk_openai.backend import OpenAIBackend
from tunesdk_openai.errors import FineTuningUnavailable, InvalidRequest, ModelNotFound, redact


def _raised(call) -> Exception:
    with pytest.raises(openai.APIStatusError) as caught:
        call()
    return caught.value


def _upload(sdk, samples):
    return sdk.files.create(file=("t.jsonl", samples.jsonl(samples.chat())), purpose="fine-tune").id


def test_rejected_key_becomes_auth_error_naming_the_variable_not_the_key(emulator):
    emulator.settings.api_keys = frozenset({"sk-the-right-one-000000000000"})
    key = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"
    client = openai.OpenAI(base_url=emulator.base_url, api_key=key, max_retries=0)
    error = OpenAIBackend().map_error(_raised(client.files.list))
    assert isinstance(error, AuthError)
    assert error.status == 401 and error.code == "invalid_api_key"
    assert error.request_id and error.request_id.startswith("req_")
    assert "OPENAI_API_KEY" in str(error)
    assert key not in str(error) and key[-4:] not in str(error)


def test_fine_tuning_refusal_says_what_to_do_instead(emulator, sdk, samples):
    emulator.settings.fine_tuning_enabled = False
    train = _upload(sdk, samples)
    exc = _raised(lambda: sdk.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train))
    error = OpenAIBackend().map_error(exc)
    assert isinstance(error, FineTuningUnavailable)
    assert error.status == 403 and "not available" in error.message
    assert "base_url" in (error.fix or "") and "2027-01-06" in (error.fix or "")
    assert not OpenAIBackend().is_transient(exc, error)


def test_other_403s_are_plain_permission_errors(emulator, sdk):
    emulator.fault(status=403, message="Project lacks access to files", path="/v1/files")
    error = OpenAIBackend().map_error(_raised(sdk.files.list))
    assert isinstance(error, AuthError) and not isinstance(error, FineTuningUnavailable)


def test_quota_is_not_retried_but_rate_limits_are(emulator, sdk, samples):
    backend = OpenAIBackend()
    emulator.settings.out_of_quota = True
    train = _upload(sdk, samples)
    quota_exc = _raised(
        lambda: sdk.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train)
    )
    quota = backend.map_error(quota_exc)
    assert isinstance(quota, QuotaExceeded) and not backend.is_transient(quota_exc, quota)
    emulator.fault(status=429, message="Rate limit reached for requests")
    rate_exc = _raised(sdk.files.list)
    rate = backend.map_error(rate_exc)
    assert isinstance(rate, RateLimited) and backend.is_transient(rate_exc, rate)
    assert rate.code == "rate_limit_exceeded"


def test_bad_requests_carry_the_provider_message_and_param_fix(sdk, samples):
    train = _upload(sdk, samples)
    exc = _raised(lambda: sdk.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="file-x"))
    error = OpenAIBackend().map_error(exc)
    assert isinstance(error, InvalidRequest)
    assert (
        error.message == "invalid training_file: file-x" and error.code == "invalid_training_file"
    )
    assert "training file" in (error.fix or "")
    assert train  # the real file was fine


def test_not_found_and_server_errors(emulator, sdk):
    missing = OpenAIBackend().map_error(_raised(lambda: sdk.fine_tuning.jobs.retrieve("ftjob-x")))
    assert isinstance(missing, ModelNotFound) and missing.status == 404
    emulator.fault(status=500, message="The server had an error")
    server = OpenAIBackend().map_error(_raised(sdk.files.list))
    assert isinstance(server, ProviderError) and type(server) is ProviderError
    assert server.status == 500


def test_non_sdk_exceptions_are_left_to_the_core():
    assert OpenAIBackend().map_error(ValueError("x")) is None


def test_redact_hides_key_shaped_text():
    assert redact("Incorrect API key provided: sk-ab***********wxyz.") == (
        "Incorrect API key provided: ***."
    )
    assert redact("file file-abc123 is fine") == "file file-abc123 is fine"
