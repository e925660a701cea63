"""``python -m tunesdk_tinker.cli``: an alias of ``tunesdk emulator tinker``, nothing more.

The offline server starts with ``tunesdk emulator tinker`` (see the backend's docs); training,
planning and following runs are the ordinary ``tunesdk`` commands with ``--backend tinker``.
Tinker has no flags of its own to offer, so this is not installed as a console script; it exists
so every backend package has the same shape::

    python -m tunesdk_tinker.cli emulator --set default_model=/path/to/model
"""

from __future__ import annotations

from collections.abc import Sequence

from tunesdk.cli.emulator import alias_main


def main(argv: Sequence[str] | None = None) -> int:
    return alias_main("tinker", argv)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
