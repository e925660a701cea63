"""The dashboard in a real browser: headless Chromium (Debian's package) driven by Playwright.

One server and one browser for the module. Runs are ordinary store runs: one the test feeds with
events itself (`RunRecord.emit`), so the chart's growth is exact, and simulated-backend runs for
Cancel. Screenshots of the list and of a run page at 1280 and 390 px go to docs/images/ with
``TUNESDK_UPDATE_SCREENSHOTS=1`` (else to a scratch folder).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import tunesdk as ts
from tunesdk import registry
from tunesdk.backend import Backend
from tunesdk.events import Checkpoint, Evaluation, Event, Log, Progress, StatusChanged
from tunesdk.plans import Plan
from tunesdk.registry import register_backend
from tunesdk.serve.auth import LOCAL_OWNER, owner_id
from tunesdk.store import RunRecord, RunStore
from tunesdk.testing import tiny_chat_data

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the dev extra)")
from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM = os.environ.get("TUNESDK_CHROMIUM", "/usr/bin/chromium")
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
WIDE = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
_SCRATCH = Path(tempfile.gettempdir()) / "tunesdk-dashboard-screenshots"
#: a run name a user chose, with markup in it: the page must show it as text
HOSTILE = '<img src=x onerror="window.__pwned=1">'


def _chromium() -> str | None:
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = _chromium()
    if executable is None:
        pytest.skip(
            "no Chromium here (/usr/bin/chromium): run scripts/setup.sh as root (apt-get install"
            " chromium) or set TUNESDK_CHROMIUM to a Chromium binary"
        )
    args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(
                executable_path=executable, headless=True, args=args
            )
        except Exception as exc:  # a binary that cannot start here (missing libraries, ...)
            pytest.skip(f"Chromium at {executable} cannot be launched: {exc}")
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, serve_kit: Any) -> Iterator[Any]:
    """The server over a private store (module scope: one server for every test here)."""
    home = tmp_path_factory.mktemp("dashboard") / "home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TUNESDK_HOME", str(home))
        patch.setenv("HF_HUB_OFFLINE", "1")
        with serve_kit.running(None) as server:
            yield server


@pytest.fixture(scope="module")
def finished(site: Any) -> Any:
    """A completed simulated run with evaluations and checkpoints (what the screenshots show)."""
    job = ts.Job(
        model="Qwen/Qwen2.5-0.5B-Instruct",
        data=tiny_chat_data(64),
        eval_split=0.1,
        max_steps=60,
        eval_steps=10,
        n_checkpoints=3,
        weight_decay=0.05,
        backend_options={"simulated": {"step_seconds": 0.002}},
    )
    with pytest.warns(ts.UnsupportedOptionWarning, match="weight_decay"):  # the dropped row
        result = job.run(backend="simulated", progress=False)
    site.ctx.ownership.claim("run", result.run_id, LOCAL_OWNER, time.time())
    return result


def _job(**fields: Any) -> ts.Job:
    fields.setdefault("max_steps", 12)
    return ts.Job(model="tiny/model", data=tiny_chat_data(8), **fields)


class FedBackend(Backend):
    """A managed backend whose provider never speaks: the test writes the run's events itself
    (exact counts for the chart), and a cancel ends the run at once."""

    name = "dashfed"
    kind = "managed"
    poll_interval = (0.05, 0.1)

    def plan(self, job: ts.Job) -> Plan:
        simulated = ts.get_backend("simulated").plan(job)  # a real plan table, dropped rows too
        return simulated.model_copy(update={"backend": self.name, "kind": self.kind})

    def launch(self, run: RunRecord) -> None:
        run.emit(StatusChanged(status="running"))

    def poll(self, run: RunRecord) -> list[Event]:
        return []

    def cancel(self, run: RunRecord) -> None:
        run.emit(ts.Cancelled())


@pytest.fixture(scope="module", autouse=True)
def fed_backend() -> Iterator[None]:
    """`FedBackend` registered for this module only (the server finds runs' backends by name)."""
    register_backend(FedBackend.name, FedBackend)
    yield
    registry._registered.pop(FedBackend.name, None)


def _fed_run(site: Any, model: str = "tiny/model") -> RunRecord:
    """A running `FedBackend` run: its events are what the test emits."""
    job = ts.Job(model=model, data=tiny_chat_data(8), max_steps=40, weight_decay=0.05)
    backend = FedBackend()
    record = RunStore().create(job, backend.plan(job), FedBackend.name)
    site.ctx.ownership.claim("run", record.run_id, LOCAL_OWNER, time.time())
    backend.launch(record)
    return record


def _submitted(site: Any, step_seconds: float) -> Any:
    """A simulated run training in its worker, followed by the server like its own runs."""
    job = _job(max_steps=400, backend_options={"simulated": {"step_seconds": step_seconds}})
    run = ts.Run.submit(job, "simulated")
    site.ctx.claim_run(LOCAL_OWNER, run.run_id)
    return run


#: script errors and console errors (a CSP violation, a missing file) per open page
_PROBLEMS: dict[int, list[str]] = {}


def _open(browser: Browser, url: str, viewport: dict[str, int]) -> Page:
    page = _open_new(browser, viewport)
    page.goto(url)
    return page


def _open_new(browser: Browser, viewport: dict[str, int]) -> Page:
    """A new page that records script and console errors (`_close` asserts there were none)."""
    page = browser.new_page(viewport=viewport)
    problems = _PROBLEMS.setdefault(id(page), [])
    page.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console: {msg.text} ({msg.location.get('url')})")
            if msg.type == "error"
            else None
        ),
    )
    return page


