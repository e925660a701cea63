"""The backend contract suite: the behaviour every tunesdk backend promises, as pytest test classes.

A backend package runs it from its own tests: subclass `BackendContract` (or only the groups
that apply) and give it the facts about your backend through a class-scoped ``contract_facts``
fixture:

```python
import pytest
from tunesdk.testing import tiny_chat_data
from tunesdk.testing.contract import BackendContract, BackendFacts

from tunesdk_acme.emulator import AcmeEmulator


class TestAcmeContract(BackendContract):
    @pytest.fixture(scope="class")
    @classmethod
    def contract_facts(cls):
        with AcmeEmulator(seconds_per_step=0.02) as emulator:  # offline copy of the API
            yield BackendFacts(
                "acme",
                job={"model": "acme/small", "data": tiny_chat_data(12), "epochs": 2},
                dropped={"weight_decay": 0.05},     # one option acme cannot honour
                emulator=emulator,
                api_key="acme-test-key-0123456789",
            )
```

The cases, grouped one class per concern (each group can be used on its own):

- `PlanContract`: ``plan()`` is pure, has one row per option with its fate; strict mode turns a
  dropped option into `UnsupportedOption` before anything is spent.
- `DataContract`: malformed data is a `DataError` naming file and line, before any upload or
  worker start.
- `LifecycleContract`: one run followed by its submitter and an attached `Run` at the same time:
  gap-free ``seq`` from 1, one run id, exactly one terminal event, the same events for every
  follower, a `Result` with metrics, the model handle's URI round trip, and chat.
- `CancelContract`: ``cancel()`` ends a live run ``cancelled`` with one terminal event.
- `ReattachContract`: ``Run.attach`` from a fresh process after the submitter was SIGKILLed
  mid-run follows it to the end, losing and repeating nothing (and creates no second job).
- `SecretsContract` (managed backends): API keys never reach the run folder.

Cases that a backend's facts rule out (``cancel=False``, ``chat=False``, a local backend for
the secrets case) are skipped with the reason. Every class is scoped: the facts fixture, the
emulator and the lifecycle run are set up once per test class, in a private run store.

A **launcher** (`tunesdk.launchers`: where a local backend's worker runs) runs the same cases
with a local backend: put ``"resources": {"launcher": NAME}`` and its ``"launcher_options"`` in
``BackendFacts.job`` (tests/launchers/test_ray.py runs the lifecycle, data and plan cases through
the Ray launcher on a cluster at 127.0.0.1). The lifecycle cases then check the launcher's
promises: events relayed once with a gap-free ``seq``, one terminal event, the same events for an
attached follower, and a model handle usable on this machine.

This module imports pytest (the ``testing`` extra); ``tunesdk`` and ``tunesdk.testing`` do not.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import tunesdk as ts
from tunesdk.errors import DataError, RunCancelled, UnsupportedOption
from tunesdk.events import Cancelled, Completed, Event, Progress
from tunesdk.testing import tiny_chat_data

if TYPE_CHECKING:
    from tunesdk.emulation import ProviderEmulator

#: seconds between polls while the suite follows a run (emulators answer in milliseconds);
#: exported as ``TUNESDK_POLL_INTERVAL``, so worker and child processes poll as fast
POLL_INTERVAL = "0.02"


@dataclass(frozen=True)
class BackendFacts:
    """What a backend package tells the contract suite about its backend.

    ``job`` and ``long_job`` are Job fields; a list of rows given as ``data`` or ``eval_data``
    is written to a JSONL file first (as a user's file on disk).
    """

    backend: str
    """The registered backend name (``job.run(backend=...)``)."""
    job: Mapping[str, Any]
    """A small valid job that finishes in seconds here (on the emulator or the tiny model)."""
    dropped: Mapping[str, Any]
    """Exactly one option the backend cannot honour, as Job fields (``{"weight_decay": 0.1}``)."""
    long_job: Mapping[str, Any] = field(default_factory=dict)
    """Job fields overriding ``job`` for a run long enough to cancel mid-way."""
    emulator: ProviderEmulator | None = None
    """The provider's emulator, started (managed backends); the suite exports its ``env()``."""
    api_key: str | None = None
    """The key given to ``emulator.env()``; the secrets case looks for it in the run folder."""
    env: Mapping[str, str | None] = field(default_factory=dict)
    """More environment for the class (a value of None removes the variable)."""
    python_path: Sequence[str | Path] = ()
    """Folders put first on ``sys.path`` and on the worker processes' ``PYTHONPATH`` (a fake
    engine, a plugin that is not installed)."""
    cancel: bool = True
    """A run of ``long_job`` can be cancelled while it trains."""
    reattach: bool = True
    """A run outlives its SIGKILLed submitter and can be attached from another process."""
    chat: bool = True
    """The resulting model answers ``chat()``."""
    chat_echoes: bool = True
    """Chat quotes the question back (emulated providers do; a tiny model says anything)."""
    generation: Mapping[str, Any] = field(default_factory=dict)
    """Keyword arguments for ``chat()`` (local engines take ``generate()`` options)."""
    serve: Callable[[ts.ModelHandle], ts.ModelHandle] | None = None
    """Turns a trained model into one that answers chat (e.g. deploy it); None: it already does."""
    slow_seconds_per_step: float = 0.2
    """Seconds per emulated step while a case needs a run that lasts (cancel, reattach)."""


class ContractHarness:
    """The backend under test, set up for one test class: its facts, a private run store and
    folder, and what the cases ask of it."""

    def __init__(self, facts: BackendFacts, folder: Path) -> None:
        self.facts = facts
        self.name = facts.backend
        self.folder = folder
        self.home = folder / "home"
        self.emulator = facts.emulator
        self.api_key = facts.api_key

    # ---- environment ---------------------------------------------------------------------------

    def environment(self) -> dict[str, str | None]:
        """The variables the class runs with (None: removed)."""
        env: dict[str, str | None] = {
            "TUNESDK_HOME": str(self.home),
            "TUNESDK_POLL_INTERVAL": POLL_INTERVAL,
            "HF_HUB_OFFLINE": "1",
        }
        if self.emulator is not None:
            env |= self.emulator.env(*([self.api_key] if self.api_key else []))
        env |= dict(self.facts.env)
        return env

    def apply(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Set the environment, ``python_path`` and fast retries, undone with ``monkeypatch``."""
        for name, value in self.environment().items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        if self.facts.python_path:
            paths = [str(p) for p in self.facts.python_path]
            for path in reversed(paths):
                monkeypatch.syspath_prepend(path)
            inherited = os.environ.get("PYTHONPATH", "").split(os.pathsep)
            kept = [p for p in inherited if p and p not in paths]
            monkeypatch.setenv("PYTHONPATH", os.pathsep.join([*paths, *kept]))

    def speed_up_retries(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Managed backends retry transient errors after milliseconds, not seconds."""
        from tunesdk.managed import ManagedBackend, RetryPolicy
        from tunesdk.registry import get_backend

        backend = get_backend(self.name)
        if isinstance(backend, ManagedBackend):
            monkeypatch.setattr(type(backend), "retry_policy", RetryPolicy(6, 0.01, 0.05))

    # ---- what the cases use ----------------------------------------------------------------------

    @property
    def managed(self) -> bool:
        from tunesdk.registry import get_backend

        return get_backend(self.name).kind == "managed"

    def job(self, rows: list[dict[str, Any]] | None = None, **fields: Any) -> ts.Job:
        """A small valid job for this backend; ``rows`` replace its data, ``fields`` override."""
        if rows is not None:
            fields["data"] = str(self.write("train.jsonl", rows))
        merged = dict(self.facts.job) | fields
        for name in ("data", "eval_data"):
            if isinstance(merged.get(name), list):
                merged[name] = str(self._rows_file(name, merged[name]))
        return ts.Job(**merged)

    def long_job(self) -> ts.Job:
        """A job whose run lasts long enough to cancel mid-way."""
        return self.job(**self.facts.long_job)

    def write(self, name: str, rows: list[dict[str, Any]]) -> Path:
        """Write ``rows`` as JSONL to ``name`` in the class folder."""
        path = self.folder / name
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        return path

    def _rows_file(self, field_name: str, rows: list[dict[str, Any]]) -> Path:
        text = json.dumps(rows, sort_keys=True)
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        path = self.folder / f"{field_name}-{digest}.jsonl"
        return path if path.exists() else self.write(path.name, rows)

    def spent(self) -> int:
        """Requests the provider received plus runs created (a local worker starts per run)."""
        from tunesdk.store import RunStore

        requests = len(self.emulator.requests) if self.emulator is not None else 0
        return requests + len(RunStore().list())

    def remote_jobs(self) -> int:
        """Fine-tuning jobs the emulated account holds (0 without an emulator)."""
        return len(self.emulator.jobs) if self.emulator is not None else 0

    def servable(self, model: ts.ModelHandle) -> ts.ModelHandle:
        """A handle that answers chat (``facts.serve``, e.g. a deployment)."""
        return self.facts.serve(model) if self.facts.serve else model

    @contextmanager
    def slow(self) -> Iterator[None]:
        """Emulated training slow enough that a cancel or a kill lands mid-run."""
        if self.emulator is None:
            yield
            return
        before = float(self.emulator.settings.seconds_per_step)
        self.emulator.configure(seconds_per_step=self.facts.slow_seconds_per_step)
        try:
            yield
        finally:
            self.emulator.configure(seconds_per_step=before)

    def stop_leftovers(self) -> None:
        """Cancel runs a failing case left behind, so no worker outlives the test session."""
        from tunesdk.run import Run
        from tunesdk.store import RunStore

        for record in RunStore().list():
            if not record.terminal:
                Run.attach(record.run_id).cancel(timeout=10)


class ContractFixtures:
    """The fixtures every contract group uses. Override ``contract_facts`` in your subclass."""

    @pytest.fixture(scope="class")
    @classmethod
    def contract_facts(cls) -> BackendFacts:
        """The facts about the backend under test: override in the subclass (scope="class")."""
        raise NotImplementedError(
            f"{cls.__name__} runs the tunesdk contract suite but does not say which "
            "backend: define a class-scoped `contract_facts` fixture returning BackendFacts"
        )

    @pytest.fixture(scope="class")
    @classmethod
    def contract(
        cls, contract_facts: BackendFacts, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[ContractHarness]:
        """The harness for this class: the backend wired to its emulator or engine, offline, in
        a private run store; runs left unfinished are cancelled at the end."""
        harness = ContractHarness(
            contract_facts, tmp_path_factory.mktemp(f"contract-{contract_facts.backend}")
        )
        with pytest.MonkeyPatch.context() as monkeypatch:
            harness.apply(monkeypatch)
            harness.speed_up_retries(monkeypatch)
            try:
                yield harness
            finally:
                harness.stop_leftovers()

    @pytest.fixture(autouse=True)
    def _contract_environment(
        self, contract: ContractHarness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # again per case: a folder's own autouse fixtures may point TUNESDK_HOME elsewhere
        contract.apply(monkeypatch)


class PlanContract(ContractFixtures):
    """plan() is pure and accounts for every option; strict mode refuses what a backend drops."""

    def test_plan_sends_uploads_and_starts_nothing(self, contract: ContractHarness) -> None:
        job = contract.job(**contract.facts.dropped)
        before = contract.spent()
        plan = job.plan(contract.name)
        assert plan.backend == contract.name
        assert contract.spent() == before

    def test_plan_has_one_row_per_option_with_its_fate(self, contract: ContractHarness) -> None:
        from tunesdk.backend import job_options

        job = contract.job(**contract.facts.dropped)
        plan = job.plan(contract.name)

        options = [row.option for row in plan.rows]
        assert len(options) == len(set(options)), "an option has two rows"
        assert set(job_options(job, plan.objective)) <= set(options)
        # sections have a row per field (resources.gpus), launcher_options one per key of the
        # job's launcher (launcher_options.NAME.KEY)
        for option in job.options_set() - {"model", "data", "resources", "launcher_options"}:
            row = plan.row(option)
            assert row.user_set, option
            assert row.status in ("mapped", "defaulted", "dropped"), option
        for key in job.launcher_options.get(job.resources.launcher, {}):
            assert plan.row(f"launcher_options.{job.resources.launcher}.{key}").user_set, key
        assert all(row.reason for row in plan.rows if row.status == "dropped")
        [dropped] = contract.facts.dropped
        assert [row.option for row in plan.dropped] == [dropped]

    def test_strict_turns_a_dropped_option_into_an_error_before_anything_is_spent(
        self, contract: ContractHarness
    ) -> None:
        [dropped] = contract.facts.dropped
        job = contract.job(strict=True, **contract.facts.dropped)
        before = contract.spent()
        with pytest.raises(UnsupportedOption) as refused:
            job.submit(contract.name)
        assert list(refused.value.options) == [dropped]
        assert dropped in str(refused.value)
        assert contract.spent() == before

    def test_strict_job_with_only_honoured_options_plans(self, contract: ContractHarness) -> None:
        plan = contract.job(strict=True).plan(contract.name)
        assert plan.dropped == []


class DataContract(ContractFixtures):
    """Malformed data is refused with DataError before any upload or worker start."""

    def test_malformed_data_is_refused_before_anything_is_spent(
        self, contract: ContractHarness
    ) -> None:
        rows = tiny_chat_data(16)
        rows[3] = {"messages": [{"role": "user", "content": "a question nobody answers"}]}
        job = contract.job(rows)
        before = contract.spent()
        try:
            with pytest.raises(DataError) as refused:
                job.submit(contract.name)
        finally:
            contract.stop_leftovers()
        assert "train.jsonl:4" in str(refused.value)
        assert contract.spent() == before


@dataclass
class Followed:
    """One finished run, as its submitter and a second, attached Run object saw it."""

    run: ts.Run
    events: list[Event]
    attached: list[Event]
    result: ts.Result


class LifecycleContract(ContractFixtures):
    """One finished run, followed by the submitter and by a second, attached Run object at the
    same time: events, the Result, the model handle and chat."""

    @pytest.fixture(scope="class")
    @classmethod
    def contract_followed(cls, contract: ContractHarness) -> Followed:
        """The class's one run of ``facts.job``, followed to the end twice at once."""
        run = contract.job().submit(contract.name)
        attached = ts.Run.attach(run.run_id)
        with ThreadPoolExecutor(max_workers=1) as pool:
            other = pool.submit(lambda: list(attached.events()))
            events = list(run.events())
            seen_by_other = other.result(timeout=120)
        return Followed(run, events, seen_by_other, run.wait(timeout=120))

    def test_events_are_numbered_from_one_without_gaps(self, contract_followed: Followed) -> None:
        events = contract_followed.events
        assert [e.seq for e in events] == list(range(1, len(events) + 1))

    def test_every_event_carries_the_run_id(self, contract_followed: Followed) -> None:
        assert {e.run_id for e in contract_followed.events} == {contract_followed.run.run_id}

    def test_exactly_one_terminal_event_and_it_is_the_completion(
        self, contract_followed: Followed
    ) -> None:
        terminal = [e for e in contract_followed.events if e.terminal]
        assert len(terminal) == 1
        assert terminal[0] is contract_followed.events[-1]
        assert isinstance(terminal[0], Completed)
        assert contract_followed.run.status == "completed"

    def test_an_attached_run_sees_the_same_events_none_twice(
        self, contract_followed: Followed
    ) -> None:
        followed = contract_followed
        assert [e.model_dump() for e in followed.attached] == [
            e.model_dump() for e in followed.events
        ]
        later = ts.Run.attach(followed.run.run_id)
        assert [e.seq for e in later.events()] == [e.seq for e in followed.events]

    def test_wait_returns_a_result_with_metrics(self, contract_followed: Followed) -> None:
        result = contract_followed.result
        completed = contract_followed.events[-1]
        assert isinstance(completed, Completed)
        assert result.status == "completed" and result.run_id == contract_followed.run.run_id
        assert result.model == completed.model
        assert result.metrics, "the Result has no metrics"
        assert all(isinstance(value, float) for value in result.metrics.values())

    def test_the_model_handle_round_trips_through_its_uri(
        self, contract_followed: Followed
    ) -> None:
        model = contract_followed.result.model
        assert model is not None
        loaded = ts.load_model(model.to_uri())
        assert loaded.to_uri() == model.to_uri()
        # the URI names the model; what it was tuned from and by which job is not part of it
        metadata = {"base_model", "job_id"}
        assert loaded.model_dump(exclude=metadata) == model.model_dump(exclude=metadata)

    def test_chat_on_the_result(
        self, contract: ContractHarness, contract_followed: Followed
    ) -> None:
        if not contract.facts.chat:
            pytest.skip(f"{contract.name}: its models do not chat (BackendFacts.chat=False)")
        assert contract_followed.result.model is not None
        served = contract.servable(contract_followed.result.model)
        question = "What does the cow say?"
        for model in (served, ts.load_model(served.to_uri())):
            answer = model.chat(
                [{"role": "user", "content": question}], **contract.facts.generation
            )
            assert isinstance(answer, str) and answer
            if contract.facts.chat_echoes:
                assert question in answer


class CancelContract(ContractFixtures):
    """cancel() ends a live run `cancelled`, with one terminal event."""

    def test_cancel_ends_the_run_cancelled(self, contract: ContractHarness) -> None:
        if not contract.facts.cancel:
            pytest.skip(f"{contract.name}: no run to cancel mid-way (BackendFacts.cancel=False)")
        with contract.slow():
            run = contract.long_job().submit(contract.name)
            seen: list[Event] = []
            for event in run.events():
                seen.append(event)
                if isinstance(event, Progress) and not run.done:
                    run.cancel()

        assert run.status == "cancelled"
        terminal = [e for e in seen if e.terminal]
        assert len(terminal) == 1 and isinstance(seen[-1], Cancelled)
        progress = [e for e in seen if isinstance(e, Progress)]
        assert progress and progress[-1].step < (progress[-1].total_steps or 100)
        with pytest.raises(RunCancelled):
            run.wait(timeout=10)


#: the submitter of `ReattachContract`: submits, then SIGKILLs itself at the first Progress
SUBMIT_THEN_DIE = textwrap.dedent(
    """
    import os, signal, sys
    import tunesdk as ts
    from tunesdk.events import Progress

    run = ts.Job.from_json(sys.argv[1]).submit(sys.argv[2])
    print(run.run_id, flush=True)
    for event in run.events():
        if isinstance(event, Progress):
            os.kill(os.getpid(), signal.SIGKILL)  # die mid-run, without any cleanup
    """
)


class ReattachContract(ContractFixtures):
    """A run outlives the process that submitted it: ``Run.attach`` from a fresh process after
    the submitter was SIGKILLed mid-run finishes following it, losing and repeating nothing."""

    def test_attach_finishes_a_run_whose_submitter_was_killed(
        self, contract: ContractHarness
    ) -> None:
        if not contract.facts.reattach:
            pytest.skip(f"{contract.name}: not checked here (BackendFacts.reattach=False)")
        spec = contract.folder / "job.json"
        contract.job().to_json(spec)
        remote_jobs = contract.remote_jobs()
        with contract.slow():
            child = subprocess.run(
                [sys.executable, "-c", SUBMIT_THEN_DIE, str(spec), contract.name],
                capture_output=True,
                text=True,
                env=os.environ.copy(),
                timeout=120,
            )
            assert child.returncode == -9, child.stderr
            run = ts.Run.attach(child.stdout.split()[0])
            events = list(run.events())

        assert isinstance(events[-1], Completed)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        sources = [e.source_id for e in events if e.source_id]
        assert len(sources) == len(set(sources))
        if contract.emulator is not None:
            assert contract.remote_jobs() == remote_jobs + 1


class SecretsContract(ContractFixtures):
    """API keys never reach the run folder, whether from the environment or backend_options."""

    def test_api_keys_are_never_written_to_the_run_folder(self, contract: ContractHarness) -> None:
        if not contract.managed:
            pytest.skip(f"{contract.name}: a local backend takes no API key")
        key = contract.api_key
        assert key, "a managed backend's facts name the api_key its emulator is given"
        job = contract.job(backend_options={contract.name: {"api_key": key}})
        result = job.run(backend=contract.name, progress=False)

        assert isinstance(result.events()[-1], Completed)
        files = [p for p in Path(os.environ["TUNESDK_HOME"]).rglob("*") if p.is_file()]
        assert files
        for path in files:
            assert key not in path.read_text(errors="ignore"), path


# pytest collects inherited cases from the last base to the first: plan first, secrets last
class BackendContract(
    SecretsContract,
    ReattachContract,
    CancelContract,
    LifecycleContract,
    DataContract,
    PlanContract,
):
    """Every contract case. Subclass it as ``Test<Backend>Contract`` with a ``contract_facts``
    fixture; the cases your facts rule out are skipped with the reason."""


__all__ = [
    "POLL_INTERVAL",
    "SUBMIT_THEN_DIE",
    "BackendContract",
    "BackendFacts",
    "CancelContract",
    "ContractFixtures",
    "ContractHarness",
    "DataContract",
    "Followed",
    "LifecycleContract",
    "PlanContract",
    "ReattachContract",
    "SecretsContract",
]
