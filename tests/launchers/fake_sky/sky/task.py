"""``sky.Task``: the fake keeps the YAML config (SkyPilot's real parser is tested separately)."""

from __future__ import annotations

from typing import Any


class Task:
    def __init__(self, config: dict[str, Any], secrets: dict[str, str]) -> None:
        self.config = config
        self.secrets = secrets
        self.name = config.get("name")
        self.num_nodes = config.get("num_nodes", 1)

    @staticmethod
    def from_yaml_config(
        config: dict[str, Any],
        env_overrides: list[tuple[str, str]] | None = None,
        secrets_overrides: list[tuple[str, str]] | None = None,
    ) -> Task:
        if not isinstance(config.get("run"), str):
            raise ValueError("Invalid task YAML: run must be a string")
        secrets = {k: v for k, v in (config.get("secrets") or {}).items() if v is not None}
        secrets.update(dict(secrets_overrides or []))
        return Task(dict(config), secrets)
