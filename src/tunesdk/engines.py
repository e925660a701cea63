"""Engine environments: one managed virtualenv per local training engine.

The engines pin stacks that cannot share one interpreter (Unsloth caps transformers at 5.17,
Axolotl 0.19 brings its own transformers/trl/peft, the trl backend runs on the newest), so a local
backend's worker may train in an interpreter other than the caller's::

    tunesdk engine install unsloth     # $TUNESDK_HOME/engines/unsloth, exact pins from a lock file
    tunesdk engine list                # each engine, its versions and health

Which interpreter trains, in order: ``$TUNESDK_<ENGINE>_PYTHON`` (an interpreter you manage), the
managed environment when it is installed, else the caller's own. The worker imports tunesdk from
the *caller's* installation (its packages are linked into the run folder and put first on the
worker's ``PYTHONPATH``), so a cached environment never runs stale tunesdk code and the caller
never needs torch.

Installing skips pip's resolver: torch is pinned and installed first (its CPU build lies on local
disk on CPU machines; an unpinned torch would pull a multi-GB CUDA build), then every other
package from the lock file with ``--no-deps``. A marker file in the environment records the lock
file's hash, so an unchanged lock is not installed twice.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from tunesdk.errors import BackendUnavailable, TuneError

#: where managed environments live (default ``$TUNESDK_HOME/engines``)
ROOT_ENV = "TUNESDK_ENGINES_DIR"
MARKER = "tunesdk-engine.json"
LOCKS = Path(__file__).with_name("engine_locks")
#: the package pinned and installed first, with its own dependencies
FIRST = "torch"


@dataclass(frozen=True)
class EngineSpec:
    """One engine: what its environment holds and how it is checked."""

    name: str
    summary: str
    #: tunesdk distributions the worker imports, linked in from the caller's installation
    tunesdk: tuple[str, ...]
    #: distributions whose versions ``engine list`` and the plan show
    shown: tuple[str, ...]
    #: modules the deep health check imports
    modules: tuple[str, ...]
    #: packages removed after installing (they break the engine's import)
    remove: tuple[str, ...] = ()
    #: the Python (major, minor) the lock was made for; None: any 3.11+
    python: tuple[int, int] | None = None
    #: environment set for the health check
    health_env: dict[str, str] = field(default_factory=dict)

    @property
    def python_env(self) -> str:
        """``TUNESDK_<NAME>_PYTHON``: an interpreter of your own that wins over the managed one."""
        return f"TUNESDK_{self.name.upper()}_PYTHON"


ENGINES: dict[str, EngineSpec] = {
    spec.name: spec
    for spec in (
        EngineSpec(
            name="unsloth",
            summary="Unsloth 2026.10.9 (CPU mode on machines without a GPU)",
            tunesdk=("tunesdk", "tunesdk-trl", "tunesdk-unsloth"),
            shown=("unsloth", "torch", "transformers", "trl", "peft"),
            modules=("unsloth",),
            # its operators do not load against the CPU torch, and Unsloth's import then fails
            remove=("torchvision",),
            health_env={"UNSLOTH_FORCE_CPU": "1"},
        ),
        EngineSpec(
            name="axolotl",
            summary="Axolotl 0.19.0 (the newest for Python 3.11)",
            tunesdk=("tunesdk", "tunesdk-axolotl"),
            shown=("axolotl", "torch", "transformers", "trl", "peft"),
            modules=("axolotl.cli.main",),
            python=(3, 11),
            health_env={"AXOLOTL_DO_NOT_TRACK": "1"},
        ),
        EngineSpec(
            name="trl",
            summary="Hugging Face TRL with transformers, PEFT, accelerate",
            tunesdk=("tunesdk", "tunesdk-trl"),
            shown=("trl", "torch", "transformers", "peft", "accelerate"),
            modules=("trl", "peft"),
        ),
        EngineSpec(
            name="skypilot",
            summary="SkyPilot 0.14.1 client, for the skypilot launcher (no cloud extras)",
            tunesdk=(),  # the launcher's driver script imports only SkyPilot and the stdlib
            shown=("skypilot",),
            modules=("sky",),
        ),
    )
}

Source = Literal["env", "managed"]


@dataclass(frozen=True)
class Engine:
    """An engine environment found on this machine."""

    name: str
    python: Path
    source: Source
    #: versions recorded at install time (managed) or read from the interpreter (env)
    versions: dict[str, str]
    #: whether the managed environment was built from today's lock file (None: not managed)
    current: bool | None = None

    def describe(self) -> str:
        """One line for plans and logs: where it is and what it runs."""
        shown = ", ".join(f"{k} {v}" for k, v in self.versions.items() if k in _shown(self.name))
        origin = "managed" if self.source == "managed" else f"${ENGINES[self.name].python_env}"
        stale = "" if self.current is not False else f" (outdated: {install_command(self.name)})"
        return (
            f"{self.name} engine ({origin}): {self.python}"
            + (f" — {shown}" if shown else "")
            + stale
        )


def _shown(name: str) -> tuple[str, ...]:
    return ENGINES[name].shown if name in ENGINES else ()


def spec(name: str) -> EngineSpec:
    """The engine named ``name``; TuneError listing the known ones otherwise."""
    if name not in ENGINES:
        raise TuneError(
            f"no engine named {name!r}",
            where="engine name",
            fix=f"use one of {', '.join(ENGINES)}",
        )
    return ENGINES[name]


def install_command(name: str) -> str:
    """The command that installs engine ``name``."""
    return f"tunesdk engine install {name}"


def root() -> Path:
    """``$TUNESDK_ENGINES_DIR``, else ``$TUNESDK_HOME/engines``."""
    from tunesdk.store import home

    given = os.environ.get(ROOT_ENV)
    return Path(given).expanduser() if given else home() / "engines"


def engine_dir(name: str) -> Path:
    return root() / spec(name).name


def lock_file(name: str) -> Path:
    """The lock file of engine ``name``: exact ``==`` pins, shipped with tunesdk."""
    return LOCKS / f"{spec(name).name}.txt"


def lock_digest(name: str) -> str:
    """What the marker records: the lock file's and the removal list's hash."""
    digest = hashlib.sha256(lock_file(name).read_bytes())
    digest.update(",".join(spec(name).remove).encode())
    return digest.hexdigest()


def read_lock(name: str) -> list[str]:
    """The lock's requirement lines (``pkg==1.2.3``), comments and blanks left out."""
    lines = lock_file(name).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _python_in(folder: Path) -> Path:
    return folder / "bin" / "python"


