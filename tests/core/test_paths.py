"""Local paths resolved once (job file's folder for YAML, cwd for Python) and base models that
fail at once when they cannot be loaded here."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.errors import JobError
from tunesdk.paths import require_model, resolve_job_paths
from tunesdk.run import Run

ROW = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


def _job_folder(root: Path, model: str = "tiny-llama") -> Path:
    folder = root / "first-job"
    (folder / model).mkdir(parents=True)
    (folder / model / "config.json").write_text("{}", encoding="utf-8")
    (folder / "train.jsonl").write_text(json.dumps(ROW) + "\n", encoding="utf-8")
    (folder / "tpl.jinja").write_text("{{ messages }}", encoding="utf-8")
    (folder / "job.yaml").write_text(
        f"model: {{name: {model}, ids: {{together: Qwen/Qwen2.5-0.5B-Instruct}}}}\n"
        "data: train.jsonl\noutput_dir: out\nchat_template: tpl.jinja\n",
        encoding="utf-8",
    )
    return folder


def _enter_job_folder(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`_job_folder`, made the working directory."""
    folder = _job_folder(root)
    monkeypatch.chdir(folder)
    return folder


def _enter_new_folder(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder.mkdir()
    monkeypatch.chdir(folder)


def test_yaml_paths_resolve_against_the_job_folder_from_the_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _job_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    job = ts.Job.from_yaml("first-job/job.yaml")
    assert job.model_name == str(folder / "tiny-llama")
    assert job.model_for("together") == "Qwen/Qwen2.5-0.5B-Instruct"
    assert job.data == str(folder / "train.jsonl")
    assert job.output_dir == str(folder / "out")
    assert job.chat_template == str(folder / "tpl.jinja")
    assert "output_dir" in job.options_set() and "eval_data" not in job.options_set()


def test_yaml_in_the_cwd_stores_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _enter_job_folder(tmp_path, monkeypatch)
    job = ts.Job.from_yaml("job.yaml")
    assert Path(job.data).is_absolute() and Path(job.model_name).is_absolute()


def test_python_jobs_resolve_against_the_cwd_at_submit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _enter_job_folder(tmp_path, monkeypatch)
    run = ts.Job(model="tiny-llama", data="train.jsonl", max_steps=2).submit("simulated")
    run.wait(timeout=60)
    stored = json.loads((run.record.dir / "job.json").read_text("utf-8"))
    assert stored["model"] == str(folder / "tiny-llama")
    assert stored["data"] == str(folder / "train.jsonl")
    monkeypatch.chdir(tmp_path)  # the stored job means the same files from anywhere
    assert Run.attach(run.run_id).record.job.data == str(folder / "train.jsonl")


def test_hub_and_provider_ids_and_urls_stay_as_written(tmp_path: Path) -> None:
    for name in ("Qwen/Qwen2.5-0.5B-Instruct", "accounts/fireworks/models/llama-v3p1-8b", "gpt2"):
        job = ts.Job(model=name, data=[ROW])
        assert resolve_job_paths(job, tmp_path).model_name == name
    job = ts.Job(model="gpt2", data="s3://bucket/train.jsonl")
    assert resolve_job_paths(job, tmp_path).data == "s3://bucket/train.jsonl"


def test_a_missing_model_written_as_a_path_is_named_in_full(tmp_path: Path) -> None:
    job = ts.Job(model="./nowhere", data=[ROW])
    assert resolve_job_paths(job, tmp_path).model_name == str(tmp_path / "nowhere")


def test_resolving_is_idempotent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _job_folder(tmp_path)
    job = ts.Job.from_yaml(folder / "job.yaml")
    monkeypatch.chdir(tmp_path)
    assert resolve_job_paths(job) is job


def test_offline_and_uncached_fails_at_once_naming_what_was_tried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    with pytest.raises(JobError) as info:
        require_model("tiny-llama")
    assert time.monotonic() - started < 1
    text = str(info.value)
    assert str(tmp_path / "tiny-llama") in text and str(tmp_path / "cache") in text
    assert "HF_HUB_OFFLINE" in text


def test_a_cached_model_is_fine_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    snapshot = tmp_path / "models--org--tiny" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}", encoding="utf-8")
    require_model("org/tiny")


