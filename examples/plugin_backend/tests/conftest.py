"""In this repository the example plugin is not pip-installed: make it look installed.

``pip install -e examples/plugin_backend`` would put ``src`` on the path and leave a dist-info
folder whose ``entry_points.txt`` declares the ``lookup`` backend; this fixture builds the same
two things in a temporary folder (the tests run offline, without a build backend), for this
process and for the processes it starts (the worker, a reattaching submitter). A package that is
installed needs none of this.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

# the shipped contract suite's asserts explain their failures like the tests' own
pytest.register_assert_rewrite("tunesdk.testing.contract")

PLUGIN = Path(__file__).resolve().parents[1]


def _dist_info(site: Path) -> None:
    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]
    folder = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    folder.mkdir(parents=True)
    (folder / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    backends = project["entry-points"]["tunesdk.backends"]
    lines = "".join(f"{name} = {target}\n" for name, target in backends.items())
    (folder / "entry_points.txt").write_text("[tunesdk.backends]\n" + lines)


@pytest.fixture(scope="session", autouse=True)
def lookup_installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    site = tmp_path_factory.mktemp("site")
    _dist_info(site)
    paths = [str(PLUGIN / "src"), str(site)]
    with pytest.MonkeyPatch.context() as monkeypatch:
        for path in reversed(paths):
            monkeypatch.syspath_prepend(path)
        inherited = os.environ.get("PYTHONPATH")
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [*paths, inherited])))
        from tunesdk_lookup import LookupBackend

        from tunesdk.registry import installed_names, register_backend

        if "lookup" not in installed_names():  # the registry read entry points before this
            register_backend("lookup", LookupBackend)
        yield
