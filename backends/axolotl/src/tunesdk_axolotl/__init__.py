"""tunesdk-axolotl: the ``axolotl`` backend. A Job becomes an Axolotl YAML config, run as
``axolotl train``. Importing this package imports neither torch nor axolotl."""

from tunesdk_axolotl.backend import AxolotlBackend
from tunesdk_axolotl.export import export, render_config

__all__ = ["AxolotlBackend", "export", "render_config"]
