"""``python -m tunesdk.worker RUN_DIR``: run a local backend's training for one run.

Started by :class:`tunesdk.local.LocalBackend` in its own process group. SIGTERM asks training to
stop at the next step (the backend saves a checkpoint); the run then ends ``cancelled``. Any
exception ends it ``failed`` with one readable line, the traceback going to ``error.log``.
Under ``accelerate launch``/``torchrun`` every rank runs this; only rank 0 writes events.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from pathlib import Path

from tunesdk.errors import RunCancelled, TuneError
from tunesdk.events import Cancelled, Checkpoint, Completed, Failed, StatusChanged, summarize
from tunesdk.store import RunRecord


def is_main_process() -> bool:
    """True on rank 0 (or when not launched distributed)."""
    return int(os.environ.get("RANK", "0")) == 0


def one_line(exc: BaseException) -> str:
    """An exception as one readable line (TuneErrors keep their own wording)."""
    if isinstance(exc, TuneError):
        text = exc.message.splitlines()[0] if exc.message else type(exc).__name__
        return text + (f" — fix: {exc.fix}" if exc.fix else "")
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    if "out of memory" in text.lower():
        text = "out of memory: " + text
    return text[:500]


def last_checkpoint(record: RunRecord) -> str | None:
    paths = [e.path for e in record.events() if isinstance(e, Checkpoint) and e.path]
    return paths[-1] if paths else None


def run_worker(run_dir: Path) -> int:
    record = RunRecord(run_dir)
    main = is_main_process()

    def on_sigterm(signum: int, frame: object) -> None:
        record.request_stop()

    signal.signal(signal.SIGTERM, on_sigterm)
    from tunesdk.registry import get_backend

    try:
        backend = get_backend(record.backend)
        if main:
            record.emit(StatusChanged(status="running", message=f"worker pid {os.getpid()}"))
        handle = backend.train(record)
    except (RunCancelled, KeyboardInterrupt):
        if main:
            record.emit(Cancelled(checkpoint=last_checkpoint(record)))
        return 0
    except BaseException as exc:  # the worker's whole job is to report every failure
        if record.should_stop() and main:
            record.emit(Cancelled(checkpoint=last_checkpoint(record)))
            return 0
        suffix = "" if main else f".rank{os.environ.get('RANK')}"
        log = record.error_log.with_name(record.error_log.name + suffix)
        log.write_text(traceback.format_exc(), encoding="utf-8")
        if main:
            record.emit(
                Failed(error=one_line(exc), error_type=type(exc).__name__, details_path=str(log))
            )
        return 1
    if not main:
        return 0
    if record.should_stop():
        record.emit(Cancelled(checkpoint=last_checkpoint(record)))
    else:
        record.emit(Completed(model=handle, metrics=summarize(record.events())))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tunesdk.worker RUN_DIR", file=sys.stderr)
        return 2
    return run_worker(Path(args[0]))


if __name__ == "__main__":
    sys.exit(main())
