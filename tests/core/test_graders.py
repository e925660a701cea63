"""Portable graders: scores against hand-computed values, OpenAI's JSON, reward functions."""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any

import pytest
from pydantic import ValidationError

import tunesdk as ts
from tunesdk import graders
from tunesdk.graders import GraderError

OUT = "{{sample.output_text}}"


def exact(operation: str = "eq", reference: str = "{{item.answer}}") -> graders.StringCheck:
    return graders.StringCheck(name="exact", input=OUT, reference=reference, operation=operation)


def similar(metric: str) -> graders.TextSimilarity:
    return graders.TextSimilarity(
        name=metric,
        input=OUT,
        reference="{{item.answer}}",
        evaluation_metric=metric,
    )


# --- each grader against hand-computed scores ----------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "text", "reference", "expected"),
    [
        ("eq", "Paris", "Paris", 1.0),
        ("eq", "Paris", "paris", 0.0),
        ("ne", "Paris", "paris", 1.0),
        ("ne", "Paris", "Paris", 0.0),
        ("like", "It is Paris.", "Paris", 1.0),
        ("like", "It is paris.", "Paris", 0.0),
        ("ilike", "It is PARIS.", "paris", 1.0),
        ("ilike", "It is Rome.", "paris", 0.0),
    ],
)
def test_string_check(operation: str, text: str, reference: str, expected: float) -> None:
    assert graders.run(exact(operation), text, {"answer": reference}) == expected


def test_templates_read_nested_item_and_sample_json() -> None:
    grader = graders.StringCheck(
        name="city",
        input="{{ sample.output_json.city }}",
        reference="{{item.places[1].name}}",
        operation="eq",
    )
    item = {"places": [{"name": "Rome"}, {"name": "Paris"}]}
    assert graders.run(grader, '{"city": "Paris"}', item) == 1.0
    assert graders.run(grader, {"output_text": "", "output_json": {"city": "Rome"}}, item) == 0.0
    assert grader.required_columns() == {"places"}
    with pytest.raises(GraderError, match="the model's answer is not JSON"):
        graders.run(grader, "Paris", item)


# "the cat sat on the mat" against "the cat sat on a mat": by hand,
# 1-4-gram clipped matches 5/6, 3/5, 2/4, 1/3, equal lengths (no brevity penalty)
SENTENCE, REFERENCE = "the cat sat on the mat", "the cat sat on a mat"


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("fuzzy_match", 2 * 19 / (22 + 20)),  # 19 characters in common, in order
        ("rouge_1", 5 / 6),
        ("rouge_2", 3 / 5),
        ("rouge_3", 2 / 4),
        ("rouge_5", 0.0),
        ("rouge_l", 5 / 6),  # longest common token subsequence: the cat sat on mat
        ("bleu", (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25),
        ("gleu", 11 / 18),  # min(precision, recall) over all 18 n-grams of each side
    ],
)
def test_text_similarity(metric: str, expected: float) -> None:
    assert graders.run(similar(metric), SENTENCE, {"answer": REFERENCE}) == pytest.approx(expected)


@pytest.mark.parametrize("metric", ["fuzzy_match", "bleu", "gleu", "rouge_1", "rouge_l"])
def test_text_similarity_identical_short_answers_score_one(metric: str) -> None:
    assert graders.run(similar(metric), "42 apples", {"answer": "42 apples"}) == pytest.approx(1.0)


