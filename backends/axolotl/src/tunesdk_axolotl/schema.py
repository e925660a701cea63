"""Checking a generated config against Axolotl's own pydantic schema, when Axolotl is installed.

Axolotl's ``AxolotlInputConfig`` ignores keys it does not know, so a misspelt key would be
dropped silently: besides running Axolotl's validation, unknown top-level keys are refused here.
Without Axolotl installed (a CPU machine, a laptop) this is skipped; the test suite compares the
keys tunesdk writes with the field names of Axolotl's schema instead.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from tunesdk.errors import JobError


def axolotl_installed() -> bool:
    return importlib.util.find_spec("axolotl") is not None


def schema_fields() -> set[str]:
    """Every top-level key (field name or alias) of ``AxolotlInputConfig``."""
    from axolotl.utils.schemas.config import AxolotlInputConfig

    names: set[str] = set()
    for name, info in AxolotlInputConfig.model_fields.items():
        names.add(name)
        if isinstance(info.alias, str):
            names.add(info.alias)
    return names


def validate(config: dict[str, Any]) -> dict[str, Any]:
    """Axolotl's validated (normalised) config; JobError naming every problem otherwise."""
    from pydantic import ValidationError

    # plugins add their own keys to the schema (Axolotl merges them in validate_config)
    unknown = [] if config.get("plugins") else sorted(set(config) - schema_fields())
    if unknown:
        raise JobError(
            f"Axolotl does not know the config key(s) {', '.join(unknown)}",
            where="axolotl config",
            fix="check the spelling of backend_options['axolotl'] keys against Axolotl's "
            "config reference",
        )
    from axolotl.utils.config import validate_config
    from axolotl.utils.dict import DictDefault

    try:
        validated = validate_config(DictDefault(dict(config)))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
            for err in exc.errors()
        )
        raise JobError(
            f"Axolotl rejects the config: {problems}",
            where="axolotl config",
            fix="change the Job option or backend_options['axolotl'] key named above",
        ) from None
    except ValueError as exc:
        raise JobError(
            f"Axolotl rejects the config: {exc}",
            where="axolotl config",
            fix="change the Job option or backend_options['axolotl'] key named above",
        ) from None
    return dict(validated)
