"""Run by an interpreter that has Axolotl installed: validate configs with Axolotl's own code.

Reads a JSON list of configs on stdin; prints a JSON list of results, one per config:
``{"ok": true, "dropped": [...keys Axolotl's schema ignored...], "config": {...validated...}}`` or
``{"ok": false, "error": "..."}``. Kept free of tunesdk imports so it runs in Axolotl's own env.
"""

import json
import logging
import sys


def main() -> None:
    logging.disable(logging.WARNING)
    from axolotl.utils.config import validate_config
    from axolotl.utils.dict import DictDefault
    from axolotl.utils.schemas.config import AxolotlInputConfig

    known = set(AxolotlInputConfig.model_fields)
    results = []
    for config in json.load(sys.stdin):
        try:
            validated = validate_config(DictDefault(config))
        except Exception as exc:  # report every rejection, whatever its type
            results.append({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
            continue
        results.append(
            {
                "ok": True,
                "dropped": sorted(set(config) - known),
                "config": json.loads(json.dumps(dict(validated), default=str)),
            }
        )
    print("RESULTS " + json.dumps(results))


if __name__ == "__main__":
    main()
