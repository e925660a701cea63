"""The offline Tinker server, driven by the official ``tinker`` client's own calls.

Training is real (torch + PEFT LoRA on the tiny model), so these assert what real training does:
the loss falls, a reloaded state gives the same logprobs, sampled tokens carry their logprobs.
"""

from __future__ import annotations

import itertools
import math
import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tinker
from tinker import types

from tunesdk_tinker.emulator import TinkerServer

PROMPT = "What does the cow say?"
ANSWER = " The cow says moo."


def sft_datum(tokenizer: Any) -> types.Datum:
    """One SFT example: loss on the answer tokens only."""
    prompt = tokenizer.encode(PROMPT)
    full = prompt + tokenizer.encode(ANSWER) + [tokenizer.eos_token_id]
    weights = [0.0] * (len(prompt) - 1) + [1.0] * (len(full) - len(prompt))
    return types.Datum(
        model_input=types.ModelInput.from_ints(full[:-1]),
        loss_fn_inputs={"target_tokens": full[1:], "weights": weights},
    )


def logprobs_of(client: Any, datum: types.Datum) -> np.ndarray:
    out = client.forward([datum], "cross_entropy").result(timeout=60)
    return np.asarray(out.loss_fn_outputs[0]["logprobs"].data)


def train(client: Any, datum: types.Datum, steps: int, lr: float = 1e-2) -> list[float]:
    losses = []
    for _ in range(steps):
        fb = client.forward_backward([datum, datum], "cross_entropy")
        step = client.optim_step(types.AdamParams(learning_rate=lr))
        losses.append(fb.result(timeout=60).metrics["loss:sum"])
        step.result(timeout=60)
    return losses


def rest_client(server: TinkerServer) -> Any:
    # with no base_url, the client caches one REST holder per process under "no URL", whatever
    # TINKER_BASE_URL says later: name the server explicitly
    return tinker.RestClient(base_url=server.base_url)


@pytest.fixture
def trainer(service_client: Any, tinker_model: str) -> Any:
    return service_client.create_lora_training_client(base_model=tinker_model, rank=8).result(
        timeout=120
    )


def test_training_loss_falls_over_8_steps(trainer: Any, tinker_model: str) -> None:
    info = trainer.get_info()
    assert info.lora_rank == 8 and info.model_data.model_name == tinker_model
    datum = sft_datum(trainer.get_tokenizer())  # loads from the path the server reports

    losses = train(trainer, datum, 8)

    assert all(math.isfinite(x) for x in losses)
    assert losses[-1] < 0.6 * losses[0], losses
    assert sum(b < a for a, b in itertools.pairwise(losses)) >= 6, losses


def test_sampling_returns_sequences_with_logprobs(trainer: Any) -> None:
    tokenizer = trainer.get_tokenizer()
    train(trainer, sft_datum(tokenizer), 2)
    sampler = trainer.save_weights_and_get_sampling_client().result(timeout=60)
    prompt = types.ModelInput.from_ints(tokenizer.encode(PROMPT))

    result = sampler.sample(
        prompt, 3, types.SamplingParams(max_tokens=6, seed=1), include_prompt_logprobs=True
    ).result(timeout=60)

    assert len(result.sequences) == 3
    for seq in result.sequences:
        assert 1 <= len(seq.tokens) <= 6
        assert seq.logprobs is not None and len(seq.logprobs) == len(seq.tokens)
        assert all(lp <= 0 for lp in seq.logprobs)
        assert seq.stop_reason in ("stop", "length")
    assert result.prompt_logprobs is not None
    assert result.prompt_logprobs[0] is None and len(result.prompt_logprobs) == prompt.length
    assert all(lp is not None and lp <= 0 for lp in result.prompt_logprobs[1:])

    greedy = types.SamplingParams(max_tokens=5, temperature=0.0, stop=[])
    first, again = (sampler.sample(prompt, 1, greedy).result(timeout=60) for _ in range(2))
    assert first.sequences[0].tokens == again.sequences[0].tokens
    assert len(first.sequences[0].tokens) == 5 and first.sequences[0].stop_reason == "length"