def _close(page: Page) -> None:
    problems = _PROBLEMS.pop(id(page), [])
    page.close()
    assert not problems, problems


def _points(page: Page) -> int:
    return int(page.locator("#loss-figure").get_attribute("data-points") or 0)


def _no_horizontal_scroll(page: Page) -> None:
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px at {page.viewport_size}"


def _shot(page: Page, name: str) -> None:
    """A full-page screenshot: into docs/images with ``TUNESDK_UPDATE_SCREENSHOTS=1`` (then
    commit them), else into a scratch folder (a test run leaves the checkout as it was)."""
    folder = IMAGES if os.environ.get("TUNESDK_UPDATE_SCREENSHOTS") == "1" else _SCRATCH
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name), full_page=True)
    assert (folder / name).stat().st_size > 10_000


def _wait(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_static_files_come_from_the_package_with_a_strict_policy(site: Any) -> None:
    with site.http() as http:
        page = http.get("/")
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
        for path in ("/static/app.js", "/static/app.css", "/static/vendor/uplot/uPlot.iife.min.js"):
            answer = http.get(path)
            assert answer.status_code == 200, path
            assert "content-security-policy" in answer.headers
        assert http.get("/static/vendor/uplot/LICENSE").text.startswith("The MIT License")
        assert http.get("/static/../dashboard.py").status_code == 404


def test_the_run_list_renders_the_stores_runs_and_filters_them(
    site: Any, browser: Browser, finished: Any
) -> None:
    running = _fed_run(site, model="Qwen/Qwen2.5-0.5B-Instruct")
    done = _fed_run(site, model="meta-llama/Llama-3.2-1B-Instruct")
    for step in range(1, 9):
        done.emit(Progress(step=step, total_steps=8, train_loss=2.0 - step * 0.1))
    done.emit(ts.Completed(model=ts.LocalModel(path=str(done.outputs_dir), base_model="m")))
    stopped = _fed_run(site, model="Qwen/Qwen2.5-0.5B-Instruct")
    stopped.emit(ts.Cancelled())
    page = _open(browser, site.base_url + "/", WIDE)
    expect(page.locator(f'tr[data-run-id="{running.run_id}"]')).to_contain_text("running")
    expect(page.locator(f'tr[data-run-id="{done.run_id}"]')).to_contain_text("completed")
    row = page.locator(f'tr[data-run-id="{stopped.run_id}"]')
    expect(row).to_contain_text("cancelled")
    expect(row).to_contain_text(FedBackend.name)
    expect(row).to_contain_text("Qwen/Qwen2.5-0.5B-Instruct")
    expect(row).to_contain_text("s ago")
    expect(page.locator(f'tr[data-run-id="{finished.run_id}"]')).to_contain_text("completed")

    page.select_option("#filter-status", "cancelled")
    expect(page.locator(f'tr[data-run-id="{running.run_id}"]')).to_have_count(0)
    expect(page.locator(f'tr[data-run-id="{stopped.run_id}"]')).to_be_visible()
    assert "status=cancelled" in page.url
    page.select_option("#filter-status", "")
    page.select_option("#filter-backend", "trl")
    expect(page.locator("#runs")).to_contain_text("No runs match")
    page.select_option("#filter-backend", FedBackend.name)
    expect(page.locator(f'tr[data-run-id="{running.run_id}"]')).to_be_visible()
    page.get_by_role("link", name=running.run_id).click()
    expect(page.locator("h1")).to_have_text(running.run_id)
    _close(page)

    phone = _open(browser, site.base_url + "/", PHONE)
    expect(phone.locator(f'tr[data-run-id="{done.run_id}"]')).to_be_visible()
    _no_horizontal_scroll(phone)
    _close(phone)


def test_user_text_is_shown_as_text_never_run(site: Any, browser: Browser) -> None:
    record = _fed_run(site, model=HOSTILE)
    record.emit(Log(message=f"user text {HOSTILE}", level="warning"))
    record.emit(ts.Failed(error=HOSTILE))
    page = _open(browser, site.base_url + "/", WIDE)
    row = page.locator(f'tr[data-run-id="{record.run_id}"]')
    expect(row).to_contain_text(HOSTILE)  # the markup is shown as text...
    page.get_by_role("link", name=record.run_id).click()
    expect(page.locator("#event-log")).to_contain_text(f"failed: {HOSTILE}")
    expect(page.locator("#event-log")).to_contain_text(f"user text {HOSTILE}")
    assert page.locator("img").count() == 0
    assert page.evaluate("() => window.__pwned") is None  # ...and never ran
    _close(page)


def test_a_live_runs_chart_gains_points_as_events_arrive(site: Any, browser: Browser) -> None:
    record = _fed_run(site)
    for step in range(1, 6):
        record.emit(Progress(step=step, total_steps=40, train_loss=2.5 - step * 0.05))
    page = _open(browser, site.base_url + f"/#/runs/{record.run_id}", WIDE)
    _wait(lambda: _points(page) == 5, what="the 5 points already in the store")
    expect(page.locator("#stream-state")).to_contain_text("live")

    for step in range(6, 21):
        record.emit(
            Progress(step=step, total_steps=40, train_loss=2.5 - step * 0.05, learning_rate=2e-4)
        )
        if step % 10 == 0:
            record.emit(Evaluation(step=step, eval_loss=2.4 - step * 0.04))
            record.emit(Checkpoint(step=step, path=f"/runs/x/checkpoint-{step}"))
    record.emit(Log(message="eval loss is still falling", level="info"))
    _wait(lambda: _points(page) == 22, what="20 train + 2 eval points")
    expect(page.locator("#chart-caption")).to_contain_text("step 20")
    expect(page.locator("#checkpoints li")).to_have_count(2)
    expect(page.locator("#event-log")).to_contain_text("eval loss is still falling")
    expect(page.locator("#metrics")).to_contain_text("train_loss")
    expect(page.locator("#plan-dropped")).to_contain_text("weight_decay")
    expect(page.locator("#plan")).to_be_hidden()
    page.get_by_text("All ", exact=False).filter(has_text="options").click()
    expect(page.locator("#plan tr.fate-dropped.user-set")).to_contain_text("weight_decay")
    # every event once, in order, across the initial load and the live stream
    seqs = [
        int(s)
        for s in page.locator("#event-log li").evaluate_all(
            "items => items.map(li => li.dataset.seq)"
        )
    ]
    assert seqs == list(range(1, record.events()[-1].seq + 1))

    record.emit(Progress(step=21, total_steps=40, train_loss=1.4))
    _wait(lambda: _points(page) == 23, what="one more point")
    record.emit(ts.Cancelled())
    expect(page.locator("#run-status")).to_contain_text("cancelled")
    expect(page.locator("#cancel")).to_be_disabled()
    _close(page)


def test_a_finished_run_at_1280_and_390_px(site: Any, browser: Browser, finished: Any) -> None:
    events = ts.Run.attach(finished.run_id).record.events()
    train = sum(1 for e in events if isinstance(e, Progress) and e.train_loss is not None)
    evals = sum(1 for e in events if isinstance(e, Evaluation))
    checkpoints = sum(1 for e in events if isinstance(e, Checkpoint))
    assert train == 60 and evals >= 5
    for viewport, name in ((WIDE, "dashboard-run-1280.png"), (PHONE, "dashboard-run-390.png")):
        page = _open(browser, site.base_url + f"/#/runs/{finished.run_id}", viewport)
        _wait(lambda page=page: _points(page) == train + evals, what="every point")
        expect(page.locator("#run-status")).to_contain_text("completed")
        expect(page.locator("#cancel")).to_be_disabled()
        expect(page.locator("#run-model")).to_contain_text("local:")
        expect(page.locator("#checkpoints li")).to_have_count(checkpoints)
        expect(page.locator("#metrics")).to_contain_text("best_eval_loss")
        _no_horizontal_scroll(page)
        _shot(page, name)
        _close(page)


def test_cancel_cancels_the_run(site: Any, browser: Browser) -> None:
    run = _submitted(site, step_seconds=0.2)
    page = _open(browser, site.base_url + f"/#/runs/{run.run_id}", WIDE)
    _wait(lambda: _points(page) >= 1, what="the first training step")
    page.locator("#cancel").click()
    expect(page.locator("#run-status")).to_contain_text("cancelled", timeout=30_000)
    assert run.record.status == "cancelled"
    expect(page.locator("#cancel")).to_be_disabled()
    _close(page)


def test_delete_asks_first_then_removes_an_ended_run(site: Any, browser: Browser) -> None:
    live, ended = _fed_run(site), _fed_run(site)
    ended.emit(Progress(step=1, train_loss=1.0))
    ended.emit(ts.Cancelled())
    page = _open(browser, site.base_url + f"/#/runs/{live.run_id}", WIDE)
    expect(page.locator("#run-status")).to_contain_text("running")
    expect(page.locator("#delete")).to_be_hidden()  # a live run is cancelled, not deleted
    page.goto(site.base_url + f"/#/runs/{ended.run_id}")
    expect(page.locator("#run-status")).to_contain_text("cancelled")
    page.locator("#delete").click()
    confirmation = page.locator("#delete-confirmation")
    expect(confirmation).to_be_visible()
    expect(confirmation).to_contain_text("cannot be undone")
    expect(page.locator("#delete-keep")).to_be_focused()  # Enter alone keeps the run
    page.keyboard.press("Enter")
    expect(confirmation).to_be_hidden()
    expect(page.locator("#delete")).to_be_focused()
    assert ended.dir.is_dir()
    page.locator("#delete").click()
    page.locator("#delete-confirm").click()
    expect(page.locator("h1")).to_have_text("Runs")  # back on the list, without the run
    expect(page.locator(f'tr[data-run-id="{live.run_id}"]')).to_be_visible()
    expect(page.locator(f'tr[data-run-id="{ended.run_id}"]')).to_have_count(0)
    assert not ended.dir.exists()
    assert site.ctx.ownership.owner_of("run", ended.run_id) is None
    # a run that ends while its page is open offers Delete at once
    page.goto(site.base_url + f"/#/runs/{live.run_id}")
    expect(page.locator("#run-status")).to_contain_text("running")
    live.emit(ts.Cancelled())
    expect(page.locator("#delete")).to_be_visible()
    _close(page)


def test_keyboard_reaches_cancel_and_enter_activates_it(site: Any, browser: Browser) -> None:
    run = _submitted(site, step_seconds=0.2)
    page = _open(browser, site.base_url + f"/#/runs/{run.run_id}", WIDE)
    _wait(lambda: _points(page) >= 1, what="the first training step")
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement && document.activeElement.id") == "cancel":
            break
    else:
        raise AssertionError("Tab never reached the Cancel button")
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), "the focused Cancel button shows no focus ring"
    page.keyboard.press("Enter")
    expect(page.locator("#run-status")).to_contain_text("cancelled", timeout=30_000)
    assert run.record.status == "cancelled"
    _close(page)


