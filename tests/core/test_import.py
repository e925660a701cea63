"""``import tunesdk`` stays light: no ML framework or provider SDK is imported."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "transformers", "openai", "together", "fireworks", "datasets", "trl", "peft")

SCRIPT = f"""
import json, sys
import tunesdk
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})))
"""


def test_import_tunesdk_imports_no_heavy_module() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(proc.stdout) == []


def test_the_check_would_catch_a_heavy_import() -> None:
    script = "import datasets\n" + SCRIPT
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "datasets" in json.loads(proc.stdout)
