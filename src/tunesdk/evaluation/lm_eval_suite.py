"""Optional: questions from lm-evaluation-harness tasks, as a regression suite.

Needs ``lm_eval`` installed (``pip install lm-eval``) and each task's dataset already in the local
Hugging Face cache (tunesdk never downloads it). Each task document becomes one
``{"id", "prompt", "reference"}`` row: the task's ``doc_to_text`` is the prompt; for
multiple-choice tasks the choices are listed as lettered options and the reference is the right
letter (score it with ``accuracy``), for generative tasks the reference is ``doc_to_target``.
The models are then scored by tunesdk's metrics on generated answers, not by lm_eval's own
log-likelihood scoring, so the numbers are comparable between base and tuned models (which is what
a regression check needs) but not with published lm_eval leaderboards.
"""

from __future__ import annotations

import string
from typing import Any

from tunesdk.errors import TuneError

PREFIX = "lm_eval:"


def lm_eval_rows(spec: str, *, limit: int | None = None) -> list[dict[str, str]]:
    """Rows for ``"lm_eval:task1,task2"`` (``limit`` documents per task)."""
    names = [name.strip() for name in spec.removeprefix(PREFIX).split(",") if name.strip()]
    if not names:
        raise TuneError(
            f"no lm_eval task named in {spec!r}", where="suite", fix='use "lm_eval:TASK[,TASK...]"'
        )
    try:
        from lm_eval.tasks import TaskManager
    except ImportError as exc:
        raise TuneError(
            "lm-evaluation-harness suites need the lm_eval package",
            where="suite",
            fix="pip install lm-eval (and have the task datasets in the Hugging Face cache), "
            "or give a JSONL of questions with references",
        ) from exc
    manager = TaskManager()
    rows: list[dict[str, str]] = []
    for name in names:
        try:
            tasks = manager.load_task_or_group(name)
        except Exception as exc:  # lm_eval raises several kinds for unknown tasks / missing data
            raise TuneError(
                f"lm_eval could not load task {name!r}: {exc}",
                where="suite",
                fix="check the task name (`lm_eval ls tasks`) and that its dataset is cached "
                "locally (HF_DATASETS_OFFLINE=1 must work)",
            ) from exc
        for task_name, task in _leaves(tasks):
            for index, doc in enumerate(_docs(task)):
                if limit is not None and index >= limit:
                    break
                rows.append({"id": f"{task_name}:{index}", **_row(task, doc)})
    return rows


def _leaves(tasks: Any) -> list[tuple[str, Any]]:
    """(name, task) pairs of a task or a (nested) group dict."""
    found: list[tuple[str, Any]] = []
    for key, value in tasks.items():
        if isinstance(value, dict):
            found.extend(_leaves(value))
        else:
            found.append((str(getattr(key, "group_name", key)), value))
    return found


def _docs(task: Any) -> Any:
    for kind in ("test", "validation"):
        if getattr(task, f"has_{kind}_docs")():
            return getattr(task, f"{kind}_docs")()
    raise TuneError(f"task {task} has no test or validation documents", where="suite")


def _row(task: Any, doc: Any) -> dict[str, str]:
    prompt = str(task.doc_to_text(doc))
    target = task.doc_to_target(doc)
    if getattr(task, "OUTPUT_TYPE", None) == "multiple_choice":
        choices = list(task.doc_to_choice(doc))
        letters = string.ascii_uppercase
        options = "\n".join(f"{letters[i]}. {choice}" for i, choice in enumerate(choices))
        index = target if isinstance(target, int) else choices.index(target)
        return {
            "prompt": f"{prompt}\n{options}\nAnswer with the letter of the right option.",
            "reference": letters[index],
        }
    if isinstance(target, list):
        target = target[0]
    return {"prompt": prompt, "reference": str(target).strip()}


__all__ = ["PREFIX", "lm_eval_rows"]
