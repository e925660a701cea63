"""Rich tables for an Estimate (the CLI prints them; ``render()`` gives plain text)."""

from __future__ import annotations

import io
from collections.abc import Callable

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from tunesdk.estimation.estimate import Estimate
from tunesdk.estimation.memory import GIB, MethodMemory


def _gib(value: int) -> str:
    return f"{value / GIB:,.1f}"


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def _params(value: int) -> str:
    if value >= 10**9:
        return f"{value / 1e9:,.2f}B"
    if value >= 10**6:
        return f"{value / 1e6:,.2f}M"
    return f"{value:,}"


def token_table(estimate: Estimate) -> Table:
    t = estimate.tokens
    table = Table(title="Training tokens (estimate)", show_header=False, title_justify="left")
    table.add_row("examples", f"{t.examples:,}")
    table.add_row("tokens per epoch", f"{t.tokens_per_epoch:,}")
    table.add_row("epochs", str(t.epochs))
    table.add_row("training tokens", f"{t.training_tokens:,}")
    table.add_row("counted with", t.counter)
    if t.invalid_rows:
        table.add_row("invalid rows", f"{t.invalid_rows} (not counted; run `tunesdk validate`)")
    return table


def cost_table(estimate: Estimate) -> tuple[Table, list[str]]:
    """The cost table, and its footnotes (unverified prices, minimums, why a provider is n/a)."""
    table = Table(
        "provider",
        "cost (USD)",
        "$/1M tokens",
        "basis",
        title=f"Cost per managed provider (estimate; price table of {estimate.price_table_checked})",
        title_justify="left",
    )
    notes: list[str] = []
    for row in estimate.costs:
        if not row.available:
            table.add_row(row.provider, "n/a", "", "")
            notes.append(f"{row.provider}: {row.reason or 'no price'}")
            continue
        price = f"{row.price_per_million:,.2f}"
        if row.unverified:
            price += " *"
            notes.append(
                f"{row.provider}: * UNVERIFIED price (checked {row.checked}): confirm at "
                + (row.source or "the provider's pricing page")
            )
        if row.minimum_applied:
            notes.append(f"{row.provider}: minimum charge ${row.minimum_charge:,.2f} applied")
        table.add_row(row.provider, _usd(row.cost_usd or 0.0), price, row.basis or "")
    return table, notes


def memory_table(estimate: Estimate) -> Table:
    """One column per method (the job's marked), one row per memory component: fits 80 columns."""
    arch = estimate.architecture
    title = "GPU memory per method, GiB (estimate)"
    if arch is not None:
        title += f": {_params(arch.params)} parameters from {arch.source}"
    rows = estimate.memory
    table = Table("", title=title, title_justify="left")
    for row in rows:
        header = f"{row.method} ◀ job" if row.selected else row.method
        table.add_column(header, justify="right", style="bold" if row.selected else None)
    components: list[tuple[str, Callable[[MethodMemory], str]]] = [
        ("trainable params", lambda r: _params(r.trainable_params)),
        ("weights", lambda r: _gib(r.weights_bytes)),
        ("gradients", lambda r: _gib(r.gradients_bytes)),
        ("optimizer states", lambda r: _gib(r.optimizer_bytes)),
        ("fp32 master weights", lambda r: _gib(r.master_weights_bytes)),
        ("activations", lambda r: _gib(r.activations_bytes)),
        ("reference model", lambda r: _gib(r.reference_model_bytes)),
        ("framework overhead", lambda r: _gib(r.overhead_bytes)),
        ("total", lambda r: _gib(r.total_bytes)),
        ("smallest GPU that fits", _smallest_fit),
    ]
    for label, cell in components:
        table.add_row(label, *(cell(row) for row in rows))
    return table


def _smallest_fit(row: MethodMemory) -> str:
    fitting = [f for f in row.fits if f.verdict != "no"]
    if not fitting:
        return "none listed"
    first = fitting[0]
    return first.gpu + (" (tight)" if first.verdict == "tight" else "")


def renderables(estimate: Estimate) -> list[RenderableType]:
    parts: list[RenderableType] = [
        Text(estimate.disclaimer, style="bold yellow"),
        token_table(estimate),
    ]
    costs, notes = cost_table(estimate)
    parts.append(costs)
    if notes:
        parts.append(Text("\n".join(notes), style="dim"))
    if estimate.memory:
        parts.append(memory_table(estimate))
    if estimate.memory_unavailable:
        parts.append(Text(f"memory: not estimated: {estimate.memory_unavailable}", style="yellow"))
    parts.append(Text("assumptions:\n" + "\n".join(f"- {a}" for a in estimate.assumptions)))
    return parts


def render(estimate: Estimate, width: int = 160) -> str:
    """The tables as plain text."""
    console = Console(record=True, width=width, file=io.StringIO(), color_system=None)
    console.print(Group(*renderables(estimate)))
    return console.export_text()
