"""tunesdk-lookup: an example backend plugin that memorises answers instead of training weights."""

from tunesdk_lookup.backend import LookupBackend

__all__ = ["LookupBackend"]
