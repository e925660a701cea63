"""Write the JSON Schemas the reference pages include (``--check``: fail if they are stale).

- docs/reference/job.schema.json: the job file, exactly what ``tunesdk schema`` prints;
- docs/reference/events.schema.json: the Event union (one line of a run's events.jsonl).

    python scripts/gen_schema_docs.py          # regenerate
    python scripts/gen_schema_docs.py --check  # exit 1 when a committed file is out of date
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tunesdk.events import EVENT_ADAPTER
from tunesdk.job import Job

FOLDER = Path(__file__).resolve().parents[1] / "docs" / "reference"


def schemas() -> dict[Path, str]:
    """Each schema file and its text (``indent=2`` and a final newline, as ``tunesdk schema``)."""
    return {
        FOLDER / "job.schema.json": json.dumps(Job.model_json_schema(), indent=2) + "\n",
        FOLDER / "events.schema.json": json.dumps(EVENT_ADAPTER.json_schema(), indent=2) + "\n",
    }


def main(argv: list[str]) -> int:
    stale = []
    for path, text in schemas().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if "--check" in argv:
            stale.append(path)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    for path in stale:
        print(f"{path} is out of date: run python scripts/gen_schema_docs.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