def lcs_table(a: str, b: str) -> int:
    """The textbook dynamic-programming LCS length, as the reference."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = (
                table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
            )
    return table[-1][-1]


def test_fuzzy_match_without_rapidfuzz_matches_its_ratio() -> None:
    import random

    from tunesdk.graders.similarity import _lcs_length

    assert _lcs_length("41", "42") == 1
    pick = random.Random(0)
    for _ in range(300):
        a = "".join(pick.choice("abc ") for _ in range(pick.randint(0, 25)))
        b = "".join(pick.choice("abc ") for _ in range(pick.randint(0, 25)))
        assert _lcs_length(a, b) == lcs_table(a, b), (a, b)
    assert graders.run(similar("fuzzy_match"), "41", {"answer": "42"}) == 0.5


def test_cosine_needs_an_embedder_locally() -> None:
    with pytest.raises(GraderError, match="cosine metric needs text embeddings") as caught:
        graders.run(similar("cosine"), "a", {"answer": "b"})
    assert caught.value.where == "grader 'cosine'" and "embedder=" in str(caught.value)
    embed = graders.TextSimilarity(
        name="cos",
        input=OUT,
        reference="{{item.answer}}",
        evaluation_metric="cosine",
        embedder=lambda texts: [[1.0, 0.0] if t == "a" else [1.0, 1.0] for t in texts],
    )
    assert graders.run(embed, "a", {"answer": "b"}) == pytest.approx(1 / math.sqrt(2))
    assert "embedder" not in embed.to_openai()


def test_meteor_without_wordnet_names_the_download(monkeypatch: pytest.MonkeyPatch) -> None:
    import nltk

    def missing(resource: str) -> None:
        raise LookupError(resource)

    monkeypatch.setattr(nltk.data, "find", missing)
    with pytest.raises(GraderError, match="WordNet") as caught:
        graders.run(similar("meteor"), "a", {"answer": "a"})
    assert caught.value.fix == "python -m nltk.downloader wordnet omw-1.4"


def test_python_grader() -> None:
    grader = graders.Python(
        name="length",
        source=(
            "import re\n"
            "def grade(sample, item):\n"
            "    words = re.findall(r'\\w+', sample['output_text'])\n"
            "    return min(len(words) / item['target'], 1.0)\n"
        ),
    )
    assert graders.run(grader, "one two", {"target": 4}) == 0.5
    assert graders.run(grader, "one two three four five", {"target": 4}) == 1.0
    assert grader.required_columns() == {"target"}


def test_python_grader_that_raises_names_the_grader_and_line() -> None:
    grader = graders.Python(
        name="strict",
        source="def grade(sample, item):\n    x = 1\n    return 1 / 0\n",
    )
    with pytest.raises(GraderError) as caught:
        graders.run(grader, "x", {})
    message = str(caught.value)
    assert message.startswith("grader 'strict': ZeroDivisionError in grade() at line 3")
    assert caught.value.kind == "python_grader_runtime_error"


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("def grade(sample, item) return 1", "does not compile"),
        ("def score(sample, item):\n    return 1.0\n", "defines no grade(sample, item)"),
        ("def grade(sample, item):\n    return 'yes'\n", "returned str 'yes', not a number"),
        ("def grade(sample, item):\n    return float('nan')\n", "returned nan"),
    ],
)
def test_python_grader_errors(source: str, problem: str) -> None:
    with pytest.raises(GraderError, match=re.escape(problem)) as caught:
        graders.run(graders.Python(name="mine", source=source), "x", {})
    assert caught.value.grader == "mine"


class FakeJudge:
    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.asked: list[list[dict[str, Any]]] = []

    def __call__(self, messages: list[dict[str, Any]]) -> str:
        self.asked.append(messages)
        return self.answer


def judged(answer: str, **fields: Any) -> tuple[graders.ScoreModel, FakeJudge]:
    judge = FakeJudge(answer)
    grader = graders.ScoreModel(
        name="judge",
        model="gpt-4o-mini",
        input=[
            {"role": "system", "content": "Score 0 to 10."},
            {
                "role": "user",
                "content": [{"type": "input_text", "text": "Q: {{item.question}}\nA: " + OUT}],
            },
        ],
        judge=judge,
        **fields,
    )
    return grader, judge


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("7", 7.0),
        ("Score: 8.5/10", 8.5),
        ('{"steps": [], "result": 9}', 9.0),
        ("42", 10.0),  # clipped to the range
        ("-3", 0.0),
    ],
)
def test_score_model_with_a_judge_callable(answer: str, expected: float) -> None:
    grader, judge = judged(answer, range=(0, 10))
    assert graders.run(grader, "Paris", {"question": "Capital of France?"}) == expected
    assert judge.asked[0] == [
        {"role": "system", "content": "Score 0 to 10."},
        {"role": "user", "content": "Q: Capital of France?\nA: Paris"},
    ]
    assert grader.required_columns() == {"question"}


def test_score_model_judge_handle_and_errors() -> None:
    class Handle:
        def chat(self, messages: list[dict[str, Any]]) -> str:
            return "0.25"

    grader, _ = judged("no idea")
    assert (
        graders.run(grader.model_copy(update={"judge": Handle()}), "x", {"question": "q"}) == 0.25
    )
    with pytest.raises(GraderError, match="holds no score") as caught:
        graders.run(grader, "x", {"question": "q"})
    assert caught.value.kind == "model_grader_parse_error"
    without = grader.model_copy(update={"judge": None})
    with pytest.raises(GraderError, match="no local judge") as caught:
        graders.run(without, "x", {"question": "q"})
    assert "local:/path" in str(caught.value)


def test_multi_formula() -> None:
    multi = graders.Multi(
        name="combined",
        graders={"exact": exact(), "fuzzy": similar("fuzzy_match")},
        calculate_output="0.5 * exact + 0.5 * fuzzy",
    )
    assert graders.run(multi, "41", {"answer": "42"}) == pytest.approx(0.25)
    assert graders.run(multi, "42", {"answer": "42"}) == pytest.approx(1.0)
    assert multi.required_columns() == {"answer"}
    powers = multi.model_copy(
        update={"calculate_output": "max(exact, fuzzy ^ 2) - abs(-1) + sqrt(4)"}
    )
    assert graders.run(powers, "41", {"answer": "42"}) == pytest.approx(0.25 - 1 + 2)


@pytest.mark.parametrize(
    ("formula", "problem"),
    [
        ("exact + nope", "names 'nope', which is not a grader key"),
        ("__import__('os').system('true')", "only min, max"),
        ("exact ** 2 // 1", "FloorDiv is not allowed"),
        ("exact.__class__", "Attribute is not allowed"),
        ("exact if fuzzy else 1", "IfExp is not allowed"),
        ("'a' * 3", "only numbers"),
        ("(exact +", "is not a formula"),
    ],
)
def test_multi_refuses_formulas_that_are_not_arithmetic(formula: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        graders.Multi(
            name="m",
            graders={"exact": exact(), "fuzzy": similar("fuzzy_match")},
            calculate_output=formula,
        )


def test_multi_division_by_zero_is_a_grader_error() -> None:
    multi = graders.Multi(name="ratio", graders={"exact": exact()}, calculate_output="1 / exact")
    with pytest.raises(GraderError, match="1 / exact") as caught:
        graders.run(multi, "no", {"answer": "yes"})
    assert caught.value.where == "grader 'ratio'"


# --- templates and validation before training ----------------------------------------------------


def test_missing_column_is_a_clear_error_and_detectable_up_front() -> None:
    grader = exact()
    assert grader.required_columns() == {"answer"}
    with pytest.raises(GraderError, match="the dataset row has no 'answer' column") as caught:
        graders.run(grader, "42", {"question": "6 * 7"})
    assert caught.value.kind == "invalid_variable_error"
    assert "columns: question" in str(caught.value)


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{{row.answer}}", "only 'item'"),
        ("{{sample.text}}", "the sample namespace has output_text"),
        ("{{item}}", "not a variable path"),
        ("{{item.a..b}}", "not a variable path"),
    ],
)
def test_bad_templates_are_refused_when_the_grader_is_built(template: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        exact(reference=template)


# --- OpenAI's JSON -------------------------------------------------------------------------------


def all_kinds() -> list[graders.Grader]:
    return [
        exact(),
        similar("rouge_l"),
        graders.Python(
            name="py", source="def grade(s, i):\n    return 1.0\n", image_tag="2025-05-08"
        ),
        graders.ScoreModel(
            name="judge",
            model="gpt-4o-mini",
            input=[{"role": "user", "content": "Rate {{sample.output_text}} from 0 to 1"}],
            range=(0, 1),
            sampling_params=graders.SamplingParams(
                temperature=0.2, seed=7, max_completions_tokens=64
            ),
        ),
    ]


def test_to_openai_is_the_spec_json() -> None:
    assert exact().to_openai() == {
        "type": "string_check",
        "name": "exact",
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "operation": "eq",
    }
    judge = all_kinds()[3].to_openai()
    assert judge["range"] == [0.0, 1.0]
    assert judge["sampling_params"] == {"temperature": 0.2, "seed": 7, "max_completions_tokens": 64}
    assert "judge" not in judge
    threshold = similar("bleu").model_copy(update={"pass_threshold": 0.5})
    assert "pass_threshold" not in threshold.to_openai() and threshold.passed(0.5)


def run_request(specs: Any, grader: dict[str, Any]) -> None:
    """Validate a ``/fine_tuning/alpha/graders/run`` request carrying ``grader`` against the spec."""
    if not specs.available("openai"):
        pytest.skip("../shared/specs/openai is missing")
    from openapi_core.testing import MockRequest

    body = {"grader": grader, "item": {"answer": "x"}, "model_sample": "x"}
    request = MockRequest(
        "https://api.openai.com",
        "post",
        "/v1/fine_tuning/alpha/graders/run",
        headers={"Authorization": "Bearer sk-test"},
        data=json.dumps(body).encode(),
    )
    specs.openapi("openai").validate_request(request)  # raises where the JSON breaks the spec


@pytest.mark.parametrize("grader", all_kinds(), ids=lambda g: g.type)
def test_to_openai_validates_against_the_spec(grader: graders.Grader, specs: Any) -> None:
    run_request(specs, grader.to_openai())


def test_the_spec_check_refuses_a_wrong_grader(specs: Any) -> None:
    from openapi_core.validation.request.exceptions import InvalidRequestBody

    broken = {k: v for k, v in exact().to_openai().items() if k != "reference"}
    with pytest.raises(InvalidRequestBody):
        run_request(specs, broken)


def test_round_trip_through_openai_json() -> None:
    kinds = all_kinds()
    multi = graders.Multi(
        name="m", graders={"a": kinds[0], "b": kinds[1]}, calculate_output="(a + b) / 2"
    )
    for grader in [*kinds, multi]:
        data = grader.to_openai()
        again = graders.Grader.from_openai(json.loads(json.dumps(data)))
        assert again == grader and type(again) is type(grader)
        assert again.to_openai() == data
    assert multi.to_openai()["graders"]["a"] == kinds[0].to_openai()
    with pytest.raises(ValueError, match="got a 'python' grader"):
        graders.StringCheck.from_openai(kinds[2].to_openai())


def test_from_openai_reads_the_spec_examples() -> None:
    string_check = {
        "type": "string_check",
        "name": "Example string check grader",
        "input": "{{sample.output_text}}",
        "reference": "{{item.label}}",
        "operation": "eq",
    }
    grader = graders.validate(string_check)
    assert isinstance(grader, graders.StringCheck) and grader.required_columns() == {"label"}
    # the spec's GraderMulti schema types ``graders`` as one grader: keyed by its name
    multi = graders.Grader.from_openai(
        {"type": "multi", "name": "m", "graders": string_check, "calculate_output": "1"}
    )
    assert isinstance(multi, graders.Multi)
    assert list(multi.graders) == ["Example string check grader"]
    with pytest.raises(ValidationError):
        graders.Grader.from_openai({**string_check, "operation": "contains"})


# --- reward functions for TRL --------------------------------------------------------------------


def test_reward_function_over_plain_completions() -> None:
    reward = graders.reward_function(exact())
    assert reward.__name__ == "exact"
    scores = reward(
        prompts=["6*7=", "2+2="],
        completions=["42", "5"],
        answer=["42", "4"],
        completion_ids=[[1], [2]],
        trainer_state=object(),
    )
    assert scores == [1.0, 0.0]


def test_reward_function_over_conversational_completions() -> None:
    reward = graders.reward_function(
        graders.StringCheck(name="has", input=OUT, reference="{{item.answer}}", operation="ilike")
    )
    prompts = [[{"role": "user", "content": "Capital of France?"}]] * 2
    completions = [
        [{"role": "assistant", "content": "It is PARIS."}],
        [{"role": "assistant", "content": [{"type": "text", "text": "Rome"}]}],
    ]
    assert reward(prompts, completions, answer=["paris", "paris"]) == [1.0, 0.0]


def test_reward_function_sees_the_prompt_and_names_the_failing_completion() -> None:
    echo = graders.StringCheck(name="echo", input=OUT, reference="{{item.prompt}}", operation="eq")
    assert graders.reward_function(echo)(["hi", "yo"], ["hi", "no"]) == [1.0, 0.0]
    reward = graders.reward_function(exact(reference="{{item.meta.answer}}"))
    with pytest.raises(GraderError, match="completion 1: template") as caught:
        reward(["a", "b"], ["x", "y"], meta=[{"answer": "x"}, {}])
    assert caught.value.grader == "exact" and "item.meta has no 'answer'" in str(caught.value)


def test_reward_function_refuses_a_broken_python_grader_before_training() -> None:
    with pytest.raises(GraderError, match="does not compile"):
        graders.reward_function(graders.Python(name="bad", source="def grade(:"))


def test_import_tunesdk_stays_light() -> None:
    import subprocess

    code = (
        "import sys, tunesdk as ts; ts.graders.StringCheck; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('rouge_score', 'nltk', 'rapidfuzz')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert ts.graders is graders


def test_reward_function_rows_hold_columns_not_trainer_keywords() -> None:
    seen = graders.Python(
        name="keys", source="def grade(sample, item):\n    return float(len(item))\n"
    )
    reward = graders.reward_function(seen)
    scores = reward(
        ["p"], ["c"], answer=["a"], completion_ids=[[1]], environments=[None], log_metric=print
    )
    assert scores == [2.0]  # answer and prompt


def test_reward_function_pickles_and_parse_reads_job_json() -> None:
    import pickle

    grader = graders.Python(name="half", source="def grade(sample, item):\n    return 0.5\n")
    reward = pickle.loads(pickle.dumps(graders.reward_function(grader)))
    assert reward(["p"], ["c"]) == [0.5] and reward.__name__ == "half"
    assert reward.grader == grader
    stored = similar("bleu").model_copy(update={"pass_threshold": 0.3})
    assert graders.parse(stored.model_dump(mode="json", exclude_none=True)) == stored


def test_score_model_sampling_params_reach_a_local_model() -> None:
    from tunesdk.graders.judging import generation_options

    grader, _ = judged("1")
    tuned = grader.model_copy(
        update={
            "sampling_params": graders.SamplingParams(
                temperature=0.7, top_p=0.9, max_completions_tokens=8
            )
        }
    )
    local = ts.LocalModel(path="/nowhere", kind="merged")
    assert generation_options(tuned, local) == {
        "max_new_tokens": 8,
        "do_sample": True,
        "temperature": 0.7,
        "top_p": 0.9,
    }
    assert generation_options(tuned, lambda messages: "1") == {}


def test_score_model_reads_a_tunesdk_model_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    import tunesdk.models

    asked: list[tuple[str, dict[str, Any]]] = []

    class Handle:
        def chat(self, messages: list[dict[str, Any]], **options: Any) -> str:
            asked.append((messages[-1]["content"], options))
            return '{"result": 0.75}'

    monkeypatch.setattr(
        tunesdk.models, "load_model", lambda uri: Handle() if uri == "local:/j" else None
    )
    grader, _ = judged("unused")
    grader = grader.model_copy(update={"judge": None, "model": "local:/j"})
    assert graders.run(grader, "Paris", {"question": "Capital?"}) == 0.75
    assert asked == [("Q: Capital?\nA: Paris", {})]
