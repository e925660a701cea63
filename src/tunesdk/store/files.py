"""The store's home folder and its one way of replacing a file (atomically)."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from tunesdk.errors import TuneError


def home() -> Path:
    """The tunesdk home folder: ``$TUNESDK_HOME`` or ``~/.tunesdk``."""
    return Path(os.environ.get("TUNESDK_HOME") or "~/.tunesdk").expanduser()


def check_home(root: Path) -> None:
    """Raise a TuneError when ``root`` (or its ``runs`` folder) exists but is not a folder."""
    for path in (root, root / "runs"):
        try:
            if path.exists() and not path.is_dir():
                raise TuneError(
                    f"the run store {path} is a file, not a folder",
                    where="TUNESDK_HOME" if "TUNESDK_HOME" in os.environ else "run store",
                    fix="point TUNESDK_HOME at a folder (it is created when missing), "
                    "or unset it to use ~/.tunesdk",
                )
        except OSError as exc:  # e.g. a path through a regular file: ENOTDIR
            raise TuneError(
                f"the run store {path} cannot be used ({exc.strerror or type(exc).__name__})",
                where="TUNESDK_HOME" if "TUNESDK_HOME" in os.environ else "run store",
                fix="point TUNESDK_HOME at a folder this user can write",
            ) from None


def now() -> str:
    """The current UTC time as the store writes it (ISO 8601, milliseconds)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def write_atomic(path: Path, text: str, *, durable: bool = True) -> None:
    """Replace ``path`` with ``text`` so that readers see the old or the new file, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


__all__ = ["check_home", "home", "now", "write_atomic"]
