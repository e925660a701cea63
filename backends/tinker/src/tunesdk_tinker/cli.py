"""``tunesdk-tinker``: nothing of its own beyond ``tunesdk emulator tinker``.

The offline server starts with ``tunesdk emulator tinker`` (see the backend's docs); training,
planning and following runs are the ordinary ``tunesdk`` commands with ``--backend tinker``.
This alias exists so every backend package has the same shape::

    tunesdk-tinker emulator --set default_model=/path/to/model
"""

from __future__ import annotations

from collections.abc import Sequence

from tunesdk.cli.emulator import alias_main


def main(argv: Sequence[str] | None = None) -> int:
    return alias_main("tinker", argv)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
