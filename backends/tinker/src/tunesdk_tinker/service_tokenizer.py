"""The tokenizer a run took from the service, remembered in its run folder.

When a job's model is a name only the service knows (no tokenizer of that name loads here),
training uses the tokenizer the service names for it (``TrainingClient.get_tokenizer()``, from
``get_info``'s ``tokenizer_id``). A sampling client cannot name one, so the run folder keeps that
tokenizer's name for ``chat()`` and ``generate()`` on this machine afterwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: in the run folder: the name (HF id or folder) of the tokenizer the service named
FILENAME = "service_tokenizer.txt"


def remember(run_dir: Path, tokenizer: Any) -> None:
    """Write the name of ``tokenizer`` (its ``name_or_path``) into the run folder, if it has one."""
    name = str(getattr(tokenizer, "name_or_path", "") or "").strip()
    if name:
        (Path(run_dir) / FILENAME).write_text(name + "\n", encoding="utf-8")


def recalled(run_dir: Path) -> str | None:
    """The name `remember` wrote for this run, or None."""
    try:
        name = (Path(run_dir) / FILENAME).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return name or None


__all__ = ["FILENAME", "recalled", "remember"]
