"""KTO and ORPO data for Axolotl 0.19 (``rl: kto`` / ``rl: orpo``), in the shapes its loaders read.

- KTO: Axolotl's user-defined KTO type (``prompt_strategies/kto/user_defined.py``): one row per
  example, ``{"prompt": text, "completion": text, "label": bool}``; the dataset entry's ``type`` is
  a mapping naming those fields. The prompt is plain text (TRL's KTOTrainer gets it as written),
  so a KTO example is one user turn (an optional system message goes in ``system``).
- ORPO: ``chat_template.argilla`` (``prompt_strategies/orpo/chat_template.py``): ``chosen`` and
  ``rejected`` as whole conversations (the prompt turns, then the answer), an optional ``system``;
  Axolotl applies the chat template itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tunesdk.data.convert import AXOLOTL_KTO_TYPE, axolotl_kto_row
from tunesdk.errors import DataError

KTO_TYPE = AXOLOTL_KTO_TYPE
ORPO_TYPE = "chat_template.argilla"


def dataset_entry(path: Path, objective: str) -> dict[str, Any]:
    """The ``datasets:`` entry that reads what `write` wrote for ``objective``."""
    kind = dict(KTO_TYPE) if objective == "kto" else ORPO_TYPE
    return {"path": str(path), "split": "train", "type": kind}


def write(data: Any, path: Path, objective: str) -> Path:
    """Convert ``data`` (anything `Dataset.load` reads) into ``path`` for ``objective``."""
    from tunesdk.data import Dataset

    rows = [
        kto_row(record) if objective == "kto" else orpo_row(record) for record in Dataset.load(data)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def _where(record: Any) -> str | None:
    return str(record.source) if getattr(record, "source", None) else None


def kto_row(record: Any) -> dict[str, Any]:
    """One KTO example in Axolotl's user-defined KTO shape (``Dataset.to("axolotl")``'s)."""
    return axolotl_kto_row(record)


def orpo_row(record: Any) -> dict[str, Any]:
    prompt = list(getattr(record, "prompt", None) or [])
    chosen = list(getattr(record, "chosen", None) or [])
    rejected = list(getattr(record, "rejected", None) or [])
    if not prompt or not chosen or not rejected:
        raise DataError(
            "ORPO trains on preference pairs (prompt, chosen, rejected)",
            where=_where(record),
            fix='give rows like {"prompt": "...", "chosen": "...", "rejected": "..."}',
        )
    system = [m.text for m in prompt if m.role == "system"]
    turns = [{"role": m.role, "content": m.text} for m in prompt if m.role != "system"]
    row: dict[str, Any] = {
        "chosen": turns + [{"role": m.role, "content": m.text} for m in chosen],
        "rejected": turns + [{"role": m.role, "content": m.text} for m in rejected],
    }
    if system:
        row["system"] = "\n".join(system)
    return row


__all__ = ["KTO_TYPE", "ORPO_TYPE", "dataset_entry", "kto_row", "orpo_row", "write"]
