"""One finished run per backend, followed by the submitter and by a second, attached Run object
at the same time: events, the Result, the model handle and chat."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

import tunesdk as ts
from tunesdk.events import Completed, Event

if TYPE_CHECKING:
    from conftest import Harness


@dataclass
class Followed:
    run: ts.Run
    events: list[Event]
    attached: list[Event]
    result: ts.Result


@pytest.fixture(scope="module")
def followed(harness: Harness) -> Followed:
    run = harness.job().submit(harness.name)
    attached = ts.Run.attach(run.run_id)
    with ThreadPoolExecutor(max_workers=1) as pool:
        other = pool.submit(lambda: list(attached.events()))
        events = list(run.events())
        seen_by_other = other.result(timeout=120)
    return Followed(run, events, seen_by_other, run.wait(timeout=120))


def test_events_are_numbered_from_one_without_gaps(followed: Followed) -> None:
    assert [e.seq for e in followed.events] == list(range(1, len(followed.events) + 1))


def test_every_event_carries_the_run_id(followed: Followed) -> None:
    assert {e.run_id for e in followed.events} == {followed.run.run_id}


def test_exactly_one_terminal_event_and_it_is_the_completion(followed: Followed) -> None:
    terminal = [e for e in followed.events if e.terminal]
    assert len(terminal) == 1
    assert terminal[0] is followed.events[-1]
    assert isinstance(terminal[0], Completed)
    assert followed.run.status == "completed"


def test_an_attached_run_sees_the_same_events_none_twice(followed: Followed) -> None:
    assert [e.model_dump() for e in followed.attached] == [e.model_dump() for e in followed.events]
    later = ts.Run.attach(followed.run.run_id)
    assert [e.seq for e in later.events()] == [e.seq for e in followed.events]


def test_wait_returns_a_result_with_metrics(followed: Followed) -> None:
    result = followed.result
    completed = followed.events[-1]
    assert isinstance(completed, Completed)
    assert result.status == "completed" and result.run_id == followed.run.run_id
    assert result.model == completed.model
    assert result.metrics, "the Result has no metrics"
    assert all(isinstance(value, float) for value in result.metrics.values())


def test_the_model_handle_round_trips_through_its_uri(followed: Followed) -> None:
    model = followed.result.model
    assert model is not None
    loaded = ts.load_model(model.to_uri())
    assert loaded.to_uri() == model.to_uri()
    # the URI names the model; what it was tuned from and by which job is not part of it
    metadata = {"base_model", "job_id"}
    assert loaded.model_dump(exclude=metadata) == model.model_dump(exclude=metadata)


def test_chat_on_the_result(harness: Harness, followed: Followed) -> None:
    assert followed.result.model is not None
    served = harness.servable(followed.result.model)
    question = "What does the cow say?"
    for model in (served, ts.load_model(served.to_uri())):
        answer = model.chat([{"role": "user", "content": question}], **harness.generation)
        assert isinstance(answer, str) and answer
        if harness.echoes:
            assert question in answer