def test_save_and_load_state_round_trip(service_client: Any, trainer: Any) -> None:
    datum = sft_datum(trainer.get_tokenizer())
    train(trainer, datum, 3)
    saved = trainer.save_state("round-trip").result(timeout=60).path
    at_save = logprobs_of(trainer, datum)

    weights_only = service_client.create_training_client_from_state(saved).result(timeout=120)
    with_optimizer = service_client.create_training_client_from_state_with_optimizer(saved).result(
        timeout=120
    )

    assert saved.startswith("tinker://") and "/weights/round-trip" in saved
    np.testing.assert_allclose(logprobs_of(weights_only, datum), at_save, atol=1e-6)
    np.testing.assert_allclose(logprobs_of(with_optimizer, datum), at_save, atol=1e-6)
    # the optimizer state came back too: one more identical step lands on identical weights
    train(trainer, datum, 1)
    train(with_optimizer, datum, 1)
    np.testing.assert_allclose(
        logprobs_of(with_optimizer, datum), logprobs_of(trainer, datum), atol=1e-6
    )
    assert not np.allclose(logprobs_of(trainer, datum), at_save, atol=1e-4)  # it did train


def test_checkpoints_load_after_a_server_restart(
    tiny_model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state_dir = tmp_path / "state"
    models = {"tiny": str(tiny_model_path)}

    def connect(server: TinkerServer) -> Any:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        return tinker.ServiceClient()

    with TinkerServer(models=models, state_dir=state_dir) as first:
        client = connect(first)
        trainer = client.create_lora_training_client(base_model="tiny", rank=4).result(timeout=120)
        datum = sft_datum(trainer.get_tokenizer())
        train(trainer, datum, 2)
        state = trainer.save_state("before-restart").result(timeout=60).path
        sampler_path = trainer.save_weights_for_sampler("for-sampling").result(timeout=60).path
        expected = logprobs_of(trainer, datum)
        client.close("success").result(timeout=30)

    with TinkerServer(models=models, state_dir=state_dir) as second:
        client = connect(second)
        restored = client.create_training_client_from_state(state).result(timeout=120)
        np.testing.assert_allclose(logprobs_of(restored, datum), expected, atol=1e-6)
        sampler = client.create_sampling_client(model_path=sampler_path).result(timeout=60)
        prompt = types.ModelInput.from_ints(datum.model_input.to_ints()[:4])
        out = sampler.sample(prompt, 1, types.SamplingParams(max_tokens=3)).result(timeout=60)
        assert out.sequences[0].tokens
        runs = rest_client(second).list_training_runs().result(timeout=30).training_runs
        assert state.removeprefix("tinker://").split("/")[0] in {r.training_run_id for r in runs}
        client.close("success").result(timeout=30)


def test_lora_weights_download_as_a_peft_adapter(
    trainer: Any, tiny_model_path: Path, tmp_path: Path, tinker_server: TinkerServer
) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    datum = sft_datum(trainer.get_tokenizer())
    train(trainer, datum, 2)
    export = trainer.save_weights_external("adapter").result(timeout=60).path
    urls = rest_client(tinker_server).get_external_weights_urls(export).result(timeout=30).urls
    for name, url in urls.items():
        (tmp_path / name).write_bytes(urllib.request.urlopen(url, timeout=30).read())

    assert {"adapter_config.json", "adapter_model.safetensors"} <= set(urls)
    model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_model_path), tmp_path
    )
    ids = torch.tensor([datum.model_input.to_ints()])
    targets = torch.tensor(datum.loss_fn_inputs["target_tokens"].data)
    with torch.no_grad():
        local = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
    local_logprobs = local.gather(-1, targets[:, None]).squeeze(-1).numpy()
    np.testing.assert_allclose(local_logprobs, logprobs_of(trainer, datum), atol=1e-5)


def test_rl_losses_and_custom_loss(trainer: Any) -> None:
    tokenizer = trainer.get_tokenizer()
    tokens = tokenizer.encode(PROMPT + ANSWER)
    sampling_logprobs = logprobs_of(trainer, sft_datum(tokenizer))  # not these tokens: see below
    model_input = types.ModelInput.from_ints(tokens[:-1])
    on_policy = logprobs_of(
        trainer,
        types.Datum(model_input=model_input, loss_fn_inputs={"target_tokens": tokens[1:]}),
    )
    advantages = np.linspace(-1.0, 1.0, len(tokens) - 1).astype(np.float32)
    rl_datum = types.Datum(
        model_input=model_input,
        loss_fn_inputs={
            "target_tokens": tokens[1:],
            "logprobs": on_policy.astype(np.float32),
            "advantages": advantages,
        },
    )
    assert sampling_logprobs.size  # the forward pass works on any datum

    for loss in ("importance_sampling", "ppo", "cispo"):
        out = trainer.forward([rl_datum], loss).result(timeout=60)
        if loss != "cispo":  # on policy the ratio is 1: the loss is -sum(advantages)
            assert out.metrics["loss:sum"] == pytest.approx(-advantages.sum(), abs=1e-4)

    fb = trainer.forward_backward([rl_datum], "importance_sampling").result(timeout=60)
    assert "loss:sum" in fb.metrics and len(fb.loss_fn_outputs) == 1

    def custom(data: list[types.Datum], logprobs: list[Any]) -> tuple[Any, dict[str, float]]:
        loss = -(logprobs[0] * 2.0).sum()
        return loss, {"double:sum": float(loss.detach())}

    result = trainer.forward_backward_custom([rl_datum], custom).result(timeout=60)
    assert result.metrics["loss:sum"] == pytest.approx(-2.0 * on_policy.sum(), rel=1e-4)
    trainer.optim_step(types.AdamParams(learning_rate=1e-3)).result(timeout=60)


