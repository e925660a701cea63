"""``tunesdk-together emulator``: an alias of ``tunesdk emulator together``.

tunesdk-together emulator --port 8765 --seconds-per-step 0.5
TOGETHER_BASE_URL=http://127.0.0.1:8765 TOGETHER_API_KEY=emulated-key python my_app.py

Older flags keep working: ``--queue-seconds S`` (half pending, half queued), ``--balance``,
``--adapter-dir``, ``--model-dir``.
"""

from __future__ import annotations

from collections.abc import Sequence

from tunesdk.cli.emulator import Legacy, alias_main


def _queue(seconds: str) -> list[str]:
    half = float(seconds) / 2
    return ["--set", f"pending_s={half}", "--set", f"queued_s={half}"]


LEGACY: dict[str, Legacy] = {
    "--queue-seconds": _queue,
    "--balance": "balance",
    "--adapter-dir": "adapter_dir",
    "--model-dir": "model_dir",
}


def main(argv: Sequence[str] | None = None) -> int:
    return alias_main("together", argv, legacy=LEGACY)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
