"""``plot_loss``: a PNG of train and eval loss against step, with overfitting marked (for RL
runs, whose loss says little, the reward against step)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from tunesdk.errors import TuneError
from tunesdk.evaluation.curves import LossCurve, loss_curve
from tunesdk.evaluation.overfitting import PATIENCE, OverfitWarning, detect_overfitting
from tunesdk.events import Event, Progress

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_INSTALL_FIX = "pip install 'tunesdk[eval]'  (or: pip install matplotlib)"


def plot_loss(events: Iterable[Event], path: str | Path, *, title: str | None = None) -> Path:
    """Draw train and eval loss against step from a run's events and save it (PNG, or any format
    matplotlib infers from the suffix) at ``path``; returns the path.

    Where `detect_overfitting` finds eval loss rising while train loss falls, the span is
    shaded, the best evaluation is marked and a warning is written on the chart.
    """
    events = list(events)
    rewards = [(e.step, e) for e in events if isinstance(e, Progress) and e.reward_mean is not None]
    if rewards:  # GRPO: the logged loss is about 0 on-policy and says nothing; the reward does
        return _plot_rewards(rewards, path, title)
    curve = loss_curve(events)
    if curve.empty:
        raise TuneError(
            "the run has no train or eval loss to plot",
            where="plot_loss",
            fix="plot a run that logged Progress.train_loss or Evaluation.eval_loss events",
        )
    warning = detect_overfitting(events)
    figure, axes = _figure()
    _draw_curves(axes, curve)
    if warning is not None:
        _mark_overfitting(axes, curve, warning)
    elif len(curve.eval) > PATIENCE:
        best_step, best = min(curve.eval, key=lambda point: point[1])
        axes.set_title(
            f"no overfitting detected (best eval loss {best:.3g} at step {best_step})",
            color="dimgray",
            fontsize=9,
        )
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    figure.suptitle(title or "Training and evaluation loss")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="best")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target)
    return target


def _plot_rewards(rewards: list[tuple[int, Progress]], path: str | Path, title: str | None) -> Path:
    """Mean reward (with ± one std band) and each reward function's mean against step."""
    figure, axes = _figure()
    steps = [step for step, _ in rewards]
    means = [event.reward_mean or 0.0 for _, event in rewards]
    axes.plot(steps, means, color="tab:green", lw=1.6, marker=".", label="mean reward")
    stds = [event.reward_std for _, event in rewards]
    if all(std is not None for std in stds):
        low = [m - (s or 0.0) for m, s in zip(means, stds, strict=True)]
        high = [m + (s or 0.0) for m, s in zip(means, stds, strict=True)]
        axes.fill_between(steps, low, high, color="tab:green", alpha=0.15, label="± std")
    names = sorted({name for _, event in rewards for name in event.rewards or {}})
    for name in names if len(names) > 1 else []:
        points = [(s, e.rewards[name]) for s, e in rewards if e.rewards and name in e.rewards]
        xs, ys = zip(*points, strict=True)
        axes.plot(xs, ys, lw=1, ls="--", label=f"reward {name}")
    axes.set_xlabel("step")
    axes.set_ylabel("reward")
    figure.suptitle(title or "Reward (GRPO: the training loss is about 0 on-policy)")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="best")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target)
    return target


def _figure() -> tuple[Figure, Axes]:
    """A bare Figure on the Agg canvas (no display, no pyplot global state) with one axes.

    Fixed margins, not a layout engine: constrained layout measures every text by drawing the
    figure once more, which more than doubled the time of a plot (benchmarks/plot_time.py)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise TuneError("plot_loss needs matplotlib", where="plot_loss", fix=_INSTALL_FIX) from exc
    figure = Figure(figsize=(9, 5), dpi=110)
    FigureCanvasAgg(figure)
    # room for 7-character tick labels and the axis label (left), a title line, the suptitle
    figure.subplots_adjust(left=0.09, right=0.98, bottom=0.11, top=0.86)
    return figure, figure.add_subplot()


def _draw_curves(axes: Axes, curve: LossCurve) -> None:
    if curve.train:
        steps, losses = zip(*curve.train, strict=True)
        marker = "." if len(steps) <= 60 else None
        axes.plot(steps, losses, color="tab:blue", lw=1.2, marker=marker, label="train loss")
    if curve.eval:
        steps, losses = zip(*curve.eval, strict=True)
        axes.plot(steps, losses, color="tab:orange", lw=2, marker="o", label="eval loss")


def _mark_overfitting(axes: Axes, curve: LossCurve, warning: OverfitWarning) -> None:
    end = _episode_end(curve, warning)
    axes.axvspan(warning.step, end, color="tab:red", alpha=0.12, label="overfitting")
    axes.axvline(warning.step, color="tab:red", ls="--", lw=1)
    axes.annotate(
        f"best eval {warning.best_eval_loss:.3g}\n(step {warning.step})",
        xy=(warning.step, warning.best_eval_loss),
        xytext=(8, -28),
        textcoords="offset points",
        fontsize=8,
        color="tab:red",
        arrowprops={"arrowstyle": "->", "color": "tab:red"},
    )
    # The warning sits between the title and the plot, where it can never hide a curve.
    axes.set_title(
        f"Warning: possible overfitting from step {warning.step}: eval loss "
        f"+{warning.rise:.1%} above its best by step {warning.detected_step} while train loss "
        f"fell {warning.train_loss_start:.3g} → {warning.train_loss_end:.3g}",
        color="darkred",
        fontsize=9,
    )


def _episode_end(curve: LossCurve, warning: OverfitWarning) -> float:
    """The step where eval loss got back below its best (the run recovered), else the last step."""
    for step, loss in curve.eval:
        if step > warning.detected_step and loss < warning.best_eval_loss:
            return step
    last_steps = [points[-1][0] for points in (curve.train, curve.eval) if points]
    return max(last_steps)


__all__ = ["plot_loss"]
