"""Estimates before spending: training tokens, cost per managed provider, GPU memory per method.

``job.estimate()`` returns an `Estimate`; ``tunesdk estimate job.yaml`` prints it. Every
number is an estimate: see docs/guide/estimating.md for the formulas and the price table's dates.
"""

from tunesdk.estimation.architectures import KNOWN, Architecture, resolve_architecture
from tunesdk.estimation.estimate import Estimate, estimate_job
from tunesdk.estimation.memory import GPUS, GPUFit, MethodMemory
from tunesdk.estimation.prices import CostEstimate, PriceTable, load_prices
from tunesdk.estimation.tokens import TokenEstimate

__all__ = [
    "GPUS",
    "KNOWN",
    "Architecture",
    "CostEstimate",
    "Estimate",
    "GPUFit",
    "MethodMemory",
    "PriceTable",
    "TokenEstimate",
    "estimate_job",
    "load_prices",
    "resolve_architecture",
]
