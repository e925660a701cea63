"""``tunesdk-openai``: command-line tools of the OpenAI backend (the offline emulator)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tunesdk-openai", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    emulator = commands.add_parser(
        "emulator", help="serve the offline OpenAI fine-tuning emulator on 127.0.0.1"
    )
    emulator.add_argument("--port", type=int, default=8080)
    emulator.add_argument("--seconds-per-step", type=float, default=0.5)
    emulator.add_argument("--queue-s", type=float, default=2.0, help="seconds a job stays queued")
    emulator.add_argument("--validate-s", type=float, default=1.0, help="seconds validating files")
    emulator.add_argument("--fail-at-step", type=int, default=None, help="fail every job at step N")
    emulator.add_argument(
        "--no-fine-tuning",
        action="store_true",
        help="answer job creation with the 403 refusal of organizations without fine-tuning",
    )
    emulator.add_argument("--seed", type=int, default=0, help="seed for ids and loss curves")
    args = parser.parse_args(argv)

    from tunesdk_openai.emulator import OpenAIEmulator

    server = OpenAIEmulator(
        port=args.port,
        seed=args.seed,
        seconds_per_step=args.seconds_per_step,
        queue_s=args.queue_s,
        validate_s=args.validate_s,
        fail_at_step=args.fail_at_step,
        fine_tuning_enabled=not args.no_fine_tuning,
    )
    base = f"http://127.0.0.1:{args.port}"
    print(f"OpenAI emulator on {base}/v1 (Azure: azure_endpoint={base})", file=sys.stderr)
    print(f"  export OPENAI_BASE_URL={base}/v1 OPENAI_API_KEY=sk-emulator", file=sys.stderr)
    print(
        f"  faults: POST {base}/_emulator/faults   settings: {base}/_openai_emulator/settings",
        file=sys.stderr,
    )
    try:
        server.server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
