"""API keys never reach the run folder, whether from the environment or backend_options."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tunesdk.events import Completed

if TYPE_CHECKING:
    from conftest import Harness


@pytest.mark.parametrize("harness", ["openai", "together", "fireworks"], indirect=True)
def test_api_keys_are_never_written_to_the_run_folder(harness: Harness) -> None:
    key = harness.provider.api_key
    job = harness.job(backend_options={harness.name: {"api_key": key}})
    result = job.run(backend=harness.name, progress=False)

    assert isinstance(result.events()[-1], Completed)
    files = [p for p in Path(os.environ["TUNESDK_HOME"]).rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert key not in path.read_text(errors="ignore"), path
