"""Using a fine-tuned Fireworks model: deploy it, then chat with it.

A Fireworks fine-tune is a LoRA addon, and Fireworks serves LoRA addons only from a dedicated
(on-demand) deployment, never serverless (docs.fireworks.ai "Deploying fine-tuned models"). Two
ways, both through the SDK:

- live merge (the default): ``deployments.create(base_model=<the fine-tuned model>)`` merges the
  LoRA into its base on a deployment of its own;
- multi-LoRA: ``lora.load(model=..., deployment=<an existing deployment created with
  enable_addons>)`` adds it to a deployment that already serves the base model.

Either way the model is then addressed as ``<model name>#<deployment name>``; ``deploy()`` returns a
ProviderModel with that id, and ``chat()`` on it calls the chat completions API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from tunesdk.errors import ProviderError, TuneError
from tunesdk.managed import wait_until
from tunesdk.models import ProviderModel
from tunesdk_fireworks.models import LIBRARY_ACCOUNT, parse_model_name
from tunesdk_fireworks.resources import resource_id_of, to_resource_id

if TYPE_CHECKING:
    from fireworks import Fireworks

PROVIDER = "fireworks"
DEPLOY_TIMEOUT_S = 1800.0


def needs_deployment(model_id: str) -> bool:
    """True for a fine-tuned (non-library) model that is not yet pinned to a deployment."""
    parsed = parse_model_name(model_id.partition("#")[0])
    return "#" not in model_id and parsed is not None and parsed[0] != LIBRARY_ACCOUNT


def chat(
    client: Fireworks, model: ProviderModel, messages: list[dict[str, Any]], **generation: Any
) -> str:
    """The assistant's reply from the chat completions API."""
    _check_messages(messages)
    response = _serve(
        model,
        lambda: client.chat.completions.create(
            model=model.model_id,
            messages=cast(Any, messages),
            stream=False,
            **generation,
        ),
    )
    content = response.choices[0].message.content
    return content if isinstance(content, str) else ""


def generate(client: Fireworks, model: ProviderModel, prompt: str, **generation: Any) -> str:
    """A raw continuation of ``prompt`` from the completions API (no chat template)."""
    response = _serve(
        model,
        lambda: client.completions.create(
            model=model.model_id,
            prompt=prompt,
            stream=False,
            **generation,
        ),
    )
    return response.choices[0].text


def _serve(model: ProviderModel, call: Any) -> Any:
    from fireworks import NotFoundError

    try:
        return call()
    except NotFoundError as exc:
        if needs_deployment(model.model_id):
            raise ProviderError(
                f"{model.model_id} is not deployed: Fireworks serves fine-tuned (LoRA) models only "
                "from a dedicated deployment, not serverless",
                provider=PROVIDER,
                status=404,
                code="NOT_FOUND",
                request_id=exc.response.headers.get("x-request-id"),
                fix="deploy it first: `model = model.deploy()` (an on-demand deployment, billed "
                "per GPU-hour; delete it when done), then `model.chat(...)`",
            ) from exc
        raise


def _check_messages(messages: Any) -> None:
    if (
        not isinstance(messages, list)
        or not messages
        or not all(isinstance(m, dict) for m in messages)
    ):
        raise TuneError(
            "messages must be a non-empty list of {'role': ..., 'content': ...} dicts",
            where="chat()",
            fix='call chat([{"role": "user", "content": "Hello"}])',
        )


def deploy(
    client: Fireworks,
    model: ProviderModel,
    *,
    deployment: str | None = None,
    deployment_id: str | None = None,
    wait: bool = True,
    timeout_s: float = DEPLOY_TIMEOUT_S,
    **deployment_options: Any,
) -> ProviderModel:
    """Make ``model`` servable and return the handle that chats with it.

    ``deployment``: an existing deployment (``accounts/<a>/deployments/<id>``, created with
    ``enable_addons=True`` for the same base model) to load the LoRA into. Without it, a new
    live-merge deployment named ``deployment_id`` (default: derived from the model id) is created;
    ``deployment_options`` (``min_replica_count``, ``accelerator_type``, ...) go to
    ``deployments.create`` unchanged.
    """
    from fireworks import ConflictError

    name = model.model_id.partition("#")[0]
    if "#" in model.model_id:
        return model
    if parse_model_name(name) is None:
        raise TuneError(
            f"{model.model_id!r} is not a Fireworks model name",
            where="deploy()",
            fix="deploy the handle a Fireworks run returned (accounts/<account>/models/<id>)",
        )
    if deployment is not None:
        loaded = client.lora.load(model=name, deployment=deployment)
        if wait:
            _wait(
                lambda: client.lora.get(resource_id_of(str(loaded.name))).state,
                "DEPLOYED",
                str(loaded.name),
                timeout_s,
            )
        return model.model_copy(update={"model_id": f"{name}#{deployment}"})
    target_id = deployment_id or to_resource_id(resource_id_of(name), "live")
    try:
        created = client.deployments.create(
            base_model=name, deployment_id=target_id, **deployment_options
        )
        target = str(created.name)
    except ConflictError:
        target = str(client.deployments.get(target_id).name)  # deployed by an earlier call
    if wait:
        _wait(lambda: client.deployments.get(target_id).state, "READY", target, timeout_s)
    return model.model_copy(update={"model_id": f"{name}#{target}"})


def _wait(read_state: Any, ready: str, what: str, timeout_s: float) -> None:
    def reached() -> bool | None:
        state = read_state()
        if state in ("FAILED", "DELETED", "DELETING", "UNDEPLOYING"):
            raise ProviderError(
                f"{what} ended {state} instead of {ready}", provider=PROVIDER, code=str(state)
            )
        return True if state == ready else None

    wait_until(
        reached,
        provider=PROVIDER,
        what=f"{what} is still not {ready}",
        timeout_s=timeout_s,
        fix="check it in the Fireworks console; call deploy(wait=False) to return at once",
        first_delay_s=0.1,
    )


__all__ = ["chat", "deploy", "generate", "needs_deployment"]
