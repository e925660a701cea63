"""An LLM judge: which of two answers to a prompt is better, with a reason.

The judge sees the answers as "A" and "B" only (the caller randomises which model is which, to
remove position bias) and is asked for a reason, then a verdict line. `parse_verdict` reads
the verdict from that format, a JSON object, or MT-Bench style ``[[A]]``/``[[B]]``/``[[C]]``.
"""

from __future__ import annotations

import json
import re
from typing import Literal

from tunesdk.evaluation.generation import ask
from tunesdk.models import ModelHandle

Verdict = Literal["A", "B", "tie"]

JUDGE_SYSTEM = (
    "You are an impartial judge of AI assistant answers. You compare two answers to the same "
    "prompt and decide which one is better. You are not swayed by which answer comes first, "
    "by length, or by style over substance."
)

JUDGE_PROMPT = """Compare two answers to the same user prompt.

[User prompt]
{prompt}
{reference}
[Answer A]
{a}

[Answer B]
{b}

Decide which answer better serves the user: correct, relevant, helpful, clear. If both are equally \
good or equally bad, the verdict is tie.

Reply in exactly this format, with nothing after the verdict:
Reason: <one or two sentences>
Verdict: <A, B or tie>"""

_REFERENCE = "\n[Reference answer, for your judgement only]\n{reference}\n"
_TIE_WORDS = {"tie", "draw", "equal", "c"}
_VERDICT_LINE = re.compile(
    r"verdict\W{0,4}(?:is\W{1,3})?(?:answer\s+)?(A|B|tie|draw|equal)\b", re.IGNORECASE
)
_BRACKETED = re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.IGNORECASE)
_REASON = re.compile(
    r"reason(?:ing)?\s*[:\-]\s*(.+?)(?=\n\s*\W*verdict\b|\Z)", re.IGNORECASE | re.S
)
_JSON = re.compile(r"\{.*\}", re.S)


def judge_messages(
    prompt: str, a: str, b: str, reference: str | None = None
) -> list[dict[str, str]]:
    """The chat messages sent to the judge."""
    extra = _REFERENCE.format(reference=reference) if reference else ""
    text = JUDGE_PROMPT.format(prompt=prompt, reference=extra, a=a or "(empty)", b=b or "(empty)")
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": text}]


def parse_verdict(text: str) -> tuple[Verdict | None, str]:
    """(verdict, reason) from a judge's reply; verdict ``None`` when none can be read."""
    verdict = _from_json(text) or _last(_VERDICT_LINE, text) or _last(_BRACKETED, text)
    if verdict is None:
        bare = re.sub(r"[^a-z ]", "", text.lower()).strip()
        bare = bare.removeprefix("answer ").strip()
        verdict = _normalise(bare) if bare in {"a", "b", *_TIE_WORDS} else None
    return verdict, _reason(text)


def ask_judge(
    judge: ModelHandle,
    prompt: str,
    a: str,
    b: str,
    *,
    reference: str | None = None,
    max_new_tokens: int = 256,
) -> tuple[Verdict | None, str, str]:
    """(verdict, reason, raw reply) of ``judge`` on answers ``a`` and ``b``."""
    raw = ask(judge, judge_messages(prompt, a, b, reference), max_new_tokens)
    verdict, reason = parse_verdict(raw)
    return verdict, reason, raw


def _from_json(text: str) -> Verdict | None:
    match = _JSON.search(text)
    if not match:
        return None
    try:
        data = json.loads(match.group(0))
    except ValueError:
        return None
    value = data.get("verdict") if isinstance(data, dict) else None
    return _normalise(value) if isinstance(value, str) else None


def _last(pattern: re.Pattern[str], text: str) -> Verdict | None:
    found = pattern.findall(text)
    return _normalise(found[-1]) if found else None


def _normalise(word: str) -> Verdict | None:
    word = word.strip().lower()
    if word == "a":
        return "A"
    if word == "b":
        return "B"
    return "tie" if word in _TIE_WORDS else None


def _reason(text: str) -> str:
    match = _REASON.search(text)
    if match:
        return " ".join(match.group(1).split())[:1000]
    try:
        data = json.loads(m.group(0)) if (m := _JSON.search(text)) else None
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("reason"), str):
        return " ".join(data["reason"].split())[:1000]
    lines = [line for line in text.splitlines() if not _VERDICT_LINE.search(line)]
    return " ".join(" ".join(lines).split())[:1000]


__all__ = [
    "JUDGE_PROMPT",
    "JUDGE_SYSTEM",
    "Verdict",
    "ask_judge",
    "judge_messages",
    "parse_verdict",
]
