"""``tunesdk-fireworks emulator``: an alias of ``tunesdk emulator fireworks``.

Older flags keep working: ``--require-api-key`` (now ``--api-key``), ``--phase-seconds``,
``--deploy-seconds``.
"""

from __future__ import annotations

from collections.abc import Sequence

from tunesdk.cli.emulator import Legacy, alias_main

LEGACY: dict[str, Legacy] = {
    "--require-api-key": "--api-key",
    "--phase-seconds": "phase_s",
    "--deploy-seconds": "deploy_s",
}


def main(argv: Sequence[str] | None = None) -> int:
    return alias_main("fireworks", argv, legacy=LEGACY)


if __name__ == "__main__":
    raise SystemExit(main())
