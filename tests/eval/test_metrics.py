"""Every metric against values computed by hand."""

from __future__ import annotations

import pytest

from tunesdk.errors import JobError
from tunesdk.evaluation import accuracy, exact_match, f1, normalize, rouge
from tunesdk.evaluation.metrics import chosen_letter, resolve_metrics, score


def test_normalize_lowercases_and_drops_punctuation_articles_and_extra_spaces() -> None:
    assert normalize("  The  Cat, sat on A mat! ") == "cat sat on mat"


@pytest.mark.parametrize(
    ("prediction", "reference", "expected"),
    [
        ("Paris.", "paris", 1.0),
        ("The Eiffel Tower", "eiffel tower", 1.0),
        ("Paris, France", "Paris", 0.0),
        ("", "", 1.0),
    ],
)
def test_exact_match(prediction: str, reference: str, expected: float) -> None:
    assert exact_match(prediction, reference) == expected


@pytest.mark.parametrize(
    ("prediction", "reference", "expected"),
    [
        # tokens [cat, sat] vs [cat, sat, down]: common 2, P = 1, R = 2/3, F1 = 2PR/(P+R) = 0.8
        ("the cat sat", "cat sat down", 0.8),
        # [paris, paris] vs [paris]: common 1 (counts clipped), P = 1/2, R = 1, F1 = 2/3
        ("Paris Paris", "Paris", 2 / 3),
        ("london", "paris", 0.0),
        ("the", "a", 1.0),  # both normalise to nothing
        ("cat", "the", 0.0),  # one empty, one not
    ],
)
def test_f1(prediction: str, reference: str, expected: float) -> None:
    assert f1(prediction, reference) == pytest.approx(expected)


def test_rouge_f_measures() -> None:
    # pred [the cat sat on the mat], ref [the cat is on the mat]
    # ROUGE-1: overlap the×2, cat, on, mat = 5 of 6 each side → F = 5/6
    # ROUGE-2: bigrams in common "the cat", "on the", "the mat" = 3 of 5 each side → F = 0.6
    # ROUGE-L: LCS "the cat on the mat" = 5 → F = 5/6
    scores = rouge("the cat sat on the mat", "the cat is on the mat")
    assert scores == pytest.approx({"rouge1": 5 / 6, "rouge2": 0.6, "rougeL": 5 / 6})


def test_rouge_l_rewards_order_and_rouge_1_does_not() -> None:
    # same words reversed: ROUGE-1 = 1; LCS of [a b c] and [c b a] is 1 → ROUGE-L = 1/3
    scores = rouge("c b a", "a b c")
    assert scores["rouge1"] == pytest.approx(1.0)
    assert scores["rouge2"] == pytest.approx(0.0)
    assert scores["rougeL"] == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    ("prediction", "reference", "expected"),
    [
        ("B", "B", 1.0),
        ("(B) Paris", "B", 1.0),
        ("B. Paris", "(B)", 1.0),
        ("The answer is (C).", "C", 1.0),
        ("Answer: D", "B", 0.0),
        ("A cat says meow", "A", 0.0),  # a leading word "A" is not a choice
        ("Paris", "paris!", 1.0),  # not a letter reference: normalised equality
        ("Paris is the capital", "Paris", 0.0),
    ],
)
def test_accuracy(prediction: str, reference: str, expected: float) -> None:
    assert accuracy(prediction, reference) == expected


def test_chosen_letter_prefers_a_stated_answer_over_a_leading_letter() -> None:
    assert chosen_letter("A. is wrong; the answer is B") == "B"
    assert chosen_letter("no letter here") is None


def test_unknown_metric_names_the_closest_one() -> None:
    with pytest.raises(JobError) as info:
        resolve_metrics(["f1", "exact_mach"])
    assert "unknown metric 'exact_mach'" in str(info.value)
    assert "did you mean 'exact_match'" in str(info.value)


def test_custom_metric_functions_and_rouge_expand_into_columns() -> None:
    def shorter(prediction: str, reference: str) -> float:
        return float(len(prediction) <= len(reference))

    chosen = resolve_metrics(["rouge", shorter])
    assert score(chosen, "a b", "a b c") == {
        "rouge1": pytest.approx(0.8),  # P = 1, R = 2/3
        "rouge2": pytest.approx(2 / 3),  # P = 1, R = 1/2
        "rougeL": pytest.approx(0.8),
        "shorter": 1.0,
    }
