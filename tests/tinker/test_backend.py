"""The tinker backend: its plan, tokenization and schedule (pure), and SFT/DPO/GRPO runs
through the official client against the offline Tinker server (cancel, resume, events, chat,
download). The contract suite (test_contract.py) covers completion, attach after a killed
submitter and secrets for SFT, and attach after a killed submitter for DPO; GRPO's KL, learning
and reward failures are in test_grpo.py."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

import tunesdk as ts
from tunesdk.data import Dataset
from tunesdk.data.templates import IGNORE_INDEX, tokenize_record
from tunesdk.errors import JobError
from tunesdk.events import Cancelled, Checkpoint, Completed, Evaluation, Log, Progress
from tunesdk.testing import tiny_chat_data, tiny_preference_data
from tunesdk_tinker import TinkerBackend, data, normalize, schedule
from tunesdk_tinker.emulator import TinkerServer

COUNT_O = ts.graders.Python(
    name="count_o",
    source='def grade(sample, item):\n    return float(sample["output_text"].count("o"))',
)


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNESDK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.tinker credentials of the developer
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TUNESDK_POLL_INTERVAL", "0.05")
    for name in ("TINKER_API_KEY", "TINKER_BASE_URL", "TINKER_CREDENTIAL_CMD", "TOGETHER_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def sft_job(model: Path | str, **fields: Any) -> ts.Job:
    settings: dict[str, Any] = {
        "model": str(model),
        "data": tiny_chat_data(12),
        "method": ts.LoRA(r=4),
        "batch_size": 4,
        "max_seq_length": 64,
        "max_steps": 3,
    }
    return ts.Job(**(settings | fields))


# ---- plan: pure, every option accounted for ------------------------------------------------


def test_plan_shows_the_loop_and_never_the_key() -> None:
    job = sft_job(
        "Qwen/Qwen3-8B",
        backend_options={"tinker": {"base_url": "https://tinker.example", "api_key": "tml-s3cr3t"}},
        micro_batch_size=2,
        lr_scheduler="cosine",
    )
    plan = job.plan("tinker")
    native = plan.native
    assert plan.kind == "managed"
    assert native["service"]["base_url"] == "https://tinker.example"
    assert native["service"]["client"] == "tinker.ServiceClient"
    assert native["training_client"] | {"call": None} == {
        "call": None,
        "rank": 4,
        "seed": 42,
        "train_attn": True,
        "train_mlp": True,
        "train_unembed": False,  # all-linear leaves lm_head out, as PEFT does
    }
    loop = native["loop"]
    assert loop["loss_fn"] == "cross_entropy"
    assert loop["forward_backward_calls_per_step"] == 2
    assert loop["optimizer"]["beta2"] == 0.999 and loop["optimizer"]["eps"] == 1e-8
    assert plan.row("lr_scheduler").native_value == "cosine"
    assert "tml-s3cr3t" not in plan.model_dump_json()


def test_plan_drops_what_the_service_cannot_honour_only_when_set() -> None:
    plan = sft_job("m", method=ts.LoRA(r=4, alpha=64, dropout=0.1), packing=True).plan("tinker")
    assert {r.option for r in plan.dropped} == {"method.alpha", "method.dropout", "packing"}
    assert sft_job("m").plan("tinker").dropped == []


def test_plan_maps_module_names_to_tinkers_groups() -> None:
    plan = sft_job("m", method=ts.LoRA(r=8, target_modules=["q_proj", "lm_head"])).plan("tinker")
    client = plan.native["training_client"]
    assert (client["train_attn"], client["train_mlp"], client["train_unembed"]) == (
        True,
        False,
        True,
    )
    with pytest.raises(JobError, match="names no attention, MLP or lm_head"):
        sft_job("m", method=ts.LoRA(target_modules=["wte"])).plan("tinker")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"provder": "together"}, "unknown backend_options.tinker key"),
        ({"provider": "acme"}, "unknown Tinker provider"),
        ({"rl_loss": "kl"}, "not a Tinker policy loss"),
    ],
)
def test_bad_backend_options_are_refused_at_plan(options: dict[str, Any], message: str) -> None:
    with pytest.raises(JobError, match=message):
        sft_job("m", backend_options={"tinker": options}).plan("tinker")


def test_together_preset_uses_togethers_compatible_client() -> None:
    plan = sft_job("m", backend_options={"tinker": {"provider": "together"}}).plan("tinker")
    assert plan.native["service"]["client"] == "together.post_training.tinker.ServiceClient"
    assert "TOGETHER_API_KEY" in plan.native["service"]["api_key"]


def test_methods_and_objectives_the_service_lacks_are_refused() -> None:
    with pytest.raises(JobError, match="LoRA adapters only"):
        sft_job("m", method=ts.Full()).plan("tinker")
    with pytest.raises(JobError, match="no KTO loop"):
        sft_job("m", objective="kto").plan("tinker")


def test_grpo_plan_needs_whole_groups() -> None:
    rows = [{"prompt": "say o", "answer": "o"}] * 4
    job = ts.Job(model="m", data=rows, rewards=[COUNT_O], batch_size=6, num_generations=4)
    with pytest.raises(JobError, match="not a multiple of num_generations"):
        job.plan("tinker")
    plan = job.model_copy(update={"batch_size": 8}).plan("tinker")
    assert plan.native["grpo"]["prompts_per_step"] == 2
    assert plan.native["loop"]["loss_fn"] == "importance_sampling"


def test_check_says_the_fix_when_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    check = TinkerBackend().check()
    assert not check.usable
    assert "TINKER_API_KEY" in (check.fix or "") and "tinker auth login" in (check.fix or "")
    monkeypatch.setenv("TINKER_API_KEY", "tml-x")
    assert TinkerBackend().check().usable


def test_check_reports_a_compatible_client_that_does_not_import(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOGETHER_API_KEY", "together-key")
    try:
        import together.post_training.tinker
    except Exception:
        imports = False
    else:
        imports = True
    together = sft_job("m", backend_options={"tinker": {"provider": "together"}})
    check = TinkerBackend().check_job(together)
    assert check.usable == imports
    if not imports:  # together 3.1.1's client wants a type tinker 0.38 no longer has
        assert "does not import" in (check.reason or "")
        assert "provider 'tinker'" in (check.fix or "")


def test_an_unreachable_service_is_refused_before_a_run_exists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The SDK retries a dead URL for minutes; submit says so at once, with the fix."""
    import socket

    from tunesdk.errors import ProviderError
    from tunesdk.store import RunStore

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("TINKER_API_KEY", "tml-x")
    job = sft_job("m", backend_options={"tinker": {"base_url": f"http://127.0.0.1:{port}"}})
    with pytest.raises(ProviderError, match="cannot reach the Tinker service") as refused:
        job.submit("tinker")
    assert "base_url" in (refused.value.fix or "")
    assert RunStore().list() == []