def test_bad_requests_fail_fast_with_a_clear_error(
    service_client: Any, tinker_model: str, tinker_server: TinkerServer
) -> None:
    started = time.monotonic()
    with pytest.raises(tinker.BadRequestError, match=r"not served here.*default_model"):
        service_client.create_lora_training_client(base_model="no/such-model", rank=4).result(
            timeout=60
        )

    client = service_client.create_lora_training_client(base_model=tinker_model, rank=4).result(
        timeout=120
    )
    datum = sft_datum(client.get_tokenizer())
    with pytest.raises(tinker.BadRequestError, match=r"dro.*not implemented"):
        client.forward_backward([datum], "dro").result(timeout=60)

    bad = service_client.create_lora_training_client(base_model=tinker_model, rank=4).result(
        timeout=120
    )
    short = types.Datum(model_input=datum.model_input, loss_fn_inputs={"target_tokens": [1, 2]})
    with pytest.raises(tinker.RequestFailedError, match="target_tokens has 2 entries"):
        bad.forward_backward([short], "cross_entropy").result(timeout=60)

    with pytest.raises(tinker.NotFoundError, match="does not exist"):
        service_client.create_training_client_from_state(
            "tinker://nobody:train:0/weights/missing"
        ).result(timeout=60)
    assert time.monotonic() - started < 30  # no retry loop


def test_a_retried_request_runs_once(
    service_client: Any, tinker_model: str, tinker_server: TinkerServer
) -> None:
    def fresh() -> Any:
        return service_client.create_lora_training_client(
            base_model=tinker_model, rank=4, seed=7
        ).result(timeout=120)

    faulted, clean = fresh(), fresh()
    datum = sft_datum(clean.get_tokenizer())
    np.testing.assert_allclose(logprobs_of(faulted, datum), logprobs_of(clean, datum))
    # the server queues the work, then the answer is lost: the client sends it again
    tinker_server.fault(kind="commit_then_drop", path="/api/v1/forward_backward$")
    tinker_server.fault(kind="commit_then_drop", path="/api/v1/optim_step$")
    train(faulted, datum, 2)
    train(clean, datum, 2)
    # the same weights: no step applied twice, no gradient added twice
    np.testing.assert_allclose(logprobs_of(faulted, datum), logprobs_of(clean, datum), atol=1e-6)
    faults = [r.fault for r in tinker_server.requests if r.fault]
    assert faults.count("commit_then_drop") == 2


def test_api_key_and_unknown_routes(tinker_server: TinkerServer) -> None:
    url = tinker_server.base_url
    assert httpx.post(f"{url}/api/v1/create_session", json={}).status_code == 401
    answer = httpx.get(f"{url}/api/v1/nope", headers={"X-API-Key": "tml-x"})
    assert answer.status_code == 404 and "no route" in answer.json()["detail"]
    malformed = httpx.post(
        f"{url}/api/v1/create_model",
        headers={"X-API-Key": "tml-x"},
        json={"session_id": "x", "model_seq_id": "not-a-number"},
    )
    assert malformed.status_code in (400, 404)  # never a 5xx, which the client retries
    session = httpx.post(f"{url}/api/v1/create_session", headers={"X-API-Key": "tml-x"}, json={})
    session_id = session.json()["session_id"]
    malformed = httpx.post(
        f"{url}/api/v1/create_model",
        headers={"X-API-Key": "tml-x"},
        json={"session_id": session_id, "model_seq_id": "not-a-number"},
    )
    assert malformed.status_code == 400 and "malformed" in malformed.json()["detail"]


def test_the_cli_finds_the_server() -> None:
    from tunesdk.emulation import emulator_for

    assert emulator_for("tinker") is TinkerServer
    assert TinkerServer.default_port == 8767
