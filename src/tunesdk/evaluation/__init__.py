"""Did fine-tuning help? Loss curves and overfitting, task metrics, base-vs-tuned comparison and
regression checks.

Light to import: matplotlib and rouge-score (the ``eval`` extra) load inside the functions that
use them; generation goes through ``ModelHandle.chat``, so any local or provider model works.
"""

from tunesdk.evaluation.compare import compare, rated_win_rate
from tunesdk.evaluation.comparison import ComparisonReport, ComparisonRow
from tunesdk.evaluation.curves import LossCurve, loss_curve
from tunesdk.evaluation.evaluate import DEFAULT_METRICS, evaluate
from tunesdk.evaluation.examples import EvalExample, load_examples
from tunesdk.evaluation.judge import JUDGE_PROMPT, JUDGE_SYSTEM, parse_verdict
from tunesdk.evaluation.metrics import (
    METRICS,
    accuracy,
    exact_match,
    f1,
    normalize,
    rouge,
)
from tunesdk.evaluation.overfitting import (
    MIN_RISE,
    PATIENCE,
    OverfitTracker,
    OverfitWarning,
    detect_overfitting,
)
from tunesdk.evaluation.plot import plot_loss
from tunesdk.evaluation.regression import MetricChange, RegressionReport, regression
from tunesdk.evaluation.report import EvalReport, ExampleResult

__all__ = [
    "DEFAULT_METRICS",
    "JUDGE_PROMPT",
    "JUDGE_SYSTEM",
    "METRICS",
    "MIN_RISE",
    "PATIENCE",
    "ComparisonReport",
    "ComparisonRow",
    "EvalExample",
    "EvalReport",
    "ExampleResult",
    "LossCurve",
    "MetricChange",
    "OverfitTracker",
    "OverfitWarning",
    "RegressionReport",
    "accuracy",
    "compare",
    "detect_overfitting",
    "evaluate",
    "exact_match",
    "f1",
    "load_examples",
    "loss_curve",
    "normalize",
    "parse_verdict",
    "plot_loss",
    "rated_win_rate",
    "regression",
    "rouge",
]
