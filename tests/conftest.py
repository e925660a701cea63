"""Shared by every test folder: the provider emulators, started fast and wired into tunesdk.

Test folders reach these through the session fixture ``providers`` (with ``--import-mode=importlib``
a conftest cannot be imported, so helpers travel as fixtures). Provider packages are imported only
when their emulator is started, so folders that never use one do not need it installed.
"""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

# the shipped contract suite's asserts explain their failures like the tests' own
pytest.register_assert_rewrite("tunesdk.testing.contract", "tunesdk.testing.recovery")

#: (first, longest) seconds between polls: the emulators answer in milliseconds
FAST_POLL = (0.02, 0.1)
#: variables a developer's shell may hold that would point a backend elsewhere
FOREIGN_ENV = (
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_API_KEY",
    "OPENAI_API_VERSION",
    "WANDB_API_KEY",
)


#: per provider: settings that make its emulator fast, the key tests use, extra environment
FAST: dict[str, dict[str, Any]] = {
    "openai": {"validate_s": 0.05, "queue_s": 0.05, "seconds_per_step": 0.02},
    "together": {
        "seconds_per_step": 0.02,
        "pending_s": 0.03,
        "queued_s": 0.03,
        "compress_s": 0.03,
        "upload_s": 0.03,
        "cancel_s": 0.03,
    },
    "fireworks": {"seconds_per_step": 0.02, "phase_s": 0.03, "deploy_s": 0.03},
}
KEYS = {
    "openai": "sk-test-0123456789abcdefghijklmnop",
    "together": "dummy-together-key",
    "fireworks": "fw-test-key-0123456789",
}
EXTRA_ENV = {"fireworks": {"FIREWORKS_ACCOUNT_ID": "acme"}}


