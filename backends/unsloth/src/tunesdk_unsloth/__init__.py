"""tunesdk-unsloth: the ``unsloth`` backend (Unsloth's FastLanguageModel + TRL trainers), registered
as an entry point. Importing this package imports neither torch nor unsloth."""

from tunesdk_unsloth.backend import UnslothBackend

__all__ = ["UnslothBackend"]
