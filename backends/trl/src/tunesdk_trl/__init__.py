"""tunesdk-trl: the ``trl`` backend (Hugging Face TRL, PEFT, transformers), registered as an entry
point. Importing this package does not import torch."""

from tunesdk_trl.backend import TRLBackend

__all__ = ["TRLBackend"]
