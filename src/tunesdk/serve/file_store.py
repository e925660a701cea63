"""Uploaded files and pending Uploads on disk, under generated names only.

::

    serve/files/<file id>/file.json        the OpenAI File object (filename is metadata only)
    serve/files/<file id>/content[.jsonl]  the bytes (the extension from a short allow-list)
    serve/uploads/<upload id>/upload.json  a pending Upload; parts/<part id> its parts

No client-supplied name ever reaches a path: ids are generated (`tunesdk.serve.http.new_id`) and
every id that arrives in a URL is checked against that grammar before it is joined to a folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from tunesdk.serve.errors import ServeError
from tunesdk.serve.http import is_object_id, new_id
from tunesdk.store.files import write_atomic

FILE_PREFIX = "file-"
UPLOAD_PREFIX = "upload_"
PART_PREFIX = "part_"
#: the stored extensions tunesdk's data readers recognise; any other name is stored as ``content``
_EXTENSIONS = (".jsonl", ".json", ".csv", ".parquet", ".txt")
CHUNK = 1024 * 1024
#: an Upload that is not completed within this many seconds expires (OpenAI: one hour)
UPLOAD_TTL_S = 3600


def _extension(filename: str) -> str:
    lowered = filename.lower()
    return next((ext for ext in _EXTENSIONS if lowered.endswith(ext)), "")


def read_chunks(handle: IO[bytes]) -> Iterator[bytes]:
    """A binary file object's bytes, one ``CHUNK`` at a time (never the whole file at once)."""
    while block := handle.read(CHUNK):
        yield block


def display_name(filename: str | None) -> str:
    """The client's filename as metadata: its last path segment, printable, at most 255 chars."""
    name = (filename or "file").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip() or "file"
    return name[:255]


