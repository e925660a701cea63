"""``python -m tunesdk.worker RUN_DIR``: run a local backend's training for one run.

Started by `tunesdk.local.LocalBackend` in its own process group. SIGTERM asks training to
stop at the next step (the backend saves a checkpoint); the run then ends ``cancelled``. Any
exception ends it ``failed`` with one readable line, the traceback going to ``error.log``.
Under ``accelerate launch``/``torchrun`` every rank runs this; only rank 0 writes events, and when
another rank fails first, rank 0's Failed event gives that rank's reason.
"""

from __future__ import annotations

import os
import signal
import sys
import time
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


RANK_LOG_SUFFIX = ".rank"


class PeerStopped(Exception):
    """SIGTERM from the launcher without a cancel: another training process failed."""

    def __str__(self) -> str:
        return "stopped by the launcher because another training process failed (see worker.log)"


def peer_failure(record: RunRecord, wait_s: float = 2.0) -> tuple[Path, str] | None:
    """(error log, "rank N: reason") of a rank other than 0 that failed, if one did.

    When rank 1 dies, rank 0 usually fails too (a collective loses its peer, or the launcher stops
    it): the real reason is rank 1's. Its log may still be being written, so wait a moment.
    """
    deadline = time.monotonic() + wait_s
    pattern = record.error_log.name + RANK_LOG_SUFFIX + "*"
    while True:
        for log in sorted(record.error_log.parent.glob(pattern)):
            text = log.read_text(encoding="utf-8", errors="replace")
            lines = text.splitlines()
            if lines and "PeerStopped" not in text:
                rank = log.name.rsplit(RANK_LOG_SUFFIX, 1)[-1]
                return log, f"rank {rank}: {lines[0]}"
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


def last_checkpoint(record: RunRecord) -> str | None:
    # strict=False: a damaged line in the log must not cost the run its checkpoint or its ending
    paths = [e.path for e in record.events(strict=False) if isinstance(e, Checkpoint) and e.path]
    return paths[-1] if paths else None


def run_worker(run_dir: Path) -> int:
    record = RunRecord(run_dir)
    main = is_main_process()

    distributed = "LOCAL_RANK" in os.environ  # started by accelerate launch / torchrun

    def on_sigterm(signum: int, frame: object) -> None:
        if distributed and not record.should_stop():
            # not a cancel (that is recorded before any signal): torchrun stops the other ranks
            # when one fails, and waiting for a step end could block on the dead rank forever
            raise PeerStopped
        record.request_stop()

    try:
        signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:  # not the main thread (a Ray Train worker): its launcher stops it
        pass
    if distributed:
        from tunesdk.local import register_rank

        register_rank(record, int(os.environ.get("RANK", "0")))
    from tunesdk.registry import restore_backend

    try:
        state = record.state
        backend = restore_backend(
            record.backend, state.get("backend_class"), state.get("backend_path")
        )
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
        suffix = "" if main else f"{RANK_LOG_SUFFIX}{os.environ.get('RANK')}"
        log = record.error_log.with_name(record.error_log.name + suffix)
        # other ranks start with the readable reason, which rank 0 reports if they failed first
        header = "" if main else one_line(exc) + "\n\n"
        log.write_text(header + traceback.format_exc(), encoding="utf-8")
        if main:
            reason, error_type, details = one_line(exc), type(exc).__name__, log
            # a TuneError is this rank's own readable reason; anything else may be the echo of
            # another rank's failure (a collective that lost its peer, or PeerStopped)
            peer = peer_failure(record) if distributed and not isinstance(exc, TuneError) else None
            if peer is not None:
                details, reason = peer
                error_type = "RankFailed"
            record.emit(Failed(error=reason, error_type=error_type, details_path=str(details)))
        return 1
    if not main:
        return 0
    if record.should_stop():
        record.emit(Cancelled(checkpoint=last_checkpoint(record)))
    else:
        # the training succeeded: a damaged line in the log must not turn it into a failure
        metrics = summarize(record.events(strict=False))
        record.emit(Completed(model=handle, metrics=metrics))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tunesdk.worker RUN_DIR", file=sys.stderr)
        return 2
    return run_worker(Path(args[0]))


if __name__ == "__main__":
    sys.exit(main())
