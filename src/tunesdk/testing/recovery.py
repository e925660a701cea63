"""The recovery suite: a managed backend finishes a launch its submitter never finished, once.

A provider package runs it against its emulator by subclassing `RecoveryContract` and giving the
facts through a ``recovery_facts`` fixture:

```python
import pytest
from tunesdk.testing import tiny_chat_data
from tunesdk.testing.recovery import RecoveryContract, RecoveryFacts

from tunesdk_acme.emulator import AcmeEmulator


class TestAcmeRecovery(RecoveryContract):
    @pytest.fixture
    def recovery_facts(self):
        return RecoveryFacts(
            "acme",
            job={"model": "acme/small", "data": tiny_chat_data(12), "epochs": 1},
            emulator=AcmeEmulator,
            settings={"seconds_per_step": 0.02},
            upload=("POST", "/v1/files"),      # the request that stores a file
            create=("POST", "/v1/jobs"),       # the request that creates the job
            stored_files=lambda emulator, key: len(emulator.state.files),
        )
```

Each case starts a fresh emulator and a private run store. A "dead submitter" is a launch allowed
one attempt per call whose answer to the upload (or the create) is lost — the emulator's
``commit_then_drop`` fault: the request takes effect, the answer never arrives — which leaves
exactly the state a process killed right after sending that request leaves. The cases:

- after a lost upload answer, and after a lost create answer, ``Run.attach(id).events()``
  finishes the launch: the run completes with one remote job and one stored file;
- ``cancel()`` on such a run ends it ``cancelled`` at once, with no remote job;
- a wrong key is refused by one ``GET`` before any data is sent (`AuthError` from ``submit``);
- attaching without a key raises `AuthError` and writes nothing to the run;
- 404-about-a-model, 400, 401, 402 and 503 answers are `ModelNotFound`, `InvalidRequest`,
  `AuthError`, `QuotaExceeded` and `ProviderError`, as for every provider.

This module imports pytest (the ``testing`` extra); ``tunesdk`` and ``tunesdk.testing`` do not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import tunesdk as ts
from tunesdk.events import Completed
from tunesdk.managed import ManagedBackend, RetryPolicy
from tunesdk.store import RunStore

if TYPE_CHECKING:
    from tunesdk.emulation import ProviderEmulator

#: the key the suite exports; the wrong-key case starts an emulator that accepts another one
KEY = "tunesdk-recovery-key-0123456789"
FAST_POLL = (0.02, 0.1)
FAST_RETRIES = RetryPolicy(6, 0.01, 0.05)


@dataclass(frozen=True)
class RecoveryFacts:
    """What a managed backend package tells the recovery suite."""

    backend: str
    """The registered backend name."""
    job: Mapping[str, Any]
    """A small valid job that completes in seconds on the emulator."""
    emulator: Callable[..., ProviderEmulator]
    """Makes a (not yet started) emulator from settings, e.g. the emulator class itself."""
    upload: tuple[str, str]
    """(method, path) of the request that stores a file; a path ending in ``/`` is a prefix."""
    create: tuple[str, str]
    """(method, path) of the request that creates the fine-tuning job (same rule)."""
    stored_files: Callable[[ProviderEmulator, str], int]
    """How many files (datasets) the emulated account holds, given the emulator and the key."""
    settings: Mapping[str, Any] = field(default_factory=dict)
    """Emulator settings (fast training)."""
    env: Mapping[str, str | None] = field(default_factory=dict)
    """More environment (a value of None removes the variable)."""


def _matches(path: str, rule: str) -> bool:
    return path.startswith(rule) if rule.endswith("/") else path == rule


class RecoveryHarness:
    """One case's emulator, environment and run store."""

    def __init__(
        self,
        facts: RecoveryFacts,
        emulator: ProviderEmulator,
        folder: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        self.facts = facts
        self.emulator = emulator
        self.monkeypatch = monkeypatch
        backend = ts.get_backend(facts.backend)
        assert isinstance(backend, ManagedBackend), f"{facts.backend} is not a managed backend"
        self.backend_type: type[ManagedBackend] = type(backend)
        env: dict[str, str | None] = {
            **emulator.env(KEY),
            "TUNESDK_HOME": str(folder / "home"),
            **facts.env,
        }
        for name, value in env.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        monkeypatch.setattr(self.backend_type, "poll_interval", FAST_POLL)
        self.retries(FAST_RETRIES)

    def retries(self, policy: RetryPolicy) -> None:
        self.monkeypatch.setattr(self.backend_type, "retry_policy", policy)

    def job(self) -> ts.Job:
        return ts.Job(**dict(self.facts.job))

    def backend(self) -> ManagedBackend:
        """A fresh instance (its own client cache, pointed at this case's emulator)."""
        return self.backend_type()

    def count(self, request: tuple[str, str]) -> int:
        method, rule = request
        return sum(
            1 for r in self.emulator.requests if r.method == method and _matches(r.path, rule)
        )

    def jobs(self) -> int:
        return len(self.emulator.jobs)

    def stored_files(self) -> int:
        return self.facts.stored_files(self.emulator, KEY)

    def cut_short(self, lost: tuple[str, str]) -> str:
        """A run whose submitter died right after sending ``lost``: its id."""
        method, rule = lost
        self.emulator.fault(
            kind="commit_then_drop", method=method, path=rule if rule.endswith("/") else rule + "$"
        )
        self.retries(RetryPolicy(1, 0.01, 0.01))
        backend = self.backend()
        job = self.job()
        record = RunStore().create(job, backend.plan(job), self.facts.backend)
        with pytest.raises(ts.ProviderError):
            backend.launch(record)
        self.retries(FAST_RETRIES)
        return record.run_id


class RecoveryContract:
    """The recovery cases; subclass it and provide a ``recovery_facts`` fixture."""

    @pytest.fixture
    def recovery_facts(self) -> RecoveryFacts:
        raise NotImplementedError("override the recovery_facts fixture in your test class")

    @pytest.fixture
    def harness(
        self, recovery_facts: RecoveryFacts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> Iterator[RecoveryHarness]:
        with recovery_facts.emulator(**recovery_facts.settings) as emulator:
            yield RecoveryHarness(recovery_facts, emulator, tmp_path, monkeypatch)

    @pytest.mark.parametrize("lost", ["upload", "create"])
    def test_a_launch_cut_short_finishes_with_one_job(
        self, harness: RecoveryHarness, lost: str
    ) -> None:
        request = harness.facts.upload if lost == "upload" else harness.facts.create
        run_id = harness.cut_short(request)
        assert ts.Run.attach(run_id).status == "uploading"

        events = list(ts.Run.attach(run_id).events(timeout=30))

        assert isinstance(events[-1], Completed), f"the run ended with {events[-1]!r}"
        assert harness.jobs() == 1, f"{harness.jobs()} remote jobs for one run"
        assert harness.count(harness.facts.create) == 1, "the create was sent again"
        assert harness.stored_files() == 1, f"{harness.stored_files()} files for one run"

    def test_cancel_before_any_job_is_immediate(self, harness: RecoveryHarness) -> None:
        run = ts.Run.attach(harness.cut_short(harness.facts.upload))
        run.cancel(timeout=5)  # a run that waited for a provider job would still be uploading
        assert run.status == "cancelled" and harness.jobs() == 0

    def test_a_wrong_key_sends_no_data(
        self, recovery_facts: RecoveryFacts, harness: RecoveryHarness
    ) -> None:
        settings = {**recovery_facts.settings, "api_keys": {"tunesdk-the-right-key-01234567"}}
        with recovery_facts.emulator(**settings) as strict:
            for name, value in strict.env(KEY).items():
                harness.monkeypatch.setenv(name, value)
            with pytest.raises(ts.AuthError):
                harness.job().submit(recovery_facts.backend)
            sent = [(r.method, r.status) for r in strict.requests]
        assert sent == [("GET", 401)], f"requests before the key was refused: {sent}"

    def test_attaching_without_a_key_is_an_auth_error(self, harness: RecoveryHarness) -> None:
        run = harness.job().submit(harness.facts.backend)
        harness.monkeypatch.delenv(harness.backend_type.api_key_env)
        seen = len(run.record.events())
        with pytest.raises(ts.AuthError, match=r"(?i)no .*API key"):
            ts.Run.attach(run.run_id).wait(timeout=10)
        assert len(run.record.events()) == seen, "attaching without a key wrote to the run"

    @pytest.mark.parametrize(
        ("status", "message", "kind"),
        [
            (404, "The model 'nope' does not exist", ts.ModelNotFound),
            (400, "invalid parameter n_epochs", ts.InvalidRequest),
            (401, "invalid key", ts.AuthError),
            (402, "out of credit", ts.QuotaExceeded),
            (503, "busy", ts.ProviderError),
        ],
    )
    def test_one_error_hierarchy_for_every_provider(
        self, harness: RecoveryHarness, status: int, message: str, kind: type[ts.ProviderError]
    ) -> None:
        backend = harness.backend()
        job = harness.job()
        record = RunStore().create(job, backend.plan(job), harness.facts.backend)
        harness.emulator.fault(status=status, message=message, times=10)
        with pytest.raises(ts.ProviderError) as caught:
            backend.retrying(lambda: backend.verify_credentials(record))
        assert type(caught.value) is kind, f"{status} became {type(caught.value).__name__}"
        assert caught.value.status == status and caught.value.provider == harness.facts.backend


__all__ = ["KEY", "RecoveryContract", "RecoveryFacts", "RecoveryHarness"]