class FileStore:
    """Files (``file-…``) and Uploads (``upload_…``) of one server."""

    def __init__(
        self, files_dir: Path, uploads_dir: Path, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.files_dir = files_dir
        self.uploads_dir = uploads_dir
        #: seconds since the epoch (tests pass a fake one to expire uploads)
        self.clock = clock
        files_dir.mkdir(parents=True, exist_ok=True)
        uploads_dir.mkdir(parents=True, exist_ok=True)

    # ---- files --------------------------------------------------------------------------------

    def _file_dir(self, file_id: str) -> Path | None:
        if not is_object_id(file_id, FILE_PREFIX):
            return None
        folder = self.files_dir / file_id
        return folder if (folder / "file.json").is_file() else None

    def add(self, filename: str, purpose: str, chunks: Iterable[bytes]) -> dict[str, Any]:
        """Store a new file from ``chunks`` (`read_chunks` of a binary file object)."""
        file_id = new_id(FILE_PREFIX)
        folder = self.files_dir / file_id
        folder.mkdir()
        name = display_name(filename)
        target = folder / f"content{_extension(name)}"
        with target.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
            size = out.tell()
        meta = {
            "id": file_id,
            "object": "file",
            "bytes": size,
            "created_at": int(self.clock()),
            "filename": name,
            "purpose": purpose,
            "status": "processed",
            "content": target.name,
        }
        write_atomic(folder / "file.json", json.dumps(meta))
        return public(meta)

    def get(self, file_id: str) -> dict[str, Any] | None:
        """The File object, or None for an unknown (or malformed) id."""
        folder = self._file_dir(file_id)
        if folder is None:
            return None
        return public(json.loads((folder / "file.json").read_text(encoding="utf-8")))

    def path(self, file_id: str) -> Path | None:
        """Where the bytes of ``file_id`` are."""
        folder = self._file_dir(file_id)
        if folder is None:
            return None
        meta = json.loads((folder / "file.json").read_text(encoding="utf-8"))
        return folder / str(meta["content"])

    def delete(self, file_id: str) -> bool:
        folder = self._file_dir(file_id)
        if folder is None:
            return False
        shutil.rmtree(folder, ignore_errors=True)
        return True

    def pin(self, file_id: str) -> Path:
        """A private name for ``file_id``'s bytes that a job reads: a hard link (a copy across
        file systems) under ``serve/inputs/``, so deleting the file — which OpenAI allows at any
        time — never pulls the data from under a job that has not read it yet."""
        source = self.path(file_id)
        assert source is not None
        folder = self.files_dir.parent / "inputs" / f"{file_id}.{secrets.token_hex(4)}"
        folder.mkdir(parents=True)
        target = folder / source.name
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
        return target

    # ---- uploads ------------------------------------------------------------------------------

    def _upload_dir(self, upload_id: str) -> Path | None:
        if not is_object_id(upload_id, UPLOAD_PREFIX):
            return None
        folder = self.uploads_dir / upload_id
        return folder if (folder / "upload.json").is_file() else None

    def create_upload(
        self, filename: str, purpose: str, size: int, mime_type: str
    ) -> dict[str, Any]:
        upload_id = new_id(UPLOAD_PREFIX)
        folder = self.uploads_dir / upload_id
        (folder / "parts").mkdir(parents=True)
        now = int(self.clock())
        upload = {
            "id": upload_id,
            "object": "upload",
            "bytes": size,
            "created_at": now,
            "expires_at": now + UPLOAD_TTL_S,
            "filename": display_name(filename),
            "purpose": purpose,
            "status": "pending",
            "mime_type": mime_type,
            "file": None,
        }
        self._save_upload(folder, upload)
        return public_upload(upload)

    def _save_upload(self, folder: Path, upload: dict[str, Any]) -> None:
        write_atomic(folder / "upload.json", json.dumps(upload))

    def upload(self, upload_id: str) -> dict[str, Any] | None:
        """The Upload, or None. One found past its ``expires_at`` while still pending is expired
        now: its parts are deleted and its status saved as ``expired``."""
        folder = self._upload_dir(upload_id)
        if folder is None:
            return None
        return self._expire(folder)

    def _expire(self, folder: Path) -> dict[str, Any]:
        upload: dict[str, Any] = json.loads((folder / "upload.json").read_text(encoding="utf-8"))
        if upload["status"] == "pending" and self.clock() > upload["expires_at"]:
            shutil.rmtree(folder / "parts", ignore_errors=True)
            upload = {**upload, "status": "expired"}
            self._save_upload(folder, upload)
        return upload

    def expire_uploads(self) -> list[str]:
        """Expire every pending Upload past its ``expires_at`` (deleting its parts), as the server
        starts: an upload abandoned before a restart leaves nothing on disk. Returns their ids."""
        expired = []
        for folder in sorted(self.uploads_dir.iterdir()):
            if not is_object_id(folder.name, UPLOAD_PREFIX):
                continue
            try:
                pending = json.loads((folder / "upload.json").read_text("utf-8"))["status"]
                if pending == "pending" and self._expire(folder)["status"] == "expired":
                    expired.append(folder.name)
            except (OSError, ValueError, KeyError):
                continue  # half-written or foreign: left as it is
        return expired

    def add_part(self, upload_id: str, data: IO[bytes]) -> dict[str, Any]:
        folder = self._upload_dir(upload_id)
        assert folder is not None
        part_id = new_id(PART_PREFIX)
        with (folder / "parts" / part_id).open("wb") as out:
            shutil.copyfileobj(data, out, CHUNK)
        return {
            "id": part_id,
            "object": "upload.part",
            "created_at": int(self.clock()),
            "upload_id": upload_id,
        }

    def complete(
        self, upload: dict[str, Any], part_ids: list[str], md5: str | None
    ) -> dict[str, Any]:
        """Join the parts, in order, into a new File; 400 naming ``part_ids``/``md5`` when they do
        not add up to the declared bytes or checksum."""
        folder = self.uploads_dir / upload["id"]
        parts = []
        for part_id in part_ids:
            part = folder / "parts" / part_id
            if not is_object_id(part_id, PART_PREFIX) or not part.is_file():
                raise ServeError(
                    400, f"Unknown part id for upload {upload['id']}: {part_id}", param="part_ids"
                )
            parts.append(part)
        total = sum(part.stat().st_size for part in parts)
        if total != upload["bytes"]:
            raise ServeError(
                400,
                f"The upload was created for {upload['bytes']} bytes but the parts listed hold"
                f" {total} bytes.",
                param="part_ids",
            )
        digest = hashlib.md5(usedforsecurity=False)

        def chunks() -> Iterable[bytes]:
            for part in parts:
                with part.open("rb") as handle:
                    while block := handle.read(CHUNK):
                        digest.update(block)
                        yield block

        created = self.add(upload["filename"], upload["purpose"], chunks())
        if md5 and digest.hexdigest() != md5.lower():
            self.delete(created["id"])
            raise ServeError(
                400, "The md5 checksum does not match the uploaded bytes.", param="md5"
            )
        shutil.rmtree(folder / "parts", ignore_errors=True)
        upload = {**upload, "status": "completed", "file": created}
        self._save_upload(folder, upload)
        return public_upload(upload)

    def cancel_upload(self, upload: dict[str, Any]) -> dict[str, Any]:
        folder = self.uploads_dir / upload["id"]
        shutil.rmtree(folder / "parts", ignore_errors=True)
        upload = {**upload, "status": "cancelled"}
        self._save_upload(folder, upload)
        return public_upload(upload)


def public(meta: dict[str, Any]) -> dict[str, Any]:
    """The File object as the API shows it (no storage details)."""
    return {key: value for key, value in meta.items() if key != "content"}


def public_upload(upload: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in upload.items() if key != "mime_type"}


__all__ = [
    "FILE_PREFIX",
    "PART_PREFIX",
    "UPLOAD_PREFIX",
    "FileStore",
    "display_name",
    "read_chunks",
]