@dataclass
class Provider:
    """A running provider emulator (a `tunesdk.emulation.ProviderEmulator`) and what points its
    tunesdk backend at it."""

    name: str
    emulator: Any
    api_key: str
    env: dict[str, str]
    backend: type

    @property
    def requests(self) -> list[Any]:
        """Every HTTP request the emulator has received, in order."""
        return list(self.emulator.requests)

    def jobs(self) -> int:
        """How many fine-tuning jobs the emulator holds."""
        return len(self.emulator.jobs)

    def set_seconds_per_step(self, seconds: float) -> float:
        """Change how fast emulated training steps (for jobs created from now on); the old value."""
        before = self.emulator.settings.seconds_per_step
        self.emulator.configure(seconds_per_step=seconds)
        return float(before)

    def contract_facts(self, **facts: Any) -> Any:
        """`tunesdk.testing.contract.BackendFacts` for this running emulator: its key and
        environment (foreign variables removed); ``facts`` give the job and the rest."""
        from tunesdk.testing.contract import BackendFacts

        env = self.env | dict.fromkeys(FOREIGN_ENV)
        return BackendFacts(
            self.name, emulator=self.emulator, api_key=self.api_key, env=env, **facts
        )

    def wire(self, monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
        """Set the environment a user would set, a private run store and fast polling/retries."""
        from tunesdk.managed import RetryPolicy

        for name in FOREIGN_ENV:
            monkeypatch.delenv(name, raising=False)
        for name, value in self.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("TUNESDK_HOME", str(home))
        monkeypatch.setattr(self.backend, "poll_interval", FAST_POLL)
        monkeypatch.setattr(self.backend, "retry_policy", RetryPolicy(6, 0.01, 0.05))


class Providers:
    """Starts each provider's shipped emulator on 127.0.0.1 with fast simulated training.

    The emulator is found through the backend, as ``tunesdk emulator NAME`` finds it.
    """

    names = ("openai", "together", "fireworks")

    @contextmanager
    def start(self, name: str, **settings: Any) -> Iterator[Provider]:
        """The emulator of provider ``name``; ``settings`` override its fast defaults."""
        from tunesdk.emulation import emulator_for
        from tunesdk.registry import get_backend

        key = KEYS[name]
        with emulator_for(name)(**(FAST[name] | settings)) as emulator:
            env = emulator.env(key) | EXTRA_ENV.get(name, {})
            yield Provider(name, emulator, key, env, type(get_backend(name)))

    def recovery_facts(self, name: str, **facts: Any) -> Any:
        """`tunesdk.testing.recovery.RecoveryFacts` for provider ``name``: its emulator with the
        fast settings and its environment (foreign variables removed); ``facts`` give the rest."""
        from tunesdk.emulation import emulator_for
        from tunesdk.testing.recovery import RecoveryFacts

        env = EXTRA_ENV.get(name, {}) | dict.fromkeys(FOREIGN_ENV)
        return RecoveryFacts(
            name, emulator=emulator_for(name), settings=FAST[name], env=env, **facts
        )

    def openai(self, **settings: Any) -> Any:
        return self.start("openai", **settings)

    def together(self, **settings: Any) -> Any:
        return self.start("together", **settings)

    def fireworks(self, **settings: Any) -> Any:
        return self.start("fireworks", **settings)


class Samples:
    """Small valid datasets in the OpenAI shapes that the providers share."""

    @staticmethod
    def chat(n: int = 12) -> list[dict[str, Any]]:
        return [
            {
                "messages": [
                    {"role": "system", "content": "Answer briefly."},
                    {"role": "user", "content": f"What is {i} + {i}?"},
                    {"role": "assistant", "content": str(2 * i)},
                ]
            }
            for i in range(n)
        ]

    @staticmethod
    def dpo(n: int = 12) -> list[dict[str, Any]]:
        return [
            {
                "input": {"messages": [{"role": "user", "content": f"Greet person {i}."}]},
                "preferred_output": [{"role": "assistant", "content": f"Hello, person {i}!"}],
                "non_preferred_output": [{"role": "assistant", "content": "Go away."}],
            }
            for i in range(n)
        ]

    @staticmethod
    def jsonl(rows: list[dict[str, Any]]) -> bytes:
        return "".join(json.dumps(row) + "\n" for row in rows).encode()

    @classmethod
    def write(cls, path: Path, rows: list[dict[str, Any]]) -> Path:
        path.write_bytes(cls.jsonl(rows))
        return path


class Specs:
    """The published OpenAPI documents in ../shared/specs, for checking emulator answers.

    ``check(provider, response)`` validates one ``httpx.Response`` of that provider's emulator
    against the operation the spec declares for its method and path (openapi-core). Parsed
    documents are cached in pytest's cache folder, keyed by the file's size and time.
    """

    folder = Path(__file__).resolve().parents[2] / "shared" / "specs"
    servers = {"openai": "https://api.openai.com", "together": "https://api.together.xyz"}
    #: where a spec and the service (and its SDK) disagree, the service wins: Together's job ids
    #: are ``ft-<uuid>`` though its spec says ``format: uuid``
    formats: dict[str, dict[str, Any]] = {
        "together": {"uuid": lambda value: _is_uuid(str(value).removeprefix("ft-"))}
    }

    def __init__(self, cache: Any) -> None:
        self._cache = cache
        self._loaded: dict[str, Any] = {}

    def available(self, provider: str) -> bool:
        return (self.folder / provider / "openapi.yaml").is_file()

    def openapi(self, provider: str) -> Any:
        if provider not in self._loaded:
            from openapi_core import Config, OpenAPI

            config = Config(
                spec_validator_cls=None, extra_format_validators=self.formats.get(provider, {})
            )
            self._loaded[provider] = OpenAPI.from_dict(self._document(provider), config=config)
        return self._loaded[provider]

    def _document(self, provider: str) -> dict[str, Any]:
        import yaml

        source = self.folder / provider / "openapi.yaml"
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        if self._cache is None:  # pytest -p no:cacheprovider
            return dict(yaml.load(source.read_text(encoding="utf-8"), Loader=loader))
        stat = source.stat()
        cached = (
            Path(self._cache.mkdir("openapi-specs"))
            / f"{provider}-{stat.st_size}-{stat.st_mtime_ns}.json"
        )
        if cached.is_file():
            return dict(json.loads(cached.read_text(encoding="utf-8")))
        document = yaml.load(source.read_text(encoding="utf-8"), Loader=loader)
        cached.write_text(json.dumps(document, default=str), encoding="utf-8")
        return dict(document)

    def problems(self, provider: str, response: Any) -> list[str]:
        """Where ``response`` breaks the spec: one line per refused field (empty: it matches)."""
        from openapi_core.validation.schemas.exceptions import InvalidSchemaValue

        where = f"{response.request.method} {response.request.url.path}"
        try:
            self.check(provider, response)
        except Exception as exc:
            cause = exc.__cause__ if exc.__cause__ is not None else exc
            if isinstance(cause, InvalidSchemaValue):
                return [f"{where}: {e.json_path}: {e.message}" for e in cause.schema_errors]
            return [f"{where}: {cause!r}"]
        return []

    def check(self, provider: str, response: Any) -> None:
        """Raise openapi-core's error when ``response`` does not match the spec."""
        from openapi_core.testing import MockRequest, MockResponse

        request = response.request
        content_type = response.headers.get("content-type", "application/json").split(";")[0]
        self.openapi(provider).validate_response(
            MockRequest(
                self.servers[provider],
                request.method.lower(),
                request.url.path,
                args=dict(request.url.params),
            ),
            MockResponse(
                response.content,
                status_code=response.status_code,
                headers=dict(response.headers),
                content_type=content_type,
            ),
        )


def _is_uuid(text: str) -> bool:
    import uuid

    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


@pytest.fixture(scope="session")
def specs(pytestconfig: pytest.Config) -> Specs:
    """The providers' published API specs; skips the test where ../shared/specs is missing."""
    return Specs(getattr(pytestconfig, "cache", None))


@pytest.fixture(scope="session")
def providers() -> Providers:
    return Providers()


@pytest.fixture
def provider(providers: Providers, provider_name: str) -> Iterator[Provider]:
    """A fresh emulator of the provider a test folder names with its ``provider_name`` fixture."""
    with providers.start(provider_name) as started:
        yield started


@pytest.fixture
def emulator(provider: Provider) -> Any:
    return provider.emulator


@pytest.fixture
def provider_env(provider: Provider, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """The environment a user sets, pointed at the emulator; a private run store; fast polling
    and retries. Provider folders name it ``<provider>_env``."""
    provider.wire(monkeypatch, tmp_path / "home")
    return provider.emulator


@pytest.fixture(scope="session")
def samples() -> type[Samples]:
    return Samples


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The random-weight tiny Llama of ``tunesdk.testing``, built once per test session."""
    from tunesdk.testing import tiny_model

    return tiny_model(tmp_path_factory.mktemp("tiny") / "model")


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="session")
def load_benchmark() -> Callable[[str], ModuleType]:
    """``load_benchmark("trl_parity")``: benchmarks/trl_parity.py imported as a module, so a
    parity test runs the benchmark's own comparison (the figures and the test are one code)."""

    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


#: the ``invoke`` fixture: ``invoke(args, width=, stdin=)`` -> (exit code, stdout, stderr)
Invoke = Callable[..., tuple[int, str, str]]


@pytest.fixture
def invoke(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Run the CLI entry point in this process: ``invoke(args, width=, stdin=)`` gives
    (exit code, stdout, stderr). Consoles are ``width`` columns wide (400: lines kept whole)."""

    def run(args: list[str], *, width: int = 400, stdin: str | None = None) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["tunesdk", *args])
        monkeypatch.setenv("COLUMNS", str(width))
        from tunesdk import cli

        for console in (cli.out, cli.err):
            # _width, not width: the undo restores None, so later readers see $COLUMNS again
            monkeypatch.setattr(console, "_width", width)
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