def read_marker(folder: Path) -> dict[str, object] | None:
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def find(name: str) -> Engine | None:
    """Where engine ``name`` runs: ``$TUNESDK_<NAME>_PYTHON``, else the managed environment when
    installed, else None (the caller's interpreter)."""
    engine = spec(name)
    given = os.environ.get(engine.python_env)
    if given:
        python = Path(given).expanduser()
        if not python.exists():
            raise BackendUnavailable(
                name,
                f"${engine.python_env} names {python}, which does not exist",
                fix=f"point it at an interpreter with {name} installed, or unset it to use "
                f"the managed engine ({install_command(name)})",
            )
        return Engine(name, python, "env", interpreter_versions(python, engine.shown))
    return find_managed(name)


_VERSIONS = (
    "import importlib.metadata as m, json, sys\n"
    "out = {}\n"
    "for d in sys.argv[1:]:\n"
    "    try: out[d] = m.version(d)\n"
    "    except m.PackageNotFoundError: pass\n"
    "print(json.dumps(out))\n"
)
_version_cache: dict[tuple[str, str, tuple[str, ...]], dict[str, str]] = {}


def interpreter_versions(python: Path, dists: tuple[str, ...]) -> dict[str, str]:
    """The versions of ``dists`` that ``python`` sees with this environment (PYTHONPATH
    included, as the worker will), asked once per process."""
    key = (str(python), os.environ.get("PYTHONPATH", ""), dists)
    if key not in _version_cache:
        done = subprocess.run(
            [str(python), "-c", _VERSIONS, *dists],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise BackendUnavailable(
                "engine",
                f"{python} does not run: {(done.stderr or done.stdout).strip()[-300:]}",
                fix="point the engine's interpreter variable at a working Python",
            )
        _version_cache[key] = json.loads(done.stdout.strip().splitlines()[-1])
    return dict(_version_cache[key])


def worker_python(name: str) -> str | None:
    """The interpreter a backend's worker runs in, or None for the caller's own."""
    if name not in ENGINES:
        return None
    engine = find(name)
    return str(engine.python) if engine is not None else None


# ---- the caller's tunesdk, made importable in an engine's interpreter ---------------------------


def link_tunesdk(name: str, folder: Path) -> Path:
    """Make the caller's tunesdk packages that engine ``name`` needs importable from ``folder``:
    a symlink to each package plus a minimal ``.dist-info`` (version and entry points, so the
    worker finds the backends). Returns ``folder``; put it first on the worker's PYTHONPATH."""
    folder.mkdir(parents=True, exist_ok=True)
    for dist_name in spec(name).tunesdk:
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError:
            continue  # that backend is not installed for the caller; nothing to link
        module = dist_name.replace("-", "_")
        found = importlib.util.find_spec(module)
        locations = list(found.submodule_search_locations or []) if found else []
        if not locations:
            continue
        link = folder / module
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(Path(locations[0]).resolve(), target_is_directory=True)
        info = folder / f"{module}-{dist.version}.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: {dist.version}\n",
            encoding="utf-8",
        )
        entry_points = dist.read_text("entry_points.txt")
        if entry_points:
            (info / "entry_points.txt").write_text(entry_points, encoding="utf-8")
    return folder