# ---- tokenization, weights, schedule -------------------------------------------------------


def test_sft_weights_are_tunesdks_assistant_mask_shifted(tiny_model_path: Path) -> None:
    tokenizer = data.load_tokenizer(str(tiny_model_path))
    job = sft_job(tiny_model_path)
    dataset = Dataset.load(tiny_chat_data(3))
    sequences, warnings = data.sft_sequences(dataset, tokenizer, job)
    assert warnings == []
    for record, sequence in zip(dataset, sequences, strict=True):
        labels = tokenize_record(record, tokenizer)["labels"]
        assert sequence.learned == [label != IGNORE_INDEX for label in labels]
        assert 0 < sequence.learned_targets < len(sequence.tokens) - 1  # prompt not learned
    import tinker

    datums = data.batch_datums(tinker.types, sequences)
    total = sum(float(d.loss_fn_inputs["weights"].to_numpy().sum()) for d in datums)
    assert math.isclose(total, 1.0, rel_tol=1e-5)  # the summed loss is the batch's token mean
    first = datums[0]
    assert first.model_input.to_ints() == sequences[0].tokens[:-1]
    assert first.loss_fn_inputs["target_tokens"].tolist() == sequences[0].tokens[1:]


def test_sft_tokens_cuts_and_warnings_match_the_trl_backend(tiny_model_path: Path) -> None:
    from tunesdk_trl import data as trl_data

    tokenizer = data.load_tokenizer(str(tiny_model_path))
    rows = tiny_chat_data(4)
    rows.append({"messages": [{"role": "user", "content": "hi " * 40}, *rows[0]["messages"][1:]]})
    dataset = Dataset.load(rows)
    job = sft_job(tiny_model_path, max_seq_length=24)
    sequences, warnings = data.sft_sequences(dataset, tokenizer, job)
    trl_ds, trl_warnings = trl_data.sft_dataset(dataset, tokenizer, job)
    assert warnings == trl_warnings and len(warnings) == 2  # one cut, and it lost its answer
    assert [s.tokens for s in sequences] == trl_ds["input_ids"]
    learned = [[label != IGNORE_INDEX for label in labels] for labels in trl_ds["labels"]]
    assert [s.learned for s in sequences] == learned


