"""Quiet Hugging Face output during tunesdk's own model operations.

Loading, generating with and saving a model through transformers/PEFT prints progress bars
(``Loading weights``, ``Writing model shards``), info/warning log lines and deprecation warnings
meant for those libraries' own users — not for someone calling ``model.chat(...)``. `quiet_hf`
silences them for the length of one tunesdk operation (a context manager or a decorator) and
restores the libraries' settings after it; errors still raise. ``TUNESDK_VERBOSE=1`` shows it all.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import warnings
from collections.abc import Iterator

VERBOSE_ENV = "TUNESDK_VERBOSE"


@contextlib.contextmanager
def quiet_hf() -> Iterator[None]:
    """Hide transformers/huggingface_hub progress bars, their log output below errors, and
    FutureWarning/DeprecationWarning, until the block ends (nothing is hidden with
    ``TUNESDK_VERBOSE=1``). Imports transformers only where it is installed."""
    if os.environ.get(VERBOSE_ENV) == "1":
        yield
        return
    with contextlib.ExitStack() as stack:
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        if "transformers" in sys.modules or importlib.util.find_spec("transformers") is not None:
            from transformers.utils import logging as hf_logging

            verbosity = hf_logging.get_verbosity()
            bars = hf_logging.is_progress_bar_enabled()
            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()  # also huggingface_hub's bars
            stack.callback(hf_logging.set_verbosity, verbosity)
            if bars:
                stack.callback(hf_logging.enable_progress_bar)
        yield


__all__ = ["VERBOSE_ENV", "quiet_hf"]
