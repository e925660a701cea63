"""``tunesdk``: the command line, a thin face over the public API.

Exit codes: 0 success; 1 the run failed or was cancelled; 2 bad input (job, data, option);
3 backend unavailable or provider error. User errors print one readable block, never a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from tunesdk.errors import (
    BackendUnavailable,
    DataError,
    ProviderError,
    RunCancelled,
    RunFailed,
    TuneError,
)

app = typer.Typer(
    name="tunesdk",
    help="Define an LLM fine-tuning job once; run it on TRL, Unsloth, Axolotl, OpenAI, Together or Fireworks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# markup off: messages, fixes and paths carry brackets (`pip install "pkg[extra]"`, "[rank 1]")
out = Console(markup=False)
err = Console(stderr=True, markup=False)

JobFile = Annotated[Path, typer.Argument(help="job YAML/JSON file")]
BackendOpt = Annotated[
    str, typer.Option("--backend", "-b", help="backend name (see `tunesdk backends`)")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="override a job option: key=value (dotted keys ok)"),
]


def _load_job(path: Path, sets: list[str] | None) -> Any:
    from tunesdk.job import Job

    job = Job.from_yaml(path)
    if sets:
        overrides: dict[str, Any] = {}
        for item in sets:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise TuneError(f"--set {item!r} is not key=value", fix="e.g. --set epochs=3")
            overrides[key.strip()] = yaml.safe_load(value)
        job = job.with_overrides(overrides)
    return job


def _print_event(event: Any, as_json: bool) -> None:
    if as_json:
        print(event.to_json(), flush=True)
        return
    from tunesdk.events import Evaluation, Log, Progress, StatusChanged

    if isinstance(event, Progress):
        loss = f" loss={event.train_loss:.4f}" if event.train_loss is not None else ""
        total = f"/{event.total_steps}" if event.total_steps else ""
        out.print(f"step {event.step}{total}{loss}")
    elif isinstance(event, Evaluation):
        out.print(f"eval step {event.step}: eval_loss={event.eval_loss}")
    elif isinstance(event, StatusChanged):
        extra = f" ({event.provider_status})" if event.provider_status else ""
        out.print(f"status: {event.status}{extra}")
    elif isinstance(event, Log):
        out.print(f"{event.level}: {event.message}")
    else:
        out.print(f"{event.type}")


@app.command()
def run(
    job_file: JobFile,
    backend: BackendOpt,
    set_: SetOpt = None,
    json_events: Annotated[bool, typer.Option("--json", help="print events as JSON lines")] = False,
    detach: Annotated[bool, typer.Option("--detach", help="submit and print the run id")] = False,
) -> None:
    """Run a job to the end (or submit it with --detach)."""
    from tunesdk.run import Run

    job = _load_job(job_file, set_)
    submitted = Run.submit(job, backend)
    if detach:
        print(submitted.run_id)
        return
    err.print(f"run {submitted.run_id}")
    try:
        result = submitted.wait(on_event=lambda e: _print_event(e, json_events))
    except KeyboardInterrupt:
        err.print("cancelling...")
        submitted.cancel()
        raise typer.Exit(130) from None
    if not json_events:
        out.print(f"completed: model {result.model.to_uri() if result.model else '-'}")
        out.print(json.dumps(result.metrics))


@app.command()
def resume(run_id: str) -> None:
    """Start a new run of RUN's job from RUN's last checkpoint."""
    from tunesdk.run import Run

    old = Run.attach(run_id)
    result = old.record.job.run(backend=old.record.backend, resume=run_id)
    out.print(f"completed: model {result.model.to_uri() if result.model else '-'}")


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
) -> None:
    """Show what BACKEND would run or send, and the fate of every option. Spends nothing."""
    job = _load_job(job_file, set_)
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
    print(the_plan.render())


def _write_native(the_plan: Any, output: Path) -> None:
    """The plan's native request or config, as YAML or JSON by the file's extension."""
    if output.suffix.lower() in (".yml", ".yaml"):
        text = yaml.safe_dump(the_plan.native, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(the_plan.native, indent=2) + "\n"
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

    job = _load_job(job_file, set_)
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
    from tunesdk.evaluation import detect_overfitting, plot_loss
    from tunesdk.run import Run

    the_run = Run.attach(run_id)
    the_run.refresh()  # a live managed run: fetch the provider's latest events first
    events = the_run.record.events()
    path = plot_loss(events, output, title=title or f"run {run_id}")
    out.print(f"wrote {path}", markup=False)
    warning = detect_overfitting(events)
    if warning is not None:
        err.print(f"warning: {warning.message}", markup=False)


@app.command("backends")
def list_backends() -> None:
    """List backends: installed, usable here, and the fix when not."""
    from tunesdk.registry import backends as all_backends

    table = Table("backend", "kind", "usable", "version", "why not / fix")
    for info in all_backends():
        why = "" if info.usable else f"{info.reason or ''}" + (f" — {info.fix}" if info.fix else "")
        table.add_row(info.name, info.kind, "yes" if info.usable else "no", info.version or "", why)
    out.print(table)


@app.command()
def runs() -> None:
    """List runs in the run store ($TUNESDK_HOME)."""
    from tunesdk.store import RunStore

    table = Table("run", "backend", "status", "created")
    for record in RunStore().list():
        table.add_row(record.run_id, record.backend, record.status, record.created_at)
    out.print(table)


@app.command()
def status(run_id: str) -> None:
    """Show a run's status, last progress and result."""
    from tunesdk.events import Completed, Failed, Progress
    from tunesdk.run import Run

    the_run = Run.attach(run_id)
    the_run.refresh()
    events = the_run.record.events()
    out.print(f"run {the_run.run_id}: {the_run.status} ({the_run.record.backend})")
    last = next((e for e in reversed(events) if isinstance(e, Progress)), None)
    if last is not None:
        out.print(f"step {last.step}/{last.total_steps} loss {last.train_loss}")
    final = events[-1] if events else None
    if isinstance(final, Completed):
        out.print(f"model {final.model.to_uri()}")
    elif isinstance(final, Failed):
        out.print(f"error: {final.error}")