def test_an_unreachable_hub_fails_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(JobError, match="cannot be reached"):
        require_model("org/not-here")


def test_trl_submit_of_an_unloadable_model_fails_before_a_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("tunesdk_trl")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    with pytest.raises(JobError, match="neither a local folder"):
        ts.Job(model="tiny-llama", data=[ROW] * 4).submit("trl")
    assert time.monotonic() - started < 10
    assert not list((Path(ts.__file__).parent).glob("never"))  # nothing launched


def test_an_adapter_whose_base_cannot_be_found_fails_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("tunesdk_trl")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    ts.LocalModel(path=str(adapter), base_model="tiny-llama").save_metadata()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(JobError, match="base model of"):
        ts.load_model(f"local:{adapter}").chat([{"role": "user", "content": "hi"}])


@pytest.mark.slow
def test_trl_run_from_the_parent_folder_then_chat_from_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The getting-started flow: the job file's relative model and data resolve against its
    folder; the adapter names its base absolutely, so it loads from anywhere."""
    pytest.importorskip("tunesdk_trl")
    from tunesdk.testing import tiny_chat_data, tiny_model

    folder = tmp_path / "first-job"
    folder.mkdir()
    tiny_model(folder / "tiny-llama")
    rows = tiny_chat_data(8)
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "job.yaml").write_text(
        "model: {name: tiny-llama}\ndata: train.jsonl\nmax_steps: 2\nbatch_size: 4\n"
        "max_seq_length: 64\n"
    )
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    result = ts.Job.from_yaml("first-job/job.yaml").run("trl", progress=False)
    assert result.model is not None
    adapter = Path(result.model.path)
    base = str(folder / "tiny-llama")
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == base
    assert json.loads((adapter / "tunesdk_model.json").read_text())["base_model"] == base
    _enter_new_folder(tmp_path / "elsewhere", monkeypatch)
    reply = ts.load_model(result.model.to_uri()).chat(
        [{"role": "user", "content": "What does the owl say?"}], max_new_tokens=2
    )
    assert isinstance(reply, str)


def test_resume_from_another_folder_finds_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _enter_job_folder(tmp_path, monkeypatch)
    first = ts.Job(model="tiny/model", data="train.jsonl", max_steps=4).submit("simulated")
    first.wait(timeout=60)
    _enter_new_folder(tmp_path / "elsewhere", monkeypatch)
    stored = Run.attach(first.run_id).record.job
    again = stored.submit("simulated", resume=first.run_id)
    assert again.wait(timeout=60).status == "completed"


def test_axolotl_export_names_the_base_model_absolutely(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("tunesdk_axolotl")
    import yaml

    folder = _enter_job_folder(tmp_path, monkeypatch)
    job = ts.Job(model="tiny-llama", data="train.jsonl", max_steps=2)
    entry = ts.get_backend("axolotl").export(job, tmp_path / "export")
    config = yaml.safe_load(Path(entry).read_text())
    assert config["base_model"] == str(folder / "tiny-llama")


def test_a_chat_template_file_is_read_by_the_engines(tmp_path: Path) -> None:
    from tunesdk.paths import chat_template_text

    folder = _job_folder(tmp_path)
    job = ts.Job.from_yaml(folder / "job.yaml")
    assert chat_template_text(job.chat_template) == "{{ messages }}"
    assert chat_template_text("chatml") == "chatml"
    pytest.importorskip("tunesdk_axolotl")
    from tunesdk_axolotl.config import chat_template_keys

    assert chat_template_keys(job.chat_template)["chat_template_jinja"] == "{{ messages }}"


def test_a_missing_chat_template_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "job.yaml").write_text("model: gpt2\ndata: t.jsonl\nchat_template: nope.jinja\n")
    with pytest.raises(JobError, match=r"no chat template file at 'nope\.jinja'"):
        ts.Job.from_yaml(tmp_path / "job.yaml")