def test_dpo_pairs_learn_only_the_responses(tiny_model_path: Path) -> None:
    tokenizer = data.load_tokenizer(str(tiny_model_path))
    [pair] = data.preference_pairs(
        Dataset.load(tiny_preference_data(1)), tokenizer, sft_job(tiny_model_path)
    )
    for side in (pair.chosen, pair.rejected):
        first = side.learned.index(True)
        assert not any(side.learned[:first]) and all(side.learned[first:-1] or [True])
    shared = pair.chosen.learned.index(True)
    assert pair.chosen.tokens[:shared] == pair.rejected.tokens[:shared]  # the same prompt


@pytest.mark.parametrize("name", ["linear", "cosine", "constant_with_warmup", "polynomial"])
def test_schedule_matches_transformers(name: str) -> None:
    import torch
    from transformers import get_scheduler

    total, ratio, peak = 20, 0.1, 2e-4
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=peak)
    reference = get_scheduler(
        name,
        optimizer,
        num_warmup_steps=schedule.warmup_steps(total, ratio),
        num_training_steps=total,
    )
    for step in range(total):
        ours = schedule.learning_rate(
            step, peak=peak, total_steps=total, warmup_ratio=ratio, scheduler=name
        )
        assert math.isclose(ours, optimizer.param_groups[0]["lr"], rel_tol=1e-9, abs_tol=1e-15)
        optimizer.step()
        reference.step()


def _loop(job: ts.Job, count: int, resumed: int = 0) -> Any:
    from types import SimpleNamespace

    from tunesdk_tinker.loops.common import Loop, Session, steps
    from tunesdk_tinker.plan import loop_settings

    per_epoch, total = steps(count, job.batch_size, job)
    session = Session(types=None, service=None, training=None, resumed_step=resumed)
    run: Any = SimpleNamespace(job=job)
    return Loop(run, loop_settings(job, "sft"), session, None, per_epoch, total)


def test_batches_reshuffle_each_epoch_and_a_resumed_run_skips_the_steps_done() -> None:
    job = sft_job("m", batch_size=4, epochs=3, max_steps=8)
    full = list(_loop(job, 10).batches(10, 4))
    assert [step for step, _ in full] == list(range(8))  # 3 per epoch, capped at 8
    epoch_one = sorted(i for _, batch in full[:3] for i in batch)
    assert epoch_one == list(range(10))
    assert [b for _, b in full[:3]] != [b for _, b in full[3:6]]  # a new order per epoch
    assert list(_loop(job, 10, resumed=5).batches(10, 4)) == full[5:]


def test_n_checkpoints_are_evenly_spaced() -> None:
    loop = _loop(sft_job("m", batch_size=1, max_steps=10, n_checkpoints=3), 10)
    assert [done for done in range(1, 11) if loop._checkpoint_due(done)] == [3, 7, 10]
    per_epoch = _loop(sft_job("m", batch_size=5, epochs=2, max_steps=None), 10)
    assert [d for d in range(1, 5) if per_epoch._checkpoint_due(d)] == [2, 4]


