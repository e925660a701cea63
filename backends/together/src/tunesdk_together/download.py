"""Fetch a fine-tuned model's weights from ``GET /v1/finetune/download`` into a local folder.

Together answers with a compressed tar (zstd, or gzip for some checkpoints). The archive is streamed
to disk through the SDK's streaming response (never whole in memory), unpacked with tarfile's
``data`` filter (no absolute paths, no ``..``, no links out of the folder), and described by a
``tunesdk_model.json`` so ``ts.load_model("local:...")`` restores the handle.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from tunesdk.errors import TuneError

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20


def stream_to_file(response: Any, target: Path) -> int:
    """Write an SDK streaming response's body to ``target``; returns the byte count."""
    written = 0
    with target.open("wb") as out:
        for chunk in response.iter_bytes(CHUNK):
            out.write(chunk)
            written += len(chunk)
    return written


def unpack(archive: Path, folder: Path) -> Path:
    """Extract a ``.tar.zst``/``.tar.gz``/``.tar`` archive into ``folder`` (which must be empty)."""
    if folder.exists() and any(folder.iterdir()):
        raise TuneError(
            f"{folder} is not empty", where="download", fix="choose a new or empty folder"
        )
    folder.mkdir(parents=True, exist_ok=True)
    with _tar_stream(archive) as tar:
        tar.extractall(folder, filter="data")
    _flatten_single_root(folder)
    return folder


@contextmanager
def _tar_stream(archive: Path) -> Iterator[tarfile.TarFile]:
    with archive.open("rb") as raw:
        magic = raw.read(4)
        raw.seek(0)
        if magic.startswith(ZSTD_MAGIC):
            import zstandard

            with (
                zstandard.ZstdDecompressor().stream_reader(raw) as reader,
                tarfile.open(fileobj=reader, mode="r|") as tar,
            ):
                yield tar
        elif magic.startswith(GZIP_MAGIC):
            with tarfile.open(fileobj=raw, mode="r|gz") as tar:
                yield tar
        else:
            with tarfile.open(fileobj=_checked(raw), mode="r|") as tar:
                yield tar


def _checked(raw: IO[bytes]) -> IO[bytes]:
    header = raw.read(512)
    raw.seek(0)
    if len(header) < 512 or header[257:262] != b"ustar":
        raise TuneError(
            "the downloaded file is not a tar archive (zstd, gzip or plain)",
            where="download",
            fix="retry the download; if it persists, download with `together fine-tuning download`",
        )
    return raw


def _flatten_single_root(folder: Path) -> None:
    """Unwrap an archive's single top folder, so the weights sit directly in ``folder``."""
    entries = list(folder.iterdir())
    if len(entries) != 1 or not entries[0].is_dir():
        return
    inner = entries[0]
    for child in inner.iterdir():
        shutil.move(str(child), folder / child.name)
    inner.rmdir()


def temporary_archive(folder: Path) -> Path:
    """A fresh temp file beside ``folder`` (same filesystem, so large archives don't fill /tmp)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=folder.parent, prefix=".together-", suffix=".tar")
    os.close(descriptor)
    return Path(name)


__all__ = ["stream_to_file", "temporary_archive", "unpack"]
