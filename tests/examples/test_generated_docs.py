"""The generated reference pages are current (regenerate: python scripts/gen_*.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TUNESDK = Path(sys.executable).with_name("tunesdk")


@pytest.mark.parametrize("script", ["gen_cli_docs.py", "gen_schema_docs.py"])
def test_committed_page_is_current(script: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


def test_job_schema_page_is_what_tunesdk_schema_prints() -> None:
    printed = subprocess.run(
        [str(TUNESDK), "schema"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert (ROOT / "docs" / "reference" / "job.schema.json").read_text() == printed
    assert json.loads(printed)["title"] == "Job"


def test_cli_page_documents_every_command() -> None:
    import typer

    from tunesdk.cli import app

    page = (ROOT / "docs" / "reference" / "cli.md").read_text()
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    for name in group.list_commands(typer.Context(group)):
        assert f"## `tunesdk {name}`" in page


def test_check_mode_notices_a_stale_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gen_cli_docs
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    stale = tmp_path / "cli.md"
    stale.write_text(gen_cli_docs.render().replace("Print a run's events.", "Old help."))
    monkeypatch.setattr(gen_cli_docs, "PAGE", stale)
    assert gen_cli_docs.main(["--check"]) == 1
    assert gen_cli_docs.main([]) == 0
    assert gen_cli_docs.main(["--check"]) == 0


def test_every_public_name_has_a_reference_entry() -> None:
    import re

    import tunesdk

    pages = "".join(p.read_text() for p in (ROOT / "docs" / "reference").glob("*.md"))
    # `::: tunesdk.NAME`, or the defining module's path where a submodule shares the name
    documented = set(re.findall(r"^::: tunesdk(?:\.\w+)*\.(\w+)\s*$", pages, re.MULTILINE))
    missing = sorted(set(tunesdk.__all__) - documented)
    assert not missing, f"add `::: tunesdk.NAME` to a docs/reference page for: {missing}"