def test_a_dropped_stream_resumes_without_losing_or_repeating_events(
    site: Any, browser: Browser
) -> None:
    record = _fed_run(site)
    for step in range(1, 4):
        record.emit(Progress(step=step, train_loss=2.0 - step * 0.1))
    sent = record.events()
    resumes: list[str | None] = []

    def first_answer_then_drop(route: Any) -> None:
        resumes.append(route.request.headers.get("last-event-id"))
        if len(resumes) > 1:
            route.continue_()  # the real server from here on
            return
        # the first connection delivers the events so far, then the connection drops
        frames = "".join(f"id: {e.seq}\ndata: {e.to_json()}\n\n" for e in sent)
        route.fulfill(status=200, headers={"content-type": "text/event-stream"}, body=frames)

    page = _open_new(browser, WIDE)
    page.route("**/events/stream", first_answer_then_drop)
    page.goto(site.base_url + f"/#/runs/{record.run_id}")
    for step in range(4, 9):
        record.emit(Progress(step=step, train_loss=2.0 - step * 0.1))
    _wait(lambda: _points(page) == 8, what="the events after the drop")
    assert resumes[:2] == [None, str(sent[-1].seq)], resumes
    seqs = page.locator("#event-log li").evaluate_all("items => items.map(li => +li.dataset.seq)")
    assert seqs == list(range(1, record.events()[-1].seq + 1))
    _close(page)


