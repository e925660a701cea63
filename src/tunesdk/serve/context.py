"""`ServeContext`: what every route module of the server shares."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request

from tunesdk.errors import RunDamaged, RunNotFound
from tunesdk.serve.auth import authenticate
from tunesdk.serve.config import ServeConfig
from tunesdk.serve.errors import not_found
from tunesdk.serve.file_store import FileStore
from tunesdk.serve.job_view import JobSidecars, Outcomes
from tunesdk.serve.model_cache import ModelCache
from tunesdk.serve.ownership import Ownership
from tunesdk.store import RunRecord, RunStore

if TYPE_CHECKING:
    from tunesdk.serve.supervisor import Supervisor


@dataclass
class ServeContext:
    """The config, the run store, who owns what, and where the server keeps its own files
    (``$TUNESDK_HOME/serve``: uploaded files under generated names, the ownership table)."""

    config: ServeConfig
    store: RunStore = field(init=False)
    serve_dir: Path = field(init=False)
    ownership: Ownership = field(init=False)
    #: uploaded files and pending Uploads (`tunesdk.serve.file_store`)
    files: FileStore = field(init=False)
    #: the OpenAI-side facts of each job created through /v1/fine_tuning/jobs
    job_facts: JobSidecars = field(init=False)
    #: finished runs' outcomes (fine-tuned model URI, error), read once per run
    outcomes: Outcomes = field(init=False)
    #: local models loaded for chat completions (at most ``config.max_loaded_models``)
    models: ModelCache = field(init=False)
    #: set by `create_app`: call ``ctx.supervisor.watch(run_id)`` after submitting a run
    supervisor: Supervisor | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.store = RunStore(self.config.home)
        if self.config.home is not None:
            # Run.submit, Run.attach and the training workers find the store through the
            # environment: one store for the server and everything it starts
            os.environ["TUNESDK_HOME"] = str(self.store.home)
        self.serve_dir = self.store.home / "serve"
        (self.serve_dir / "files").mkdir(parents=True, exist_ok=True)
        self.ownership = Ownership(self.serve_dir / "ownership.sqlite")
        self.files = FileStore(self.files_dir, self.serve_dir / "uploads")
        self.job_facts = JobSidecars(self.serve_dir / "jobs")
        self.outcomes = Outcomes(self.files_dir)
        self.models = ModelCache(self.config.max_loaded_models)

    @property
    def files_dir(self) -> Path:
        """Uploaded files, each in a folder named by its generated file id."""
        return self.serve_dir / "files"

    def owner(self, request: Request) -> str:
        """The request's owner id (401 without a valid key when keys are configured)."""
        return authenticate(request, self.config)

    def claim_run(self, owner: str, run_id: str) -> None:
        """Record ``owner`` as the creator of ``run_id`` and follow the run until it ends."""
        self.ownership.claim("run", run_id, owner, time.time())
        if self.supervisor is not None:
            self.supervisor.watch(run_id)

    def cancel(self, run_id: str) -> None:
        """Ask ``run_id`` to stop — the one way every route cancels (OpenAI's and the native
        API's): the supervisor asks the backend and keeps following, so a local worker still
        running ``cancel_grace_s`` later is killed and the run recorded cancelled."""
        if self.supervisor is not None:
            self.supervisor.cancel(run_id)
            return
        from tunesdk.run import Run  # an app without a supervisor (never under `tunesdk serve`)

        Run.attach(run_id, home=self.store.home).cancel(wait=False)

    def run_for(self, owner: str, run_id: str, *, kind: str = "fine-tuning job") -> RunRecord:
        """The run ``run_id`` if ``owner`` created it; 404 otherwise (also for a damaged id)."""
        if self.ownership.owner_of("run", run_id) != owner:
            raise not_found(kind, run_id)
        try:
            return self.store.get(run_id)
        except (RunNotFound, RunDamaged):
            raise not_found(kind, run_id) from None


__all__ = ["ServeContext"]
