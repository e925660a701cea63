"""`import tunesdk.data` stays light and independent of runs and backends."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import tunesdk.data

LOADED = "import sys, tunesdk.data\nprint('\\n'.join(sorted(sys.modules)))"


def test_import_pulls_in_no_heavy_library():
    done = subprocess.run(
        [sys.executable, "-c", LOADED], capture_output=True, text=True, check=True
    )
    loaded = done.stdout.split()
    assert "tunesdk.data.dataset" in loaded  # the measurement works
    heavy = ("torch", "transformers", "datasets", "pyarrow", "tiktoken", "tokenizers", "jinja2")
    assert [m for m in loaded if m.split(".")[0] in heavy] == []


def test_data_package_imports_nothing_of_runs_or_backends():
    forbidden = re.compile(
        r"^\s*(from|import)\s+tunesdk\.(job|run|backend|store|managed|worker|registry)\b", re.M
    )
    package = Path(tunesdk.data.__file__).parent
    offenders = [p.name for p in package.glob("*.py") if forbidden.search(p.read_text())]
    assert offenders == []