@app.command()
def logs(
    run_id: str,
    follow: Annotated[
        bool, typer.Option("-f", "--follow", help="follow until the run ends")
    ] = False,
    json_events: Annotated[bool, typer.Option("--json", help="print events as JSON lines")] = False,
) -> None:
    """Print a run's events."""
    from tunesdk.run import Run

    for event in Run.attach(run_id).events(follow=follow):
        _print_event(event, json_events)


@app.command()
def cancel(run_id: str) -> None:
    """Cancel a run and wait until it stops."""
    from tunesdk.run import Run

    the_run = Run.attach(run_id)
    the_run.cancel()
    out.print(f"run {the_run.run_id}: {the_run.status}")


@app.command()
def schema() -> None:
    """Print the job file's JSON Schema."""
    from tunesdk.job import Job

    print(json.dumps(Job.model_json_schema(), indent=2))


@app.command()
def validate(
    file: Annotated[str, typer.Argument(help="data file, directory or glob")],
    backend: Annotated[str | None, typer.Option("--backend", "-b")] = None,
    max_seq_length: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Check a data file with the rules of BACKEND; lists every problem with file and line."""
    from tunesdk.data import Dataset

    report = Dataset.load(file).validate(backend=backend, max_seq_length=max_seq_length)
    print(report.render())
    if not report.ok:
        raise typer.Exit(2)


@app.command()
def stats(file: Annotated[str, typer.Argument(help="data file, directory or glob")]) -> None:
    """Counts, turns and token lengths of a data file."""
    from tunesdk.data import Dataset

    print(Dataset.load(file).stats().render())


@app.command()
def convert(
    file: Annotated[str, typer.Argument(help="data file, directory or glob")],
    to: Annotated[
        str, typer.Option("--to", help="openai, together, fireworks, trl, axolotl, jsonl")
    ],
    output: Annotated[Path, typer.Option("-o", "--output")],
) -> None:
    """Write a data file in a backend's native format."""
    from tunesdk.data import Dataset

    path = Dataset.load(file).to(to, output)
    out.print(f"wrote {path}")


@app.command()
def demo(
    home: Annotated[Path | None, typer.Option(help="run store for the demo")] = None,
) -> None:
    """Run the embedded default job: a tiny local fine-tune, then the same job on a provider emulator."""
    from tunesdk.demo import run_demo

    run_demo(home)


def main() -> None:
    """Entry point: run the app, turning tunesdk errors into one-line messages and exit codes."""
    try:
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except (RunFailed, RunCancelled) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except (DataError, TuneError) as exc:
        code = 3 if isinstance(exc, BackendUnavailable | ProviderError) else 2
        report = getattr(exc, "report", None)
        text = report.render() if report is not None and hasattr(report, "render") else str(exc)
        if report is not None and getattr(exc, "fix", None):
            text += f"\n  fix: {exc.fix}"
        print(f"error: {text}", file=sys.stderr)
        sys.exit(code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:
        if isinstance(exc, _click_exceptions()):  # usage errors: message and exit code 2
            exc.show()  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        raise


def _click_exceptions() -> tuple[type[BaseException], ...]:
    """Click's exception base, from click itself and from the copy newer typer releases vendor."""
    import importlib

    found: list[type[BaseException]] = []
    for module in ("click.exceptions", "typer._click.exceptions"):
        try:
            found.append(importlib.import_module(module).ClickException)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


if __name__ == "__main__":
    main()
