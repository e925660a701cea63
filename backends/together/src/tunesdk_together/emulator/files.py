"""Uploaded files and the three ways the Together SDK puts them there.

1. Small files (the SDK's default): ``POST /v1/files`` (multipart form: purpose, file_name,
   file_type, checksum) answers ``302`` with a presigned ``Location`` and ``X-Together-File-Id``;
   the SDK ``PUT``s the bytes there, then calls ``POST /v1/files/{id}/preprocess``, which
   validates the file.
2. Files above the SDK's multipart threshold: ``POST /v1/files/multipart/initiate`` returns one
   presigned URL per part, each ``PUT`` answers an ``ETag``, and
   ``POST /v1/files/multipart/complete`` assembles them (``/abort`` discards them).
3. ``POST /v1/files/upload`` (the published spec's single multipart-form request).

A second upload of identical content for the same purpose is refused with ``409`` and the existing
file id, as the platform's checksum deduplication does; the SDK then returns the existing file.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesdk_together.emulator.errors import ApiError
from tunesdk_together.emulator.validation import Report, validate_file

PURPOSES = {"fine-tune", "eval", "calibration", "batch-api"}
FILE_TYPES = {"jsonl", "parquet", "csv"}


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    file_type: str
    path: Path
    bytes: int = 0
    checksum: str | None = None
    created_at: int = field(default_factory=lambda: int(time.time()))
    processing_status: str = "PENDING"
    report: Report | None = None
    #: monotonic time after which validation has finished (None: not submitted yet)
    ready_at: float | None = None

    @property
    def usable(self) -> bool:
        return self.processing_status == "COMPLETED"

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "file",
            "created_at": self.created_at,
            "filename": self.filename,
            "bytes": self.bytes,
            "purpose": self.purpose,
            "FileType": self.file_type,
            "Processed": self.processing_status in {"COMPLETED", "INVALID_FORMAT"},
            "processing_status": self.processing_status,
        }
        if self.report is not None:
            body["validation_report"] = self.report.as_json(self.id)
        return body


@dataclass
class _Pending:
    file: StoredFile
    token: str
    parts: dict[int, Path] = field(default_factory=dict)
    num_parts: int = 1


class FileStore:
    """Files on disk under ``root``, their metadata, and uploads in flight."""

    def __init__(self, root: Path, validation_s: Callable[[], float] = lambda: 0.0) -> None:
        self.root = root
        self._validation_s = validation_s
        self._lock = threading.Lock()
        self.files: dict[str, StoredFile] = {}
        self._pending: dict[str, _Pending] = {}
        self._uploads: dict[str, str] = {}  # multipart upload id -> file id

    # ---- queries ---------------------------------------------------------------------------------

    def get(self, file_id: str) -> StoredFile:
        stored = self.files.get(file_id)
        if stored is None:
            raise ApiError(404, f"File {file_id} not found", param="id", code="file_not_found")
        return self._refresh(stored)

    def listing(self) -> list[dict[str, Any]]:
        ordered = sorted(self.files.values(), key=lambda f: f.created_at)
        return [self._refresh(f).as_json() for f in ordered]

    def delete(self, file_id: str) -> dict[str, Any]:
        stored = self.get(file_id)
        with self._lock:
            del self.files[file_id]
        stored.path.unlink(missing_ok=True)
        return {"id": file_id, "deleted": True}

    # ---- single-request uploads --------------------------------------------------------------

    def begin(self, form: dict[str, Any]) -> tuple[str, str]:
        """Register a presigned upload; returns (file id, token for the PUT URL)."""
        stored = self._new_file(form)
        self._refuse_duplicate(stored)
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._pending[stored.id] = _Pending(stored, token)
        return stored.id, token

    def put_body(self, file_id: str, token: str, path: Path) -> str:
        """Record the bytes a presigned upload streamed to ``path``; returns the ETag."""
        pending = self._pending_for(file_id, token)
        stored = pending.file
        shutil.move(path, stored.path)
        stored.bytes = stored.path.stat().st_size
        digest = _sha256(stored.path)
        if stored.checksum and digest != stored.checksum:
            stored.path.unlink(missing_ok=True)
            raise ApiError(
                400, "Uploaded content does not match the checksum given at upload start"
            )
        with self._lock:
            del self._pending[file_id]
            self.files[file_id] = stored
        return digest[:32]

    def preprocess(self, file_id: str) -> dict[str, Any]:
        """Validate an uploaded file (``POST /v1/files/{id}/preprocess``)."""
        stored = self.get(file_id)
        if stored.ready_at is None:
            stored.ready_at = time.monotonic() + self._validation_s()
        return self._refresh(stored).as_json()

    def direct(self, form: dict[str, Any], path: Path) -> dict[str, Any]:
        """The spec's one-request upload (``POST /v1/files/upload``) of the bytes at ``path``."""
        stored = self._new_file(form)
        stored.checksum = _sha256(path)
        self._refuse_duplicate(stored)
        shutil.move(path, stored.path)
        stored.bytes = stored.path.stat().st_size
        with self._lock:
            self.files[stored.id] = stored
        self._validate(stored)
        return stored.as_json()

    # ---- multipart uploads -------------------------------------------------------------------

    def initiate(self, body: dict[str, Any], part_url: Any) -> dict[str, Any]:
        """Start a multipart upload; ``part_url(file_id, token, n)`` builds each part's PUT URL."""
        num_parts = body.get("num_parts")
        if not isinstance(num_parts, int) or not 1 <= num_parts <= 250:
            raise ApiError(400, "num_parts must be an integer between 1 and 250", param="num_parts")
        stored = self._new_file(body)
        self._refuse_duplicate(stored)
        token = secrets.token_urlsafe(16)
        upload_id = f"upload-{uuid.uuid4()}"
        with self._lock:
            self._pending[stored.id] = _Pending(stored, token, num_parts=num_parts)
            self._uploads[upload_id] = stored.id
        parts = [
            {"PartNumber": n, "URL": part_url(stored.id, token, n), "Headers": {}}
            for n in range(1, num_parts + 1)
        ]
        return {"upload_id": upload_id, "file_id": stored.id, "parts": parts}

    def put_part(self, file_id: str, token: str, number: int, path: Path) -> str:
        pending = self._pending_for(file_id, token)
        if not 1 <= number <= pending.num_parts:
            raise ApiError(400, f"part {number} is outside 1..{pending.num_parts}")
        target = self.root / f"{file_id}.part{number}"
        shutil.move(path, target)
        pending.parts[number] = target
        return _sha256(target)[:32]

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        file_id = self._upload_file_id(body)
        pending = self._pending[file_id]
        listed = body.get("parts") or []
        numbers = sorted(int(p["part_number"]) for p in listed)
        if numbers != list(range(1, pending.num_parts + 1)) or set(numbers) != set(pending.parts):
            raise ApiError(
                400, f"parts {numbers} do not match the {pending.num_parts} uploaded parts"
            )
        for part in listed:
            expected = _sha256(pending.parts[int(part["part_number"])])[:32]
            if part.get("etag") != expected:
                raise ApiError(400, f"ETag mismatch for part {part['part_number']}")
        stored = pending.file
        with stored.path.open("wb") as out:
            for n in numbers:
                with pending.parts[n].open("rb") as source:
                    shutil.copyfileobj(source, out)
                pending.parts[n].unlink()
        stored.bytes = stored.path.stat().st_size
        if stored.checksum and _sha256(stored.path) != stored.checksum:
            raise ApiError(400, "Assembled content does not match the checksum given at initiate")
        with self._lock:
            del self._pending[file_id]
            self._uploads.pop(body["upload_id"], None)
            self.files[file_id] = stored
        self._validate(stored)
        return {"file": stored.as_json()}

    def abort(self, body: dict[str, Any]) -> dict[str, Any]:
        file_id = self._upload_file_id(body)
        with self._lock:
            pending = self._pending.pop(file_id)
            self._uploads.pop(body["upload_id"], None)
        for path in pending.parts.values():
            path.unlink(missing_ok=True)
        return {"upload_id": body["upload_id"], "aborted": True}

    # ---- helpers -----------------------------------------------------------------------------

    def _upload_file_id(self, body: dict[str, Any]) -> str:
        file_id = self._uploads.get(str(body.get("upload_id")))
        if file_id is None or file_id != body.get("file_id") or file_id not in self._pending:
            raise ApiError(404, f"Multipart upload {body.get('upload_id')!r} not found")
        return file_id

    def _pending_for(self, file_id: str, token: str) -> _Pending:
        pending = self._pending.get(file_id)
        if pending is None or not secrets.compare_digest(pending.token, token):
            raise ApiError(
                403, "The upload URL is invalid or has expired", code="signature_mismatch"
            )
        return pending

    def _new_file(self, form: dict[str, Any]) -> StoredFile:
        purpose = str(form.get("purpose") or "")
        name = str(form.get("file_name") or "")
        file_type = str(form.get("file_type") or "jsonl")
        if purpose not in PURPOSES:
            raise ApiError(
                400, f"Invalid purpose {purpose!r}; use one of {sorted(PURPOSES)}", param="purpose"
            )
        if not name:
            raise ApiError(400, "file_name is required", param="file_name")
        if file_type not in FILE_TYPES:
            raise ApiError(400, f"Invalid file_type {file_type!r}", param="file_type")
        file_id = f"file-{uuid.uuid4()}"
        checksum = form.get("checksum")
        return StoredFile(
            id=file_id,
            filename=name,
            purpose=purpose,
            file_type=file_type,
            path=self.root / file_id,
            checksum=str(checksum) if checksum else None,
        )

    def _refuse_duplicate(self, new: StoredFile) -> None:
        if not new.checksum:
            return
        for existing in self.files.values():
            if (
                existing.checksum == new.checksum
                and existing.purpose == new.purpose
                and existing.filename == new.filename
                and existing.usable
            ):
                raise ApiError(
                    409,
                    f"File already exists: {existing.id}",
                    code="file_already_exists",
                    extra={"file_id": existing.id},
                )

    def _refresh(self, stored: StoredFile) -> StoredFile:
        """Finish validation once its time has come (it runs in the background on Together)."""
        ready = stored.ready_at
        if (
            stored.processing_status == "PENDING"
            and ready is not None
            and time.monotonic() >= ready
        ):
            self._validate(stored)
        return stored

    def _validate(self, stored: StoredFile) -> None:
        if stored.purpose != "fine-tune":
            stored.processing_status = "COMPLETED"
            return
        stored.report = validate_file(stored.path, stored.file_type)
        stored.processing_status = "COMPLETED" if stored.report.valid else "INVALID_FORMAT"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


__all__ = ["FileStore", "StoredFile"]
