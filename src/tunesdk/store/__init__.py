"""The run store: one folder per run under ``$TUNESDK_HOME/runs`` (default ``~/.tunesdk/runs``).

::

    <run_id>/
      job.json        the Job as given: fields set explicitly (backend_options secrets redacted)
      plan.json       the Plan
      state.json      status, worker pid, backend state (remote ids, cursors); never secrets
      events.jsonl    one event per line, seq 1, 2, 3, ... without gaps
      inputs/         data materialized for the worker or converted for upload
      outputs/        checkpoints and the final model
      worker.log      the worker's stdout/stderr;  error.log: the traceback of a failure
    ../runs.sqlite    the run index (SQLite, WAL) for listing; rebuilt from the folders at will

The folders are the source of truth. Modules: `ids` (the id grammar every looked-up id must
match), `records` (one run's folder: events, state, locking, repair), `index` (the SQLite list),
`state` (reading ``state.json`` and describing damage), `runs` (`RunStore`), `files` (home, atomic
writes).
"""

from tunesdk.store.files import home
from tunesdk.store.index import Page
from tunesdk.store.records import RunRecord
from tunesdk.store.runs import Pruned, RunStore, redacted_job
from tunesdk.store.state import DAMAGED, RunSummary

__all__ = [
    "DAMAGED",
    "Page",
    "Pruned",
    "RunRecord",
    "RunStore",
    "RunSummary",
    "home",
    "redacted_job",
]
