"""The overfitting warning is a Log event emitted by the run store while the run is going."""

from __future__ import annotations

import pytest

import tunesdk as ts
from tunesdk.backend import Backend, Plan, PlanBuilder
from tunesdk.events import Completed, Evaluation, Event, Log, Progress, StatusChanged
from tunesdk.job import Job
from tunesdk.registry import register_backend
from tunesdk.store import RunRecord, RunStore

OVERFIT_EVALS = {10: 1.5, 20: 1.3, 30: 1.35, 40: 1.45, 50: 1.6, 60: 1.8}


def overfitting_curve(last_step: int = 60) -> list[Event]:
    events: list[Event] = []
    for step in range(1, last_step + 1):
        events.append(Progress(step=step, total_steps=60, train_loss=2.0 - 0.02 * step))
        if step in OVERFIT_EVALS:
            events.append(Evaluation(step=step, eval_loss=OVERFIT_EVALS[step]))
    return events


def new_record() -> RunRecord:
    job = Job(model="tiny/model", data=[{"prompt": "a", "completion": "b"}], max_steps=60)
    plan = PlanBuilder(job, "simulated", "local").build()
    return RunStore().create(job, plan, "simulated")


def warnings_in(events: list[Event]) -> list[Log]:
    return [e for e in events if isinstance(e, Log) and e.level == "warning"]


def test_emit_appends_one_warning_right_after_the_confirming_evaluation() -> None:
    record = new_record()
    for event in overfitting_curve():
        record.emit(event)
    events = record.events()
    [warning] = warnings_in(events)
    before = events[events.index(warning) - 1]
    assert isinstance(before, Evaluation) and before.step == 40  # 2nd rise, +11.5 % over best
    assert warning.seq == before.seq + 1
    assert "step 20" in warning.message and "overfitting" in warning.message
    assert [e.seq for e in events] == list(range(1, len(events) + 1))  # no gap, no repeat


def test_a_healthy_run_gets_no_warning() -> None:
    record = new_record()
    for step in range(1, 61):
        record.emit(Progress(step=step, train_loss=2.0 - 0.02 * step))
        if step % 10 == 0:
            record.emit(Evaluation(step=step, eval_loss=2.0 - 0.015 * step))
    assert warnings_in(record.events()) == []


def test_a_detector_failure_never_breaks_emit(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(state: dict, event: Event) -> None:
        raise RuntimeError("detector bug")

    monkeypatch.setattr("tunesdk.evaluation.monitor.watch_overfitting", broken)
    record = new_record()
    for event in overfitting_curve():
        assert record.emit(event) is not None
    assert warnings_in(record.events()) == []


class OverfittingProvider(Backend):
    """A managed backend whose remote job reports an overfitting curve, a chunk per poll."""

    name = "overfitprovider"
    kind = "managed"
    poll_interval = (0.01, 0.02)

    def plan(self, job: Job) -> Plan:
        return PlanBuilder(job, self.name, self.kind).build()

    def launch(self, run: RunRecord) -> None:
        run.emit(StatusChanged(status="running"))
        run.update_state(cursor=0)

    def poll(self, run: RunRecord) -> list[Event]:
        events = overfitting_curve()
        cursor = run.state["cursor"]
        run.update_state(cursor=cursor + 15)
        chunk = [e.model_copy(update={"source_id": f"e{i}"}) for i, e in enumerate(events)]
        chunk = chunk[cursor : cursor + 15]
        if cursor + 15 >= len(events):
            model = ts.ProviderModel(provider=self.name, model_id="ft-1")
            chunk.append(Completed(model=model, source_id="done"))
        return chunk


def test_the_warning_arrives_during_a_managed_run_before_it_completes() -> None:
    register_backend(OverfittingProvider.name, OverfittingProvider)
    job = Job(model="tiny/model", data=[{"prompt": "a", "completion": "b"}], max_steps=60)
    seen: list[Event] = []
    result = job.run(backend=OverfittingProvider.name, progress=False, on_event=seen.append)
    # the plan drops max_steps, so submit also warns about that: count the overfitting warning only
    [warning] = [w for w in warnings_in(seen) if "overfitting" in w.message]
    assert seen.index(warning) < len(seen) - 1 and isinstance(seen[-1], Completed)
    assert ts.detect_overfitting(result.events()) is not None
