"""`import tunesdk.data` stays light and independent of runs and backends.

Measured as what importing ``tunesdk.data`` adds on top of ``import tunesdk``.
"""

from __future__ import annotations

import subprocess
import sys

ADDED = (
    "import sys, tunesdk\n"
    "before = set(sys.modules)\n"
    "import tunesdk.data\n"
    "print('\\n'.join(sorted(set(sys.modules) - before)))"
)


def added_modules() -> list[str]:
    done = subprocess.run([sys.executable, "-c", ADDED], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_import_pulls_in_no_heavy_library_and_nothing_of_runs_or_backends():
    added = added_modules()
    assert "tunesdk.data.dataset" in added  # the measurement works
    heavy = ("torch", "transformers", "datasets", "pyarrow", "tiktoken", "tokenizers", "jinja2")
    assert [m for m in added if m.split(".")[0] in heavy] == []
    core = ("job", "run", "backend", "store", "managed", "worker")
    assert [m for m in added if m.startswith("tunesdk.") and m.split(".")[1] in core] == []
