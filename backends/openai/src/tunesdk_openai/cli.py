"""``tunesdk-openai emulator``: an alias of ``tunesdk emulator openai``.

Older flags keep working: ``--queue-s``, ``--validate-s``, ``--seed``, ``--no-fine-tuning``.
"""

from __future__ import annotations

from collections.abc import Sequence

from tunesdk.cli.emulator import Legacy, alias_main

LEGACY: dict[str, Legacy] = {
    "--queue-s": "queue_s",
    "--validate-s": "validate_s",
    "--seed": "seed",
    "--no-fine-tuning": ["--set", "fine_tuning_enabled=false"],
}


def main(argv: Sequence[str] | None = None) -> int:
    return alias_main("openai", argv, legacy=LEGACY)


if __name__ == "__main__":
    raise SystemExit(main())
