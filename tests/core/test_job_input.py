"""Job files and --set values from outside: alias bombs, bad YAML, bounded messages, shorthand,
did-you-mean, unknown backends, capability checks — each a clear error, never a hang or traceback."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import pytest

import tunesdk as ts
from tunesdk import registry
from tunesdk.backend import Capabilities
from tunesdk.errors import JobError, UnknownBackend
from tunesdk.simulated import SimulatedBackend
from tunesdk.store import RunStore


def _bomb(indent: str = "  ") -> str:
    """Nine levels of nine aliases: 9**9 (387 million) strings once expanded."""
    lines = [f"{indent}a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 9):
        name, prev = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{indent}{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.fixture
def job_dir(tmp_path: Path, data_file: Path) -> Path:
    folder = tmp_path / "jobs"
    folder.mkdir()
    (folder / "train.jsonl").write_text(data_file.read_text())
    (folder / "job.yaml").write_text("model: tiny/model\ndata: train.jsonl\nmax_steps: 4\n")
    return folder


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str):
    """The real entry point (`tunesdk.cli.main`): exit code, stdout, stderr."""
    from tunesdk.cli import main

    monkeypatch.setattr("sys.argv", ["tunesdk", *args])
    with pytest.raises(SystemExit) as info:
        main()
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


# ---- YAML from outside ---------------------------------------------------------------------


@pytest.mark.parametrize("where", ["model", "backend_options"])
def test_alias_bomb_is_refused_at_once(job_dir: Path, where: str) -> None:
    if where == "model":
        text = "data: train.jsonl\nbombs:\n" + _bomb() + "model: *i\n"
    else:
        text = "model: m\ndata: train.jsonl\nbackend_options:\n  simulated:\n" + _bomb("    ")
    path = job_dir / "bomb.yaml"
    path.write_text(text)
    started = time.monotonic()
    with pytest.raises(JobError) as info:
        ts.Job.from_yaml(path)
    assert time.monotonic() - started < 2
    assert "aliases" in str(info.value) and "bomb.yaml" in str(info.value)
    assert len(str(info.value)) < 400


def test_recursive_alias_is_refused(job_dir: Path) -> None:
    path = job_dir / "loop.yaml"
    path.write_text("model: m\ndata: train.jsonl\nbackend_options: &x {simulated: {me: *x}}\n")
    with pytest.raises(JobError, match="recursive"):
        ts.Job.from_yaml(path)


def test_small_anchors_and_aliases_still_work(job_dir: Path) -> None:
    path = job_dir / "anchors.yaml"
    path.write_text("model: &m tiny/model\ndata: train.jsonl\nname: *m\n")
    assert ts.Job.from_yaml(path).name == "tiny/model"


def test_alias_bomb_through_the_cli_exits_2(
    job_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = job_dir / "bomb.yaml"
    path.write_text("model: m\ndata: train.jsonl\nbackend_options:\n  simulated:\n" + _bomb("    "))
    code, _, err = run_main(monkeypatch, capsys, "plan", str(path), "-b", "simulated")
    assert code == 2 and "aliases" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("epochs=[1", "column 10"),
        ("epochs=!!python/name:os.system", "!!python"),
        ("epochs=!!python/object/apply:os.system [echo hi]", "!!python"),
        ("epochs", "not key=value"),
    ],
)
def test_bad_set_values_are_usage_errors_naming_the_position(
    job_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    item: str,
    expected: str,
) -> None:
    job = str(job_dir / "job.yaml")
    code, _, err = run_main(
        monkeypatch, capsys, "plan", job, "-b", "simulated", "--set", "seed=1", "--set", item
    )
    assert code == 2
    assert "--set #2" in err and expected in err
    assert "Traceback" not in err and "yaml." not in err


def test_huge_values_are_shown_bounded_in_errors(data_file: Path) -> None:
    with pytest.raises(JobError) as info:
        ts.Job(model="m", data=str(data_file), lr_scheduler="x" * 1_000_000)
    assert "lr_scheduler" in str(info.value)
    assert len(str(info.value)) < 500


# ---- errors start with the problem ------------------------------------------------------------


def test_errors_start_with_the_problem_not_the_class(job_dir: Path) -> None:
    path = job_dir / "bad.yaml"
    path.write_text("model: m\ndata: train.jsonl\nresources: {strategy: zero}\n")
    with pytest.raises(JobError) as info:
        ts.Job.from_yaml(path)
    text = str(info.value)
    assert text.startswith(f"{path}: resources.strategy: Input should be")
    assert "invalid" not in text and "Job:" not in text


def test_several_problems_are_listed_once_each(data_file: Path) -> None:
    with pytest.raises(JobError) as info:
        ts.Job.from_dict({"model": "m", "data": str(data_file), "epochs": 0, "lr": 1e-4})
    text = str(info.value)
    assert text.startswith("2 problems:")
    assert "epochs: " in text and "lr: unknown option (did you mean 'learning_rate'?)" in text


# ---- method shorthand and did-you-mean ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cls"), [("lora", ts.LoRA), ("qlora", ts.QLoRA), ("full", ts.Full)]
)
def test_method_shorthand_in_yaml_and_python(
    job_dir: Path, text: str, cls: type, data_file: Path
) -> None:
    path = job_dir / "short.yaml"
    path.write_text(f"model: m\ndata: train.jsonl\nmethod: {text}\n")
    assert type(ts.Job.from_yaml(path).method) is cls
    assert type(ts.Job(model="m", data=str(data_file), method=text).method) is cls
    assert type(ts.Job(model="m", data=str(data_file), method=cls).method) is cls


def test_method_mapping_without_kind_is_lora(data_file: Path) -> None:
    job = ts.Job.from_dict({"model": "m", "data": str(data_file), "method": {"r": 8}})
    assert type(job.method) is ts.LoRA and job.method.r == 8 and job.method.alpha == 16


@pytest.mark.parametrize(
    "method", [{"rank": 8}, {"kind": "lora", "rank": 8}, {"kind": "qlora", "lora_r": 8}]
)
def test_method_rank_suggests_r(data_file: Path, method: dict[str, object]) -> None:
    with pytest.raises(JobError) as info:
        ts.Job.from_dict({"model": "m", "data": str(data_file), "method": method})
    assert "did you mean 'r'?" in str(info.value)
    assert str(info.value).startswith("method.")


def test_misspelt_method_kind_suggests_the_right_one(data_file: Path) -> None:
    with pytest.raises(JobError) as info:
        ts.Job.from_dict({"model": "m", "data": str(data_file), "method": {"kind": "lorra"}})
    assert "unknown method 'lorra' (did you mean 'lora'?)" in str(info.value)
    assert "method: lora" in (info.value.fix or "")  # YAML syntax, not ts.LoRA()


# ---- job.validate: not pydantic's deprecated classmethod ---------------------------------------


def test_job_validate_checks_the_data_without_pydantic_warnings(
    make_job: Callable[..., ts.Job], tmp_path: Path
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reports = make_job().validate()
    assert set(reports) == {"data"} and reports["data"].ok
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n{nope\n')
    reports = make_job(data=str(bad)).validate("openai")
    assert not reports["data"].ok
    with pytest.raises(TypeError, match="from_dict"):
        ts.Job.validate({"model": "m"})  # type: ignore[arg-type]


# ---- unknown backends ------------------------------------------------------------------------


def test_unknown_backend_suggests_the_closest_name() -> None:
    with pytest.raises(UnknownBackend) as info:
        ts.get_backend("simulatd")
    assert info.value.suggestions == ["simulated"]
    assert "did you mean 'simulated'?" in (info.value.fix or "")
    assert isinstance(info.value, ts.BackendUnavailable)  # old `except` clauses still catch it


def test_unknown_backend_exits_2_with_did_you_mean(
    job_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(
        monkeypatch, capsys, "plan", str(job_dir / "job.yaml"), "-b", "simulatd"
    )
    assert code == 2
    assert "did you mean 'simulated'?" in err


def test_known_but_missing_backend_still_exits_3(
    job_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(registry.KNOWN_BACKENDS, "ghost", ("tunesdk-ghost", "local"))
    code, _, err = run_main(monkeypatch, capsys, "plan", str(job_dir / "job.yaml"), "-b", "ghost")
    assert code == 3 and "pip install tunesdk-ghost" in err


# ---- capabilities enforced by the core ----------------------------------------------------------


class LoRAOnly(SimulatedBackend):
    name = "lora-only"  # type: ignore[assignment]
    capabilities: ClassVar[Capabilities] = Capabilities(
        objectives=frozenset({"sft"}),
        methods=frozenset({"lora"}),
        unsupported={"full": "lora-only keeps the base frozen: full fine-tuning is not offered"},
    )


@pytest.fixture
def lora_only(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(registry._registered, "lora-only", LoRAOnly)
    monkeypatch.delitem(registry._instances, "lora-only", raising=False)
    return "lora-only"


def test_core_refuses_a_method_the_backend_lacks_in_its_own_words(
    make_job: Callable[..., ts.Job], lora_only: str
) -> None:
    with pytest.raises(JobError) as info:
        make_job(method=ts.Full()).plan(lora_only)
    assert str(info.value).startswith("job.method: lora-only keeps the base frozen")
    assert "method: lora" in (info.value.fix or "")
    with pytest.raises(JobError, match="cannot train prefix tuning"):  # generic wording
        make_job(method=ts.PrefixTuning()).plan(lora_only)
    with pytest.raises(JobError):
        make_job(method=ts.Full()).submit(lora_only)
    assert RunStore().list() == []  # refused before any run was created
    assert make_job().plan(lora_only).backend == "lora-only"


def test_core_refuses_an_objective_the_backend_lacks(
    make_job: Callable[..., ts.Job], lora_only: str
) -> None:
    with pytest.raises(JobError, match="cannot train objective 'dpo'") as info:
        make_job(objective="dpo").plan(lora_only)
    assert info.value.where == "job.objective"


def test_a_bad_set_of_a_secret_does_not_echo_it(
    job_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    item = "backend_options.simulated.api_key=[sk-canary-1234"
    code, out, err = run_main(
        monkeypatch, capsys, "plan", str(job_dir / "job.yaml"), "-b", "simulated", "--set", item
    )
    assert code == 2 and "--set #1" in err
    assert "sk-canary" not in err + out


class GPUOnlyLoRA(LoRAOnly):
    """Unusable here, like a GPU backend on a CPU machine: the method error must still win."""

    name = "gpu-only-lora"  # type: ignore[assignment]

    def check_job(self, job: ts.Job) -> ts.Check:
        return ts.Check(usable=False, reason="needs a CUDA GPU", fix="run it on a GPU machine")


def test_submit_reports_an_unsupported_method_as_the_same_job_error(
    make_job: Callable[..., ts.Job], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry._registered, "gpu-only-lora", GPUOnlyLoRA)
    with pytest.raises(JobError, match="full fine-tuning is not offered"):
        make_job(method=ts.Full()).submit("gpu-only-lora")
    with pytest.raises(ts.BackendUnavailable, match="CUDA"):
        make_job().submit("gpu-only-lora")
