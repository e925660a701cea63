"""Where the server keeps training runs and their checkpoints on disk, and what ``tinker://`` means.

One folder per training run under the server's state directory, so every ``tinker://`` path the
client got back loads again after a restart::

    STATE_DIR/runs/<run>/run.json                      base model, LoRA config, created
    STATE_DIR/runs/<run>/weights/<name>/               save_state: PEFT adapter + optimizer.pt
    STATE_DIR/runs/<run>/sampler_weights/<name>/       save_weights_for_sampler: PEFT adapter
    STATE_DIR/runs/<run>/external_weights/<name>/      save_weights_external: PEFT adapter (download)

``tinker://<run>/weights/<name>`` names a folder above. Names are checked before they touch the
file system: a path that escapes the state directory is a bad request, not a file read.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tunesdk_tinker.emulator.errors import BadRequest, NotFound

#: checkpoint kinds by the path segment the client uses for them
KINDS = {"weights": "training", "sampler_weights": "sampler", "external_weights": "external"}
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:_.-]{0,200}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$")


@dataclass(frozen=True)
class RunInfo:
    """What a training run was created with (``run.json``)."""

    run_id: str
    base_model: str
    lora_rank: int
    lora_alpha: float
    seed: int | None
    train_mlp: bool
    train_attn: bool
    train_unembed: bool
    created: float


@dataclass(frozen=True)
class CheckpointRef:
    """A parsed ``tinker://<run>/<kind>/<name>`` path."""

    run_id: str
    segment: str
    name: str

    @property
    def tinker_path(self) -> str:
        return f"tinker://{self.run_id}/{self.segment}/{self.name}"

    @property
    def kind(self) -> str:
        return KINDS[self.segment]

    @property
    def checkpoint_id(self) -> str:
        return f"{self.segment}/{self.name}"


def parse_tinker_path(path: str) -> CheckpointRef:
    """``tinker://run/weights/name`` → its parts; BadRequest naming the expected shape."""
    parts = path.removeprefix("tinker://").split("/") if path.startswith("tinker://") else []
    if len(parts) != 3 or parts[1] not in KINDS:
        raise BadRequest(
            f"{path!r} is not a checkpoint path: expected tinker://<run>/weights/<name> "
            "(or sampler_weights/, external_weights/), as save_state and "
            "save_weights_for_sampler return them"
        )
    return checkpoint_ref(parts[0], parts[1], parts[2])


def checkpoint_ref(run_id: str, segment: str, name: str) -> CheckpointRef:
    check_run_id(run_id)
    if segment not in KINDS:
        raise BadRequest(f"unknown checkpoint kind {segment!r}; known: {sorted(KINDS)}")
    if not _NAME.match(name):
        raise BadRequest(
            f"checkpoint name {name!r} is not allowed: use letters, digits, '_', '-' and '.' "
            "(no '/'), starting with a letter or digit"
        )
    return CheckpointRef(run_id, segment, name)


def check_run_id(run_id: str) -> str:
    if not _RUN_ID.match(run_id) or ".." in run_id:
        raise BadRequest(f"{run_id!r} is not a training run id")
    return run_id


class CheckpointStore:
    """Training runs and checkpoints under ``root`` (created on first use)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.runs = self.root / "runs"

    def run_dir(self, run_id: str) -> Path:
        return self.runs / check_run_id(run_id)

    def create_run(self, info: RunInfo) -> None:
        folder = self.run_dir(info.run_id)
        folder.mkdir(parents=True, exist_ok=True)
        _write_json(folder / "run.json", asdict(info))

    def run_info(self, run_id: str) -> RunInfo:
        path = self.run_dir(run_id) / "run.json"
        if not path.is_file():
            raise NotFound(f"training run {run_id!r} does not exist on this server")
        return RunInfo(**json.loads(path.read_text(encoding="utf-8")))

    def list_runs(self) -> list[RunInfo]:
        if not self.runs.is_dir():
            return []
        found = [self.run_info(p.name) for p in self.runs.iterdir() if (p / "run.json").is_file()]
        return sorted(found, key=lambda info: info.created)

    def folder(self, ref: CheckpointRef) -> Path:
        return self.run_dir(ref.run_id) / ref.segment / ref.name

    def existing(self, ref: CheckpointRef) -> Path:
        """The checkpoint's folder; NotFound when it was never saved (or was deleted)."""
        self.run_info(ref.run_id)
        folder = self.folder(ref)
        if not (folder / "checkpoint.json").is_file():
            raise NotFound(f"checkpoint {ref.tinker_path} does not exist on this server")
        return folder

    def new_checkpoint(self, ref: CheckpointRef, *, overwrite: bool) -> Path:
        """An empty folder for ``ref``; BadRequest when it exists and ``overwrite`` is false."""
        folder = self.folder(ref)
        if folder.exists():
            if not overwrite:
                raise BadRequest(
                    f"checkpoint {ref.tinker_path} already exists; pick another name or pass "
                    "overwrite=True"
                )
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        return folder

    def finish_checkpoint(self, ref: CheckpointRef, **meta: Any) -> None:
        """Mark ``ref`` complete (written last, so a crash mid-save leaves no loadable half)."""
        files = [p for p in self.folder(ref).rglob("*") if p.is_file()]
        meta = {"time": time.time(), "size_bytes": sum(p.stat().st_size for p in files), **meta}
        _write_json(self.folder(ref) / "checkpoint.json", meta)

    def checkpoints(self, run_id: str) -> list[dict[str, Any]]:
        """Every complete checkpoint of ``run_id`` as the client's ``Checkpoint`` JSON."""
        self.run_info(run_id)
        rows = []
        for segment in KINDS:
            base = self.run_dir(run_id) / segment
            for marker in sorted(base.glob("*/checkpoint.json")) if base.is_dir() else []:
                ref = CheckpointRef(run_id, segment, marker.parent.name)
                rows.append(self.describe(ref))
        return sorted(rows, key=lambda row: row["time"])

    def describe(self, ref: CheckpointRef) -> dict[str, Any]:
        meta = json.loads((self.existing(ref) / "checkpoint.json").read_text(encoding="utf-8"))
        return {
            "checkpoint_id": ref.checkpoint_id,
            "checkpoint_type": ref.kind,
            "time": _iso(meta["time"]),
            "tinker_path": ref.tinker_path,
            "size_bytes": meta.get("size_bytes"),
            "public": False,
            "user_metadata": meta.get("user_metadata"),
            "expires_at": None,
        }

    def files(self, ref: CheckpointRef) -> list[str]:
        """The downloadable files of a checkpoint, relative to its folder."""
        folder = self.existing(ref)
        return sorted(
            str(p.relative_to(folder))
            for p in folder.rglob("*")
            if p.is_file() and p.name != "checkpoint.json"
        )

    def file(self, ref: CheckpointRef, relative: str) -> Path:
        folder = self.existing(ref).resolve()
        path = (folder / relative).resolve()
        if not path.is_relative_to(folder) or not path.is_file() or path.name == "checkpoint.json":
            raise NotFound(f"{ref.tinker_path} has no file {relative!r}")
        return path

    def delete(self, ref: CheckpointRef) -> None:
        shutil.rmtree(self.existing(ref))


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    partial.replace(path)


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


__all__ = [
    "KINDS",
    "CheckpointRef",
    "CheckpointStore",
    "RunInfo",
    "check_run_id",
    "checkpoint_ref",
    "parse_tinker_path",
]
