"""The ``skypilot`` launcher: a local backend's worker as a SkyPilot managed job.

- `tunesdk.launchers.skypilot.task`: Job → SkyPilot task (pure).
- `tunesdk.launchers.skypilot.client`: SkyPilot's interpreter and the ``sky.jobs`` calls, made
  through `tunesdk.launchers.skypilot.driver` (SkyPilot runs in an environment of its own).
- `tunesdk.launchers.skypilot.node`: what each cluster node runs.
- `tunesdk.launchers.skypilot.launcher`: `SkyPilotLauncher` (launch, poll, cancel, attach).

See docs/guide/clusters.md, "SkyPilot".
"""

from tunesdk.launchers.skypilot.launcher import SkyPilotLauncher
from tunesdk.launchers.skypilot.task import build_task

__all__ = ["SkyPilotLauncher", "build_task"]
