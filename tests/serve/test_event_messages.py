"""The job events' status lines (``fine_tuning.jobs.list_events``) tell apart the tunesdk statuses
OpenAI's shape names alike: created, validating and uploading are all ``validating_files``, and a
log of "Status: validating_files" twice read like a repeated event."""

from __future__ import annotations

import tunesdk as ts
from tunesdk.serve.job_view import event_object


def test_statuses_before_queued_name_the_step_they_are_at() -> None:
    messages = [
        event_object(ts.StatusChanged(status=status))["message"]
        for status in ("created", "validating", "uploading")
    ]
    assert len(set(messages)) == 3, messages
    assert all(m.startswith("Status: validating_files (") for m in messages)


def test_other_statuses_keep_their_line_and_a_providers_detail_wins() -> None:
    assert event_object(ts.StatusChanged(status="running"))["message"] == "Status: running"
    queued = ts.StatusChanged(status="queued", provider_status="pending")
    assert event_object(queued)["message"] == "Status: queued (pending)"
    uploading = ts.StatusChanged(status="uploading", message="train.jsonl")
    assert event_object(uploading)["message"] == "Status: validating_files (train.jsonl)"
