"""Commands that plan, estimate, run and resume jobs."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml

from tunesdk.cli import follow
from tunesdk.cli.common import BackendOpt, JobFile, SetOpt, app, err, load_job, out, parse_sets
from tunesdk.errors import TuneError

if TYPE_CHECKING:
    from tunesdk.run import Run

JsonOpt = Annotated[
    bool, typer.Option("--json", help="print events as JSON lines (one per line, nothing else)")
]
DetachOpt = Annotated[
    bool, typer.Option("--detach", help="submit, print the run id and return at once")
]
LauncherOpt = Annotated[
    str | None,
    typer.Option(
        "--launcher",
        "-l",
        metavar="NAME",
        help="where the worker runs: local, ray, skypilot (sets resources.launcher; see "
        "`tunesdk launchers`)",
    ),
]


@app.command()
def run(
    job_file: JobFile,
    backend: BackendOpt,
    set_: SetOpt = None,
    json_events: JsonOpt = False,
    detach: DetachOpt = False,
    launcher: LauncherOpt = None,
) -> None:
    """Run a job to the end (or submit it with --detach).

    Shows a progress bar on a terminal, a line every ~5% or minute elsewhere, and a summary at
    the end. Ctrl-C cancels the run; a second Ctrl-C stops waiting while the cancel finishes.
    """
    from tunesdk.run import Run

    job = load_job(job_file, set_).with_launcher(launcher)
    restart = shlex.join(
        ["tunesdk", "run", str(job_file), "--backend", backend]
        + [arg for pair in set_ or [] for arg in ("--set", pair)]  # the same job, overrides too
        + (["--launcher", launcher] if launcher else [])
    )
    _start_and_follow(
        lambda: Run.submit(job, backend),
        json_events=json_events,
        detach=detach,
        restart_hint=restart,
    )


@app.command()
def resume(
    run_id: str,
    json_events: JsonOpt = False,
    detach: DetachOpt = False,
    set_: SetOpt = None,
) -> None:
    """Start a new run of RUN's job from RUN's last checkpoint (a completed run is left alone).

    The run folder keeps no secrets: give a launcher option's secret again with --set (e.g.
    ``--set launcher_options.ray.runtime_env.env_vars.HF_TOKEN="$HF_TOKEN"``).

    A managed run's checkpoints live on the provider: a new provider job starts from the last
    one and trains what was left (or resume says why it cannot, and what to run). A paused
    provider job (OpenAI) is asked to go on instead, as the same run."""
    from tunesdk.run import Run

    old = Run.attach(run_id)
    old.refresh()
    if old.status == "completed":
        final = next((e for e in reversed(old.record.events()) if e.terminal), None)
        if json_events and final is not None:
            print(final.to_json(), flush=True)
        model = getattr(final, "model", None)
        err.print(
            f"run {old.run_id} already completed"
            + (f" (model {model.to_uri()})" if model is not None else "")
            + "; nothing to resume",
            soft_wrap=True,
        )
        err.print(f"  train again: tunesdk run JOB_FILE --backend {old.record.backend}")
        return
    from tunesdk.provider_resume import unpause

    if not old.done and unpause(old):  # a paused provider job goes on in place: the same run
        err.print(f"run {old.run_id}: asked {old.record.backend} to go on with its paused job")
        if detach:
            follow.detached(old.run_id)
            return
        code = follow.follow(old, as_json=json_events, restart_hint=f"tunesdk resume {old.run_id}")
        if code:
            raise typer.Exit(code)
        return
    resumed_job = old.record.job.with_overrides(parse_sets(set_)) if set_ else old.record.job
    if not old.done:
        raise TuneError(
            f"run {old.run_id} is still {old.status}: resuming it would train the job twice",
            fix=f"follow it with `tunesdk logs -f {old.run_id}`, or `tunesdk cancel {old.run_id}` "
            "first",
        )
    _start_and_follow(
        lambda: Run.submit(resumed_job, old.record.backend, resume=old.run_id),
        json_events=json_events,
        detach=detach,
        restart_hint=f"tunesdk resume {old.run_id}",
        started=f" (resuming {old.run_id})",
    )


def _start_and_follow(
    submit: Callable[[], Run],
    *,
    json_events: bool,
    detach: bool,
    restart_hint: str,
    started: str = "",
) -> None:
    """Submit (Ctrl-C here starts nothing), then return at once with ``detach`` or follow the run
    to its end; ``started`` follows the run id on the line that announces it."""
    try:
        submitted = submit()
    except KeyboardInterrupt:
        raise typer.Exit(follow.interrupted_before_start()) from None
    if detach:
        follow.detached(submitted.run_id)
        return
    err.print(f"run {submitted.run_id}{started}")
    code = follow.follow(submitted, as_json=json_events, restart_hint=restart_hint)
    if code:
        raise typer.Exit(code)


@app.command()
def plan(
    job_file: JobFile,
    backend: BackendOpt,
    set_: SetOpt = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="write the native request/config: YAML for .yml/.yaml, JSON otherwise",
        ),
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option(
            "--export",
            help="write a folder the engine runs without tunesdk (config + converted data), "
            "for config-driven engines such as axolotl",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the whole plan as JSON")] = False,
    launcher: LauncherOpt = None,
) -> None:
    """Show what BACKEND would run or send, and the fate of every option. Spends nothing.

    With a launcher other than local, -o writes the launcher's request instead (a SkyPilot task
    YAML that `sky jobs launch` runs, a Ray job submission as JSON)."""
    job = load_job(job_file, set_).with_launcher(launcher)
    the_plan = job.plan(backend)
    if output is not None:
        _write_native(the_plan, output)
        err.print(f"wrote {output}")
    if export is not None:
        from tunesdk.registry import get_backend

        entry = get_backend(backend).export(job, export)
        err.print(f"wrote {entry} (and the data it reads)")
    if as_json:
        print(the_plan.model_dump_json(indent=2))
        return
    print(the_plan.native_text())
    if the_plan.launcher_native:
        print(f"# launcher {the_plan.launcher}:")
        print(the_plan.launcher_text())
    print(the_plan.render())


def _write_native(the_plan: Any, output: Path) -> None:
    """The plan's native request or config (the launcher's, when it submits one), as YAML or
    JSON by the file's extension."""
    native = the_plan.launcher_native or the_plan.native
    if output.suffix.lower() in (".yml", ".yaml"):
        text = yaml.safe_dump(native, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(native, indent=2) + "\n"
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise TuneError(
            f"cannot write {output} ({exc.strerror or type(exc).__name__})",
            fix="choose a writable path for -o",
        ) from None


@app.command()
def estimate(
    job_file: JobFile,
    set_: SetOpt = None,
    prices: Annotated[
        Path | None,
        typer.Option(help="price table YAML merged over the shipped one (or $TUNESDK_PRICES)"),
    ] = None,
    params: Annotated[
        str | None, typer.Option(help="base model size when its shapes are unknown, e.g. 7B")
    ] = None,
    dtype: Annotated[
        str, typer.Option(help="weights/activations dtype: bfloat16, float16 or float32")
    ] = "bfloat16",
    no_gradient_checkpointing: Annotated[
        bool, typer.Option("--no-gradient-checkpointing", help="estimate without checkpointing")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the estimate as JSON")] = False,
) -> None:
    """Estimate training tokens, cost per managed provider and GPU memory per method."""
    from tunesdk.estimation.report import renderables

    job = load_job(job_file, set_)
    result = job.estimate(
        prices=prices,
        params=params,
        dtype=dtype,  # checked by estimate()
        gradient_checkpointing=not no_gradient_checkpointing,
    )
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    for part in renderables(result):
        out.print(part)


@app.command()
def plot(
    run_id: str,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="PNG (or PDF/SVG) to write")
    ] = Path("loss.png"),
    title: Annotated[str | None, typer.Option(help="plot title")] = None,
) -> None:
    """Plot a run's train and eval loss against step; warns where it starts to overfit."""
    from tunesdk.evaluation.overfitting import detect_overfitting
    from tunesdk.evaluation.plot import plot_loss
    from tunesdk.store import RunStore

    record = RunStore().get(run_id)
    if not record.terminal:  # a live run: fetch its latest events first (a provider's, say)
        from tunesdk.run import Run

        the_run = Run.attach(run_id)
        the_run.refresh()
        record = the_run.record
    events = record.events()  # a finished run's are all stored: no backend to load
    path = plot_loss(events, output, title=title or f"run {run_id}")
    out.print(f"wrote {path}", markup=False)
    warning = detect_overfitting(events)
    if warning is not None:
        err.print(f"warning: {warning.message}", markup=False)
