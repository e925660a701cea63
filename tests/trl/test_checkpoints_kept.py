"""Checkpoints kept on disk: the last 2 by default, ``n_checkpoints`` when set (issue 13)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import tunesdk as ts
from tunesdk.events import Checkpoint
from tunesdk.store import RunRecord
from tunesdk.testing import tiny_chat_data, tiny_job
from tunesdk_trl import TRLBackend


def test_the_plan_keeps_the_last_two_checkpoints_by_default() -> None:
    plan = TRLBackend().plan(ts.Job(model="m", data=tiny_chat_data(4)))
    assert plan.native["config"]["save_total_limit"] == 2
    row = next(row for row in plan.rows if row.option == "n_checkpoints")
    assert row.status == "defaulted" and "last 2 kept" in (row.reason or "")
    chosen = TRLBackend().plan(ts.Job(model="m", data=tiny_chat_data(4), n_checkpoints=5))
    assert chosen.native["config"]["save_total_limit"] == 5


def test_a_run_keeps_only_the_last_two_checkpoint_folders(
    tiny_model_path: Path, make_record: Callable[[ts.Job], RunRecord]
) -> None:
    record = make_record(tiny_job(tiny_model_path, data=tiny_chat_data(8), epochs=3))
    TRLBackend().train(record)
    saved = [e.step for e in record.events() if isinstance(e, Checkpoint)]
    assert saved == [2, 4, 6]  # one per epoch
    folders = sorted(p.name for p in (record.outputs_dir / "checkpoints").glob("checkpoint-*"))
    assert folders == ["checkpoint-4", "checkpoint-6"]
