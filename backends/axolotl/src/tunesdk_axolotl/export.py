"""For people who run Axolotl themselves: the YAML text of a plan, or a ready-to-run folder."""

from __future__ import annotations

from pathlib import Path

from tunesdk.backend import Plan
from tunesdk.errors import TuneError
from tunesdk.job import Job
from tunesdk_axolotl import config as cfg


def render_config(plan: Plan) -> str:
    """An axolotl plan's config as YAML text (data paths read ``<run folder>/...``)."""
    if plan.backend != "axolotl" or plan.native_format != "yaml":
        raise TuneError(
            f"this is a plan for backend {plan.backend!r}, not an Axolotl config",
            fix='make it with job.plan("axolotl")',
        )
    return plan.native_text()


def export(job: Job, folder: str | Path) -> Path:
    """Write the converted data, the YAML (and any DeepSpeed JSON) under ``folder/axolotl`` and
    return the YAML's path: ``axolotl train <path>`` runs the job without tunesdk."""
    from tunesdk.paths import resolve_job_paths

    root = Path(folder).expanduser().resolve()
    job = resolve_job_paths(job)  # the folder runs from anywhere: base_model and data absolute
    return cfg.write(job, job.infer_objective(), root)
