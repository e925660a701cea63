"""Dedicated endpoints (``POST/GET/DELETE /v1/endpoints``), as the spec's ``DedicatedEndpoint``.

A created endpoint goes ``PENDING`` → ``STARTING`` → ``STARTED`` on the clock; once started, chat
requests naming it (or the model it serves) are answered.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tunesdk_together.emulator.errors import ApiError


@dataclass
class Endpoint:
    id: str
    name: str
    model: str
    hardware: str
    display_name: str
    autoscaling: dict[str, Any]
    step_s: float
    created_wall: float = field(default_factory=time.time)
    created_mono: float = field(default_factory=time.monotonic)
    stopped: bool = False

    def state(self) -> str:
        if self.stopped:
            return "STOPPED"
        elapsed = time.monotonic() - self.created_mono
        if elapsed < self.step_s:
            return "PENDING"
        return "STARTING" if elapsed < 2 * self.step_s else "STARTED"

    def as_json(self) -> dict[str, Any]:
        return {
            "object": "endpoint",
            "id": self.id,
            "name": self.name,
            "display_name": self.display_name,
            "model": self.model,
            "hardware": self.hardware,
            "type": "dedicated",
            "owner": self.name.split("/", 1)[0],
            "state": self.state(),
            "autoscaling": self.autoscaling,
            "created_at": datetime.fromtimestamp(self.created_wall, UTC).isoformat(),
        }


class Endpoints:
    """The account's dedicated endpoints."""

    def __init__(self, account: str, step_s: float) -> None:
        self.account = account
        self.step_s = step_s
        self.items: dict[str, Endpoint] = {}

    def create(self, body: dict[str, Any], servable: set[str]) -> Endpoint:
        model = str(body.get("model") or "")
        if model not in servable:
            raise ApiError(
                400,
                f"Model {model} cannot be deployed: it is not a completed fine-tune "
                "or a supported base model",
                param="model",
            )
        if not body.get("hardware"):
            raise ApiError(400, "hardware is required", param="hardware")
        scaling = body.get("autoscaling") or {}
        low, high = scaling.get("min_replicas"), scaling.get("max_replicas")
        if (
            not isinstance(low, int)
            or not isinstance(high, int)
            or not 0 <= low <= high
            or high < 1
        ):
            raise ApiError(
                400,
                "autoscaling needs integers 0 <= min_replicas <= max_replicas, max_replicas >= 1",
                param="autoscaling",
            )
        short = uuid.uuid4().hex[:8]
        endpoint = Endpoint(
            id=f"endpoint-{uuid.uuid4()}",
            name=f"{self.account}/{model.rsplit('/', 1)[-1]}-{short}",
            model=model,
            hardware=str(body["hardware"]),
            display_name=str(body.get("display_name") or model),
            autoscaling={"min_replicas": low, "max_replicas": high},
            step_s=self.step_s,
        )
        self.items[endpoint.id] = endpoint
        return endpoint

    def get(self, endpoint_id: str) -> Endpoint:
        endpoint = self.items.get(endpoint_id)
        if endpoint is None:
            raise ApiError(404, f"Endpoint {endpoint_id} not found", param="endpointId")
        return endpoint

    def delete(self, endpoint_id: str) -> None:
        self.get(endpoint_id)
        del self.items[endpoint_id]

    def serving(self, model: str) -> Endpoint | None:
        """A started endpoint addressed by ``model`` (its name, or the model it serves)."""
        for endpoint in self.items.values():
            if model in {endpoint.name, endpoint.model} and endpoint.state() == "STARTED":
                return endpoint
        return None
