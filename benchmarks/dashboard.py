"""How fast the dashboard's run page shows a long run, next to reading the same events raw.

One finished run with ``--events`` progress events (and an evaluation every 50 steps) is opened in
headless Chromium (Debian's, through Playwright) until its chart holds every point; the baseline
is the same run's whole SSE stream read with httpx in this process. The figure is the ratio
(page / raw stream), so it compares across machines: what the page adds on top of the transfer
(parsing, the chart, the log). Usage::

    python benchmarks/dashboard.py [--events 5000] [--repeat 3] [--budget RATIO]

Exits 1 when ``--budget`` is given and the ratio exceeds it. Needs Chromium (``TUNESDK_CHROMIUM``
or /usr/bin/chromium; scripts/setup.sh installs it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--budget", type=float, default=None, help="largest page/raw ratio")
    args = parser.parse_args()
    chromium = os.environ.get("TUNESDK_CHROMIUM") or shutil.which("chromium")
    if not chromium:
        print("no Chromium: set TUNESDK_CHROMIUM or run scripts/setup.sh", file=sys.stderr)
        return 2
    home = Path(tempfile.mkdtemp(prefix="tunesdk-dashboard-bench-"))
    os.environ["TUNESDK_HOME"] = str(home)
    try:
        return _measure(args, chromium)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _measure(args: argparse.Namespace, chromium: str) -> int:
    import httpx
    import uvicorn
    from playwright.sync_api import sync_playwright

    import tunesdk as ts
    from tunesdk.events import Evaluation, Progress, StatusChanged
    from tunesdk.serve.app import create_app
    from tunesdk.serve.config import ServeConfig
    from tunesdk.store import RunStore
    from tunesdk.testing import tiny_chat_data

    steps = args.events
    job = ts.Job(model="tiny/model", data=tiny_chat_data(4), max_steps=steps)
    record = RunStore().create(job, ts.get_backend("simulated").plan(job), "simulated")
    record.emit(StatusChanged(status="running"))
    for step in range(1, steps + 1):
        record.emit(Progress(step=step, total_steps=steps, train_loss=2.0 - step / steps))
        if step % 50 == 0:
            record.emit(Evaluation(step=step, eval_loss=2.1 - step / steps))
    record.emit(ts.Cancelled())
    points = steps + steps // 50

    server = uvicorn.Server(
        uvicorn.Config(create_app(ServeConfig(port=0)), port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"

    def raw() -> float:
        began = time.perf_counter()
        with httpx.stream("GET", f"{base}/tunesdk/v1/runs/{record.run_id}/events/stream") as r:
            for _ in r.iter_bytes():
                pass
        return time.perf_counter() - began

    args_ = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=args_)

        def page() -> float:
            tab = browser.new_page(viewport={"width": 1280, "height": 900})
            began = time.perf_counter()
            tab.goto(f"{base}/#/runs/{record.run_id}")
            tab.wait_for_function(
                f"() => +document.querySelector('#loss-figure')?.dataset.points === {points}",
                timeout=300_000,
            )
            took = time.perf_counter() - began
            tab.close()
            return took

        page()  # warm: the browser's caches and the server's first reads
        pages = [page() for _ in range(args.repeat)]
        raws = [raw() for _ in range(args.repeat)]
        browser.close()
    server.should_exit = True
    thread.join(timeout=10)

    page_s, raw_s = statistics.median(pages), statistics.median(raws)
    ratio = page_s / raw_s
    print(f"run page with {record.events()[-1].seq} events ({points} chart points)")
    print(f"  page until every point is drawn: {page_s:.3f} s (median of {args.repeat})")
    print(f"  the same SSE stream read raw:    {raw_s:.3f} s")
    print(f"  ratio page/raw: {ratio:.2f}")
    if args.budget is not None and ratio > args.budget:
        print(f"over budget: {ratio:.2f} > {args.budget}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
