"""`tunesdk plot`: a finished run is plotted from its stored events alone (no backend loaded, no
provider asked); a live one is refreshed first."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesdk.run import Run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_a_finished_run_is_plotted_without_attaching_its_backend(
    make_job, invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = make_job(eval_split=0.25).run(backend="simulated", progress=False)

    def no_attach(*args: object, **kwargs: object) -> Run:
        raise AssertionError("plot attached the run (loading its backend)")

    monkeypatch.setattr(Run, "attach", no_attach)
    target = tmp_path / "loss.png"
    code, out, err = invoke(["plot", done.run_id, "-o", str(target)])

    assert code == 0, err
    assert f"wrote {target}" in out
    assert target.read_bytes()[:8] == PNG_MAGIC


def test_a_live_run_is_refreshed_before_it_is_plotted(
    make_job, invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_job(max_steps=200, backend_options={"simulated": {"step_seconds": 0.02}}).submit(
        "simulated"
    )
    for event in run.events():
        if getattr(event, "step", 0) >= 2:
            break
    refreshed: list[str] = []
    original = Run.refresh
    monkeypatch.setattr(
        Run, "refresh", lambda self: refreshed.append(self.run_id) or original(self)
    )
    try:
        code, _, err = invoke(["plot", run.run_id, "-o", str(tmp_path / "live.png")])
    finally:
        run.cancel()
    assert code == 0, err
    assert refreshed == [run.run_id]
