"""Every validation rule, with the file, line and field it reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunesdk.data import Dataset, Report
from tunesdk.data.report import MAX_PROBLEMS
from tunesdk.errors import DataError


def problems(report: Report) -> list[tuple[int | None, str | None, str]]:
    return [(p.line, p.field, p.severity) for p in report.problems]


def msg(role: str, content: object = "x", **extra: object) -> dict[str, object]:
    return {"role": role, "content": content, **extra}


def convo(*messages: dict[str, object], **top: object) -> dict[str, object]:
    return {"messages": list(messages), **top}


GOOD = convo(msg("user", "hi"), msg("assistant", "hello"))


def validate(write_jsonl, rows, backend=None, **options) -> Report:
    return Dataset.load(write_jsonl(rows)).validate(backend, **options)


def test_clean_data_has_no_problems(write_jsonl):
    report = validate(write_jsonl, [GOOD] * 12, "openai")
    assert report.ok and report.problems == [] and report.examples == 12


def test_unparsable_json_and_non_objects(write_jsonl):
    report = validate(write_jsonl, [GOOD, '{"messages": [', "[1, 2]", '"text"', GOOD])
    assert problems(report) == [(2, None, "error"), (3, None, "error"), (4, None, "error")]
    assert "truncated" in report.problems[0].message
    assert "JSON array, not an object" in report.problems[1].message


def test_unknown_role(write_jsonl):
    report = validate(write_jsonl, [GOOD, convo(msg("user"), msg("bot"), msg("assistant"))])
    assert problems(report) == [(2, "messages[1].role", "error")]
    assert "unknown role 'bot'" in report.problems[0].message


def test_empty_content(write_jsonl):
    rows = [
        convo(msg("user", "  "), msg("assistant")),
        convo(msg("system", ""), msg("user"), msg("assistant")),
        convo(msg("user"), {"role": "assistant"}),
    ]
    report = validate(write_jsonl, rows)
    assert problems(report) == [
        (1, "messages[0].content", "error"),
        (2, "messages[0].content", "warning"),
        (3, "messages[1].content", "error"),
    ]


def test_no_assistant_turn_and_all_weights_zero(write_jsonl):
    rows = [
        convo(msg("system"), msg("user")),
        convo(msg("user"), msg("assistant", weight=0)),
    ]
    report = validate(write_jsonl, rows)
    assert problems(report) == [(1, "messages", "error"), (2, "messages", "error")]
    assert "no assistant turn" in report.problems[0].message
    assert "weight 0" in report.problems[1].message


def test_weights(write_jsonl):
    rows = [
        convo(msg("user"), msg("assistant", weight=2)),
        convo(msg("user", weight=1), msg("assistant")),
        convo(msg("user"), msg("assistant", weight=True)),
    ]
    generic = validate(write_jsonl, rows)
    assert problems(generic) == [
        (1, "messages[1].weight", "error"),
        (1, "messages", "error"),  # weight 2 is not 1: nothing is trained
        (3, "messages[1].weight", "error"),
    ]
    # a user turn with weight 1 is trained on locally and by Together, refused by OpenAI
    assert (2, "messages[0].weight", "error") not in problems(
        validate(write_jsonl, rows, "together")
    )
    openai = validate(write_jsonl, [*rows, GOOD, GOOD, GOOD, GOOD, GOOD, GOOD, GOOD], "openai")
    assert (2, "messages[0].weight", "error") in problems(openai)


def test_trailing_user_turn_is_a_warning(write_jsonl):
    report = validate(write_jsonl, [convo(msg("user"), msg("assistant"), msg("user"))])
    assert problems(report) == [(1, "messages[2]", "warning")]
    assert report.ok


def test_consecutive_roles_only_where_the_backend_forbids_them(write_jsonl):
    rows = [convo(msg("user"), msg("user"), msg("assistant"))]
    assert validate(write_jsonl, rows).ok
    together = validate(write_jsonl, rows, "together")
    assert problems(together) == [(1, "messages[1].role", "error")]
    assert "alternate" in together.problems[0].message


def test_turn_order_rules_of_together_and_fireworks(write_jsonl):
    rows = [
        convo(msg("assistant"), msg("user"), msg("assistant")),
        convo(msg("user"), msg("system"), msg("assistant")),
    ]
    together = problems(validate(write_jsonl, rows, "together"))
    assert (1, "messages[0].role", "error") in together  # must start with user
    fireworks = problems(validate(write_jsonl, [*rows, GOOD], "fireworks"))
    assert fireworks == [(2, "messages[1].role", "error")]  # system only first
    assert problems(validate(write_jsonl, rows)) == []


def test_tool_calls_need_results(write_jsonl):
    def call(call_id=None, name="lookup"):
        body = {"type": "function", "function": {"name": name, "arguments": "{}"}}
        return {"id": call_id, **body} if call_id else body

    tools = [{"type": "function", "function": {"name": "lookup"}}]
    rows = [
        # answered by id: fine
        convo(
            msg("user"),
            msg("assistant", None, tool_calls=[call("a")]),
            msg("tool", "r", tool_call_id="a"),
            msg("assistant"),
            tools=tools,
        ),
        # unanswered call before the next assistant turn
        convo(
            msg("user"),
            msg("assistant", None, tool_calls=[call("a"), call("b")]),
            msg("tool", "r", tool_call_id="a"),
            msg("user"),
            msg("assistant"),
            tools=tools,
        ),
        # a result for a call nobody made
        convo(msg("user"), msg("tool", "r", tool_call_id="zzz"), msg("assistant"), tools=tools),
        # the final turn may be a call without result: it teaches the model to call
        convo(msg("user"), msg("assistant", None, tool_calls=[call("a")]), tools=tools),
        # calls without ids are matched by count
        convo(
            msg("user"),
            msg("assistant", None, tool_calls=[call(), call()]),
            msg("tool", "r"),
            msg("assistant"),
            tools=tools,
        ),
        # a call to a function that is not in tools; and calls without any tools list
        convo(
            msg("user"), msg("assistant", None, tool_calls=[call("a", name="other")]), tools=tools
        ),
        convo(msg("user"), msg("assistant", None, tool_calls=[call("a")])),
    ]
    report = validate(write_jsonl, rows)
    assert problems(report) == [
        (2, "messages[1].tool_calls[1]", "error"),
        (3, "messages[1].tool_call_id", "error"),
        (5, "messages[1].tool_calls[1]", "error"),
        (6, "messages[1].tool_calls[0].function.name", "warning"),
        (7, "tools", "warning"),
    ]


def test_mixed_formats_in_one_file(write_jsonl):
    rows = [GOOD, {"instruction": "a", "output": "b"}, GOOD, {"text": "t"}]
    report = validate(write_jsonl, rows)
    assert problems(report) == [(2, None, "error"), (4, None, "error")]
    assert "mixed formats: this row is alpaca" in report.problems[0].message


def test_preference_rules(write_jsonl):
    def pair(chosen, rejected, prompt="Q?"):
        return {
            "prompt": [msg("user", prompt)] if prompt else [],
            "chosen": chosen,
            "rejected": rejected,
        }

    a, b = [msg("assistant", "A")], [msg("assistant", "B")]
    rows = [
        pair(a, b),
        pair(a, a),  # identical
        pair([msg("assistant", "")], b),  # empty chosen
        pair([msg("assistant", "A"), msg("assistant", "A2")], b),  # multi-turn chosen
        pair(a, b, prompt=None),  # no prompt
    ]
    generic = validate(write_jsonl, rows)
    assert problems(generic) == [
        (2, "rejected", "error"),
        (3, "chosen", "error"),
        (5, "prompt", "warning"),
    ]
    assert "identical" in generic.problems[0].message
    openai = problems(validate(write_jsonl, rows * 2, "openai"))
    assert (4, "chosen", "error") in openai and (5, "prompt", "error") in openai


def test_minimum_examples_per_backend(write_jsonl):
    report = validate(write_jsonl, [GOOD] * 9, "openai")
    assert problems(report) == [(None, None, "error")]
    assert "9 example(s); openai needs at least 10" in report.problems[0].message
    assert validate(write_jsonl, [GOOD] * 3, "fireworks").ok
    assert not validate(write_jsonl, [GOOD] * 2, "fireworks").ok
    assert validate(write_jsonl, [GOOD], "together").ok
    assert not validate(write_jsonl, [GOOD] * 3, min_examples=4).ok


def test_backend_that_does_not_take_the_kind(write_jsonl):
    report = validate(write_jsonl, [{"text": "raw"}] * 10, "openai")
    assert not report.ok
    assert "openai does not train on text data" in report.problems[0].message
    assert validate(write_jsonl, [{"text": "raw"}], "together").ok


def test_plain_pairs_for_a_chat_only_provider_is_a_warning(write_jsonl):
    report = validate(write_jsonl, [{"prompt": "a", "completion": "b"}] * 10, "openai")
    assert report.ok
    assert problems(report) == [(None, None, "warning")]


def test_empty_text(write_jsonl):
    report = validate(write_jsonl, [{"text": "ok"}, {"text": "   "}])
    assert problems(report) == [(2, "text", "error")]


def test_unknown_backend(write_jsonl):
    with pytest.raises(DataError, match="unknown backend 'azure'"):
        validate(write_jsonl, [GOOD], "azure")


def test_exactly_the_bad_lines_of_a_big_file(tmp_path: Path):
    good = json.dumps(GOOD)
    bad = {
        40_000: '{"messages": [{"role": "user", "content": "x"}',
        77_777: json.dumps(convo(msg("user"), msg("robot"))),
        99_999: json.dumps(convo(msg("user"), msg("user"))),
    }
    path = tmp_path / "big.jsonl"
    with path.open("w") as out:
        for line in range(1, 100_001):
            out.write(bad.get(line, good) + "\n")
    report = Dataset.load(path).validate()
    assert report.examples == 100_000
    assert sorted({p.line or 0 for p in report.problems}) == [40_000, 77_777, 99_999]


def test_strict_raises_with_the_report(write_jsonl):
    ds = Dataset.load(write_jsonl([GOOD, convo(msg("user"))]))
    with pytest.raises(DataError) as caught:
        ds.validate(strict=True)
    assert isinstance(caught.value.report, Report)
    assert ":2" in str(caught.value) and "no assistant turn" in str(caught.value)
    assert ds.validate().ok is False  # not strict: returns the report


def test_render_is_readable(write_jsonl):
    path = write_jsonl([GOOD, convo(msg("user"), msg("bot"))])
    text = Dataset.load(path).validate("together").render()
    assert f"{path}: 2 example(s), format openai_chat (sft), checked for together" in text
    assert f"error   {path}:2  messages[1].role: unknown role 'bot'" in text
    assert "fix: together accepts one of assistant, system, tool, user" in text
    assert text.splitlines()[-1] == "FAILED: 2 error(s), 0 warning(s)"


def test_report_keeps_a_bounded_number_of_problems(write_jsonl):
    report = validate(write_jsonl, ["{oops"] * (MAX_PROBLEMS + 500) + [GOOD])
    assert len(report.problems) == MAX_PROBLEMS
    assert report.error_count == MAX_PROBLEMS + 500
    assert "... and" in report.render()


def test_warnings_do_not_fail_the_report(write_jsonl):
    report = validate(write_jsonl, [convo(msg("user"), msg("assistant"), msg("user"))])
    assert report.ok and report.warning_count == 1
    assert report.render().splitlines()[-1] == "OK: 0 error(s), 1 warning(s)"
    report.raise_for_problems()  # warnings only: does not raise
