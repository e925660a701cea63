"""Model URIs and checkpoint paths print exactly: rich's emoji codes are off in the CLI (a Tinker
path ``tinker://RUN:train:0/...`` holds ``:train:``, which rich would print as 🚋)."""

from __future__ import annotations

from collections.abc import Callable

import tunesdk as ts
from tunesdk.models import ProviderModel
from tunesdk.store import RunStore

Invoke = Callable[..., tuple[int, str, str]]  # the `invoke` fixture (tests/conftest.py)

MODEL_ID = "tinker://0123abcd:train:0/sampler_weights/final"


def test_status_and_logs_print_a_tinker_uri_unchanged(
    make_job: Callable[..., ts.Job], tunesdk_home: object, invoke: Invoke
) -> None:
    job = make_job()
    record = RunStore().create(job, job.plan("simulated"), "simulated")
    record.emit(ts.Checkpoint(step=3, path="tinker://0123abcd:train:0/weights/step-3"))
    record.emit(ts.Completed(model=ProviderModel(provider="tinker", model_id=MODEL_ID)))
    for command in (["status", record.run_id], ["logs", record.run_id]):
        code, out, err = invoke(command, width=200)
        assert code == 0, err
        assert "🚋" not in out + err
        assert f"tinker:{MODEL_ID}" in out + err, (command, out)
    _, out, _ = invoke(["logs", record.run_id], width=200)
    assert "tinker://0123abcd:train:0/weights/step-3" in out


def test_the_demo_console_prints_emoji_codes_as_text() -> None:
    from tunesdk.demo import console

    with console.capture() as captured:
        console.print(f"model: tinker:{MODEL_ID}")
    assert f"tinker:{MODEL_ID}" in captured.get()