def test_grpo_advantages_are_normalized_per_group() -> None:
    from tunesdk_tinker.loops.grpo import advantages, score

    values = advantages([1.0, 0.0, 2.0, 2.0], group=2)
    assert values[0] == pytest.approx(1.0, abs=1e-3) and values[1] == pytest.approx(-1.0, abs=1e-3)
    assert values[2:] == [0.0, 0.0]  # a group that agrees teaches nothing

    def length(prompts: list[Any], completions: list[Any], **columns: Any) -> list[float]:
        return [float(len(c)) for c in completions]

    def answer(prompts: list[Any], completions: list[Any], **columns: Any) -> list[float | None]:
        return [
            1.0 if a == c else None for a, c in zip(columns["answer"], completions, strict=True)
        ]

    totals, means = score(
        [("length", length), ("answer", answer)],
        [1.0, 10.0],
        ["p", "p"],
        ["ab", "c"],
        {"answer": ["ab", "x"]},
    )
    assert totals == [12.0, 1.0] and means == {"length": 1.5, "answer": 1.0}


def test_checkpoint_paths_carry_their_step() -> None:
    assert normalize.step_of("tinker://abc:train:0/weights/step-12") == 12
    with pytest.raises(JobError, match="not a checkpoint of the tinker backend"):
        normalize.step_of("tinker://abc/weights/my-own")


# ---- runs against the offline server ---------------------------------------------------------


def test_dpo_reference_is_the_same_from_forward_and_from_a_base_sampler(
    tiny_model_path: Path, service_client: Any
) -> None:
    """A fresh run takes the reference from ``forward`` on the untrained adapter, a resumed one
    from a sampling client of the base model: both must be the base model's logprobs."""
    import tinker

    from tunesdk_tinker.loops import dpo
    from tunesdk_tinker.loops.common import Session

    tokenizer = data.load_tokenizer(str(tiny_model_path))
    pairs = data.preference_pairs(
        Dataset.load(tiny_preference_data(3)), tokenizer, sft_job(tiny_model_path)
    )
    training = service_client.create_lora_training_client(
        base_model=str(tiny_model_path), rank=4, seed=0
    ).result()
    session = Session(tinker.types, service_client, training)
    native = {"base_model": str(tiny_model_path)}
    fresh = dpo.reference(session, native, pairs, 2)
    session.resumed_step = 5
    resumed = dpo.reference(session, native, pairs, 2)
    assert len(fresh) == 6 and all(value < 0 for value in fresh)
    assert fresh == pytest.approx(resumed, rel=1e-4)


@pytest.mark.slow
def test_dpo_run_events_chat_and_download(
    tiny_model_path: Path, tinker_env: TinkerServer, tmp_path: Path
) -> None:
    job = ts.Job(
        model=str(tiny_model_path),
        data=tiny_preference_data(4),
        eval_data=tiny_preference_data(2, seed=1),
        method=ts.LoRA(r=4),
        batch_size=2,
        micro_batch_size=1,
        epochs=2,
        max_seq_length=64,
        learning_rate=5e-3,
        warmup_ratio=0.0,
    )
    result = job.run(backend="tinker", progress=False)
    events = result.events()
    progress = [e for e in events if isinstance(e, Progress)]
    assert [p.step for p in progress] == [1, 2, 3, 4]
    assert {p.total_steps for p in progress} == {4}
    assert math.isclose(progress[0].train_loss or 0, math.log(2), rel_tol=1e-4)  # π = ref
    assert (progress[-1].train_loss or 1) < math.log(2)  # the chosen answers gained
    assert progress[0].learning_rate == 5e-3 and progress[-1].epoch == 2.0
    evaluations = [e for e in events if isinstance(e, Evaluation)]
    assert [e.step for e in evaluations] == [2, 4]  # once per epoch
    assert "rewards/accuracies" in evaluations[-1].metrics
    checkpoints = [e for e in events if isinstance(e, Checkpoint)]
    assert [c.step for c in checkpoints] == [2, 4]
    assert all(str(c.path).startswith("tinker://") for c in checkpoints)
    model = result.model
    assert isinstance(model, ts.ProviderModel) and model.provider == "tinker"
    assert "/sampler_weights/final" in model.model_id
    answer = model.chat([{"role": "user", "content": "What does the cow say?"}], max_new_tokens=4)
    assert isinstance(answer, str)
    local = model.download(tmp_path / "adapter")
    assert local.kind == "adapter" and local.engine == "trl"
    config = json.loads((Path(local.path) / "adapter_config.json").read_text())
    assert config["r"] == 4 and ts.load_model(local.to_uri()).path == local.path