def worker_environment(name: str, env: dict[str, str], folder: Path) -> dict[str, str]:
    """``env`` for a worker running in engine ``name``'s interpreter: the caller's tunesdk first
    on PYTHONPATH (see `link_tunesdk`)."""
    linked = link_tunesdk(name, folder)
    paths = [str(linked), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    return {**env, "PYTHONPATH": os.pathsep.join(paths)}


# ---- install ----------------------------------------------------------------------------------


Echo = Callable[[str], None]


def _run(command: list[str], echo: Echo, what: str) -> None:
    echo(f"  {what}")
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise TuneError(
            f"{what} failed (exit code {done.returncode}):\n{tail}",
            where=" ".join(command[:6]),
            fix="see the output above; rerun with --force to start from a fresh environment",
        )


def _check_python(name: str, python: str) -> str:
    """``python``'s version (``3.11.7``); TuneError when the engine cannot use it."""
    wanted = spec(name).python
    try:
        done = subprocess.run(
            [python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            capture_output=True,
            text=True,
        )
    except OSError:
        done = None
    if done is None or done.returncode != 0:
        raise TuneError(f"{python} does not run", fix="give a working Python 3.11+ with --python")
    full = done.stdout.strip()
    major, minor = (int(x) for x in full.split(".")[:2])
    if (major, minor) < (3, 11) or (wanted is not None and (major, minor) != wanted):
        version = "{}.{}".format(*(wanted or (3, 11)))
        need = f"Python {version}" if wanted else "Python 3.11 or newer"
        raise TuneError(
            f"the {name} engine needs {need}; {python} is Python {major}.{minor}",
            where="--python",
            fix=f"tunesdk engine install {name} --python python{version}",
        )
    return full


def install(
    name: str, *, python: str | None = None, force: bool = False, echo: Echo = print
) -> Engine:
    """Create (or bring up to date) engine ``name``'s managed environment from its lock file.

    Built in a temporary folder beside the target and moved into place at the end, so a failed
    install leaves the previous environment as it was. Does nothing when the environment was
    built from the same lock file, unless ``force``.
    """
    engine = spec(name)
    target = engine_dir(name)
    existing = find_managed(name)
    if existing is not None and existing.current and not force:
        echo(f"{name}: up to date ({existing.python})")
        return existing
    base = python or sys.executable
    python_version = _check_python(name, base)
    requirements = read_lock(name)
    first = [r for r in requirements if _dist_of(r) == FIRST]
    rest = [r for r in requirements if _dist_of(r) != FIRST]
    building = target.with_name(f".{target.name}.building")
    shutil.rmtree(building, ignore_errors=True)
    building.parent.mkdir(parents=True, exist_ok=True)
    echo(f"{name}: installing into {target} (Python from {base})")
    _run([base, "-m", "venv", str(building)], echo, "create the virtualenv")
    pip = [str(_python_in(building)), "-m", "pip", "install", "--quiet"]
    if first:
        _run([*pip, *first], echo, f"install {' '.join(first)} (first, pinned)")
    lock = building / "lock.txt"
    lock.write_text("\n".join(rest) + "\n", encoding="utf-8")
    _run(
        [*pip, "--no-deps", "-r", str(lock)],
        echo,
        f"install {len(rest)} pinned packages ({lock_file(name).name}, no resolver)",
    )
    for package in engine.remove:
        _run(
            [str(_python_in(building)), "-m", "pip", "uninstall", "--quiet", "-y", package],
            echo,
            f"remove {package}",
        )
    versions = interpreter_versions(_python_in(building), engine.shown)
    marker = {
        "name": name,
        "lock_sha256": lock_digest(name),
        "versions": versions,
        "python": python_version,
        "installed_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (building / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    _relocate(building, target)
    installed = find_managed(name)
    assert installed is not None
    echo(f"{name}: installed — " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    return installed


def _relocate(building: Path, target: Path) -> None:
    """Move the finished environment into place. Only ``bin/python`` is used (never the
    scripts, whose ``#!`` lines name the build folder), so the move keeps it working."""
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    building.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def find_managed(name: str) -> Engine | None:
    """The managed environment of ``name`` (ignoring ``$TUNESDK_<NAME>_PYTHON``), if installed."""
    folder = engine_dir(name)
    marker = read_marker(folder)
    if marker is None or not _python_in(folder).exists():
        return None
    versions = marker.get("versions")
    return Engine(
        name,
        _python_in(folder),
        "managed",
        {str(k): str(v) for k, v in versions.items()} if isinstance(versions, dict) else {},
        current=marker.get("lock_sha256") == lock_digest(name),
    )


def _dist_of(requirement: str) -> str:
    return requirement.split("==", 1)[0].strip().lower().replace("_", "-")


# ---- health -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str


def health(engine: Engine, *, deep: bool = False) -> Health:
    """Whether ``engine`` can train: its interpreter runs and has the engine's modules (``deep``:
    imports them for real, which takes seconds), and a managed one matches today's lock file."""
    if engine.current is False:
        return Health(False, f"built from an older lock file: {install_command(engine.name)}")
    spec_ = spec(engine.name)
    modules = list(spec_.modules)
    code = f"import importlib, importlib.util, sys\nmods = {modules!r}\n" + (
        "for m in mods: importlib.import_module(m)\n"
        if deep
        else "missing = [m for m in mods if importlib.util.find_spec(m.split('.')[0]) is None]\n"
        "sys.exit('missing: ' + ', '.join(missing) if missing else 0)\n"
    )
    env = {**os.environ, **spec_.health_env}
    try:
        done = subprocess.run(
            [str(engine.python), "-c", code],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Health(False, f"{engine.python} does not run: {exc}")
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return Health(False, lines[-1] if lines else f"exit code {done.returncode}")
    return Health(True, "imports " + ", ".join(modules) if deep else "ok")


def missing(name: str, what: str) -> BackendUnavailable:
    """The error of a backend whose engine is not installed: it names the install command."""
    return BackendUnavailable(
        name,
        f"{what}, and no {name} engine environment is installed",
        fix=f"{install_command(name)} (or set ${spec(name).python_env} to an interpreter "
        f"that has {name})",
    )


__all__ = [
    "ENGINES",
    "Engine",
    "EngineSpec",
    "Health",
    "engine_dir",
    "find",
    "find_managed",
    "health",
    "install",
    "install_command",
    "link_tunesdk",
    "lock_file",
    "missing",
    "root",
    "worker_environment",
    "worker_python",
]