def test_an_unknown_run_says_so(site: Any, browser: Browser) -> None:
    page = _open(browser, site.base_url + "/#/runs/simulated-20260101-000000-abcdef", WIDE)
    expect(page.get_by_role("alert")).to_contain_text("No such run")
    expect(page.get_by_role("link", name="All runs")).to_be_visible()
    _PROBLEMS[id(page)].clear()  # the browser logs the 404 itself
    _close(page)


def test_a_grpo_run_charts_its_reward(site: Any, browser: Browser) -> None:
    record = _fed_run(site)
    for step in range(1, 7):
        record.emit(Progress(step=step, train_loss=0.0, reward_mean=0.1 * step, reward_std=0.05))
    page = _open(browser, site.base_url + f"/#/runs/{record.run_id}", WIDE)
    expect(page.locator("#chart-title")).to_have_text("Reward")
    expect(page.locator("#chart-caption")).to_contain_text("Mean reward 0.6 at step 6")
    _close(page)


def test_compare_draws_both_runs(site: Any, browser: Browser) -> None:
    first, second = _fed_run(site), _fed_run(site)
    for step in range(1, 11):
        first.emit(Progress(step=step, train_loss=2.0 - step * 0.1))
        second.emit(Progress(step=step, train_loss=2.2 - step * 0.08))
    second.emit(Evaluation(step=10, eval_loss=1.5))
    page = _open(browser, site.base_url + "/#/compare", WIDE)
    page.select_option("#compare-a", first.run_id)
    page.select_option("#compare-b", second.run_id)
    page.get_by_role("button", name="Compare").click()
    expect(page.locator("#compare-caption")).to_contain_text("10 points")
    assert page.locator("#compare-figure").get_attribute("data-points") == "21"
    # live: both runs are still training, and their new points appear without a reload
    expect(page.locator("#compare-state")).to_contain_text("Live")
    for step in range(11, 16):
        first.emit(Progress(step=step, train_loss=2.0 - step * 0.1))
    second.emit(Evaluation(step=15, eval_loss=1.4))
    _wait(
        lambda: page.locator("#compare-figure").get_attribute("data-points") == "27",
        what="5 new train points of A and an eval point of B",
    )
    expect(page.locator("#compare-caption")).to_contain_text("15 points")
    first.emit(ts.Cancelled())
    second.emit(ts.Cancelled())
    expect(page.locator("#compare-state")).to_have_text("")
    _close(page)
    # the run page's link preselects run A; the phone layout keeps to the screen
    phone = _open(browser, site.base_url + f"/#/runs/{first.run_id}", PHONE)
    phone.get_by_role("link", name="Compare with another run").click()
    expect(phone.locator("#compare-a")).to_have_value(first.run_id)
    phone.select_option("#compare-b", second.run_id)
    phone.get_by_role("button", name="Compare").click()
    expect(phone.locator("#compare-caption")).to_contain_text("10 points")
    _no_horizontal_scroll(phone)
    _close(phone)