@pytest.mark.slow
def test_a_key_in_backend_options_reaches_the_worker_but_no_file(
    tiny_model_path: Path, tinker_env: TinkerServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "tml-only-in-options-0123456789"
    monkeypatch.delenv("TINKER_API_KEY")
    tinker_env.configure(api_keys=[key])  # the server accepts this key only
    try:
        job = sft_job(tiny_model_path, max_steps=1, backend_options={"tinker": {"api_key": key}})
        result = job.run(backend="tinker", progress=False)
    finally:
        tinker_env.configure(api_keys=None)
    assert result.status == "completed"
    files = [p for p in Path(result.run_dir).rglob("*") if p.is_file()]
    assert files and not [p for p in files if key in p.read_text(errors="ignore")]


@pytest.mark.slow
@pytest.mark.parametrize(
    "rows",
    [tiny_chat_data(12), tiny_preference_data(12)],
    ids=["sft", "dpo"],  # DPO's resumed run takes its reference from a base-model sampler
)
def test_cancel_saves_state_and_resume_continues_from_it(
    tiny_model_path: Path, tinker_env: TinkerServer, rows: list[dict[str, Any]]
) -> None:
    job = sft_job(tiny_model_path, data=rows, epochs=3)
    job = job.model_copy(update={"max_steps": None})  # 3 epochs of 3 steps
    run = job.submit("tinker")
    for event in run.events():
        if isinstance(event, Progress):
            run.cancel()
    assert run.status == "cancelled"
    cancelled = run.record.events()[-1]
    assert isinstance(cancelled, Cancelled) and cancelled.checkpoint
    saved = normalize.step_of(cancelled.checkpoint)
    last = [e for e in run.record.events() if isinstance(e, Progress)][-1]
    assert saved == last.step < 9

    resumed = job.submit("tinker", resume=run.run_id)
    events = list(resumed.events())
    assert isinstance(events[-1], Completed)
    steps = [e.step for e in events if isinstance(e, Progress)]
    assert steps == list(range(saved + 1, 10))
    assert any(isinstance(e, Log) and cancelled.checkpoint in e.message for e in events)


@pytest.mark.slow
def test_grpo_run_reports_rewards(tinker_model: str, tinker_env: TinkerServer) -> None:
    rows = [{"prompt": f"say {word}", "answer": "o"} for word in ("foo", "bar", "zoo", "moo")]
    job = ts.Job(
        # a name only the server knows: the tokenizer is the one it names (get_tokenizer)
        model=tinker_model,
        data=rows,
        rewards=[COUNT_O],
        method=ts.LoRA(r=4),
        batch_size=4,
        num_generations=2,
        max_completion_length=6,
        max_steps=2,
        seed=0,
    )
    result = job.run(backend="tinker", progress=False)
    progress = [e for e in result.events() if isinstance(e, Progress)]
    assert [p.step for p in progress] == [1, 2]
    for event in progress:
        assert event.reward_mean is not None and event.reward_std is not None
        assert event.rewards is not None and set(event.rewards) == {"count_o"}
        assert 0 < (event.completion_length or 0) <= 6
    assert "reward" in result.metrics
    assert any("get_tokenizer" in e.message for e in result.events() if isinstance(e, Log))


def test_the_package_cli_is_an_alias_of_tunesdk_emulator(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tunesdk_tinker import cli

    assert cli.main([]) == 2
    assert "tunesdk emulator tinker" in capsys.readouterr().err
