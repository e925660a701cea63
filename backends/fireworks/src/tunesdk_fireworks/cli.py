"""``tunesdk-fireworks``: command-line tools of the Fireworks backend.

``tunesdk-fireworks emulator --port 8765`` serves the offline Fireworks API until interrupted; point
the SDK (or tunesdk) at it with ``FIREWORKS_BASE_URL=http://127.0.0.1:8765``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tunesdk-fireworks", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    emulator = commands.add_parser("emulator", help="serve the offline Fireworks API emulator")
    emulator.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)"
    )
    emulator.add_argument(
        "--port", type=int, default=8765, help="port (default 8765; 0 = any free one)"
    )
    emulator.add_argument("--seconds-per-step", type=float, default=0.5, help="training speed")
    emulator.add_argument(
        "--phase-seconds",
        type=float,
        default=1.0,
        help="time in each state before and after training",
    )
    emulator.add_argument(
        "--deploy-seconds", type=float, default=2.0, help="time a deployment takes to become ready"
    )
    emulator.add_argument(
        "--fail-at-step", type=int, default=None, help="make every job fail at this step"
    )
    emulator.add_argument(
        "--require-api-key",
        default=None,
        metavar="KEY",
        help="accept only this API key (default: any non-empty key)",
    )
    args = parser.parse_args(argv)

    from tunesdk_fireworks.emulator import FireworksEmulator

    server = FireworksEmulator(
        host=args.host,
        port=args.port,
        seconds_per_step=args.seconds_per_step,
        phase_s=args.phase_seconds,
        deploy_s=args.deploy_seconds,
        fail_at_step=args.fail_at_step,
        api_key=args.require_api_key,
    )
    print(
        f"Fireworks emulator on http://{args.host}:{args.port}\n"
        f"  export FIREWORKS_BASE_URL=http://{args.host}:{args.port} FIREWORKS_ACCOUNT_ID=me "
        "FIREWORKS_API_KEY=test",
        file=sys.stderr,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
