"""``tunesdk-together``: run the Together emulator from a shell.

tunesdk-together emulator --port 8765 --seconds-per-step 0.5
TOGETHER_BASE_URL=http://127.0.0.1:8765 TOGETHER_API_KEY=anything python my_app.py
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tunesdk-together", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    emulator = commands.add_parser("emulator", help="serve the Together API emulator on 127.0.0.1")
    emulator.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765)")
    emulator.add_argument(
        "--seconds-per-step",
        type=float,
        default=0.5,
        help="emulated training speed (default 0.5 s per step)",
    )
    emulator.add_argument(
        "--queue-seconds",
        type=float,
        default=2.0,
        help="time a job spends pending and queued (default 2 s)",
    )
    emulator.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="accept only this key (repeatable); default: any key",
    )
    emulator.add_argument(
        "--balance", type=float, default=1000.0, help="account credit in dollars (default 1000)"
    )
    emulator.add_argument("--adapter-dir", help="folder served as the LoRA adapter download")
    emulator.add_argument("--model-dir", help="folder served as the merged/full model download")
    args = parser.parse_args(argv)

    from tunesdk_together.emulator import TogetherEmulator

    emu = TogetherEmulator(
        port=args.port,
        api_keys=set(args.api_keys) if args.api_keys else None,
        balance=args.balance,
        adapter_dir=args.adapter_dir,
        model_dir=args.model_dir,
        seconds_per_step=args.seconds_per_step,
        pending_s=args.queue_seconds / 2,
        queued_s=args.queue_seconds / 2,
    )
    print(f"Together emulator on http://127.0.0.1:{args.port}  (Ctrl-C to stop)")
    print(f"  export TOGETHER_BASE_URL=http://127.0.0.1:{args.port} TOGETHER_API_KEY=emulated-key")
    emu.serve_forever()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