def test_with_api_keys_the_page_asks_for_a_key_and_sends_it_as_a_header(
    browser: Browser, serve_kit: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUNESDK_HOME", str(tmp_path / "home"))
    key = "sk-dashboard-test-key"
    with serve_kit.running(None, api_keys={key}) as keyed:
        record = RunStore().create(_job(), FedBackend().plan(_job()), FedBackend.name)
        keyed.ctx.ownership.claim("run", record.run_id, owner_id(key), time.time())
        FedBackend().launch(record)
        record.emit(Progress(step=1, train_loss=1.0))
        page = browser.new_page(viewport=WIDE)
        urls: list[str] = []
        page.on("request", lambda request: urls.append(request.url))
        page.goto(keyed.base_url + "/")
        expect(page.get_by_label("API key")).to_be_focused()
        page.get_by_label("API key").fill("wrong")
        page.keyboard.press("Enter")
        expect(page.locator(".key-form .error")).to_contain_text("not accepted")
        page.get_by_label("API key").fill(key)
        with page.expect_request("**/tunesdk/v1/runs?*") as sent:
            page.keyboard.press("Enter")
        assert sent.value.headers["authorization"] == f"Bearer {key}"
        expect(page.locator("#run-count")).to_contain_text("1 run")
        assert page.evaluate("() => sessionStorage.getItem('tunesdk.apiKey')") == key

        # the key's own run: the event stream (fetch, not EventSource) carries the header too
        with page.expect_request("**/events/stream") as stream:
            page.get_by_role("link", name=record.run_id).click()
        assert stream.value.headers["authorization"] == f"Bearer {key}"
        _wait(lambda: _points(page) == 1, what="the keyed run's point")
        record.emit(Progress(step=2, train_loss=0.9))
        _wait(lambda: _points(page) == 2, what="a live point over the keyed stream")
        assert not any(key in url for url in urls), "the key reached a URL"

        page.get_by_role("button", name="Forget API key").click()
        expect(page.get_by_label("API key")).to_be_focused()
        assert page.evaluate("() => sessionStorage.getItem('tunesdk.apiKey')") is None
        page.close()


def test_the_list_pages_through_more_than_one_page_of_runs(
    browser: Browser, serve_kit: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUNESDK_HOME", str(tmp_path / "home"))
    job = ts.Job(model="tiny/model", data=tiny_chat_data(2), max_steps=1)
    plan = FedBackend().plan(job)
    store = RunStore()
    ids = [store.create(job, plan, FedBackend.name).run_id for _ in range(103)]
    with serve_kit.running(None) as server:
        page = _open(browser, server.base_url + "/", WIDE)
        rows = page.locator("#runs tbody tr[data-run-id]")
        expect(rows).to_have_count(100)
        expect(page.locator("#run-count")).to_contain_text("more below")
        page.get_by_role("button", name="Show more runs").click()
        expect(rows).to_have_count(103)
        expect(page.get_by_role("button", name="Show more runs")).to_be_hidden()
        shown = rows.evaluate_all("rows => rows.map(r => r.dataset.runId)")
        assert sorted(shown) == sorted(ids)
        _close(page)


def test_list_screenshots(
    browser: Browser, serve_kit: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The docs' pictures of the list: a store as a user's looks (several backends, every end)."""
    monkeypatch.setenv("TUNESDK_HOME", str(tmp_path / "home"))
    store = RunStore()
    shown = [
        ("trl", "Qwen/Qwen2.5-0.5B-Instruct", "running"),
        ("together", "meta-llama/Llama-3.2-3B-Instruct", "completed"),
        ("openai", "gpt-4.1-mini-2025-04-14", "queued"),
        ("unsloth", "unsloth/Qwen2.5-7B-Instruct-bnb-4bit", "failed"),
        ("trl", "HuggingFaceTB/SmolLM2-360M-Instruct", "cancelled"),
        ("fireworks", "accounts/fireworks/models/llama-v3p1-8b-instruct", "completed"),
    ]
    for backend, model, status in reversed(shown):
        job = ts.Job(model=model, data=tiny_chat_data(2), max_steps=1)
        record = store.create(job, FedBackend().plan(job), backend)
        if status == "completed":
            record.emit(ts.Completed(model=ts.LocalModel(path="/m", base_model=model)))
        elif status == "failed":
            record.emit(ts.Failed(error="CUDA out of memory"))
        elif status == "cancelled":
            record.emit(ts.Cancelled())
        else:
            record.emit(StatusChanged(status=status))  # type: ignore[arg-type]
    with serve_kit.running(None) as server:
        for viewport, name in (
            (WIDE, "dashboard-runs-1280.png"),
            (PHONE, "dashboard-runs-390.png"),
        ):
            page = _open(browser, server.base_url + "/", viewport)
            expect(page.locator("#runs tbody tr[data-run-id]")).to_have_count(len(shown))
            statuses = page.locator("#runs tbody tr .status").all_inner_texts()
            assert statuses == [status for _, _, status in shown]
            _no_horizontal_scroll(page)
            _shot(page, name)
            _close(page)
