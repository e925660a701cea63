"""KTO (unpaired preferences) and ORPO (pairs, no reference model) train the tiny model on CPU."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tunesdk as ts
from tunesdk.events import Progress
from tunesdk.store import RunRecord
from tunesdk.testing import tiny_job, tiny_preference_data
from tunesdk_trl import TRLBackend

MakeRecord = Callable[[ts.Job], RunRecord]


def kto_rows(n: int = 16) -> list[dict[str, Any]]:
    """Each preference pair as two KTO rows: the chosen answer desirable, the rejected not."""
    rows: list[dict[str, Any]] = []
    for pair in tiny_preference_data(n // 2):
        rows.append({"prompt": pair["prompt"], "completion": pair["chosen"], "label": True})
        rows.append({"prompt": pair["prompt"], "completion": pair["rejected"], "label": False})
    return rows


def losses(record: RunRecord) -> list[float]:
    return [
        e.train_loss
        for e in record.events()
        if isinstance(e, Progress) and e.train_loss is not None
    ]


def test_kto_is_inferred_planned_and_trains_an_adapter(
    tiny_model_path: Path, make_record: MakeRecord
) -> None:
    job = tiny_job(tiny_model_path, data=kto_rows(), epochs=1, batch_size=4)
    assert job.infer_objective() == "kto"
    plan = job.plan("trl")
    assert plan.native["trainer"] == "KTOTrainer" and plan.native["config"]["beta"] == 0.1
    record = make_record(job)
    handle = TRLBackend().train(record)
    values = losses(record)
    assert len(values) == 4 and all(v == v for v in values)  # no NaN
    assert handle.kind == "adapter" and Path(handle.path, "adapter_config.json").exists()


def test_orpo_is_never_inferred_and_trains_on_pairs(
    tiny_model_path: Path, make_record: MakeRecord
) -> None:
    pairs = tiny_preference_data(16)
    assert tiny_job(tiny_model_path, data=pairs).infer_objective() == "dpo"
    job = tiny_job(tiny_model_path, data=pairs, objective="orpo", epochs=2, batch_size=4)
    plan = job.plan("trl")
    assert (plan.native["trainer"], plan.native["trainer_module"]) == (
        "ORPOTrainer",
        "trl.experimental.orpo",
    )
    record = make_record(job)
    TRLBackend().train(record)
    values = losses(record)
    assert len(values) == 8
    assert sum(values[-2:]) / 2 < sum(values[:2]) / 2


def test_kto_and_orpo_refuse_the_wrong_data(tiny_model_path: Path) -> None:
    with pytest.raises(ts.DataError, match="KTO trains on prompt/completion/label"):
        tiny_job(tiny_model_path, objective="kto").plan("trl")
    with pytest.raises(ts.DataError, match="ORPO trains on preference pairs"):
        tiny_job(tiny_model_path, data=kto_rows(), objective="orpo").plan("trl")
