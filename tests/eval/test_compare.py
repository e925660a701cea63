"""ts.compare: the HTML page, the blinded rating CSV and its key, the judge and the win rate."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.evaluation import parse_verdict, rated_win_rate

from .conftest import FakeChatBackend, Reply, last_user

PROMPTS = [
    f"What does the {animal} say?" for animal in ("cat", "dog", "cow", "owl", "duck", "frog")
]
SOUNDS = {
    "cat": "meow",
    "dog": "woof",
    "cow": "moo",
    "owl": "hoot",
    "duck": "quack",
    "frog": "ribbit",
}


def right(messages: list[dict]) -> str:
    animal = last_user(messages).split()[3]
    return f"The {animal} says {SOUNDS[animal]}."


def wrong(messages: list[dict]) -> str:
    return "The <b>animal</b> says nothing & leaves."


def picks_the_right_sound(messages: list[dict]) -> str:
    """A judge that prefers whichever answer names a real sound."""
    text = messages[-1]["content"]
    a = text.split("[Answer A]\n")[1].split("\n\n[Answer B]")[0]
    verdict = "A" if any(sound in a for sound in SOUNDS.values()) else "B"
    return f"Reason: answer {verdict} names the animal's real sound.\nVerdict: {verdict}"


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def models(fake_models: Callable[[str, Reply], ts.ProviderModel]) -> dict[str, ts.ProviderModel]:
    return {
        "base": fake_models("base", wrong),
        "tuned": fake_models("tuned", right),
        "judge": fake_models("judge", picks_the_right_sound),
    }


def test_judge_win_rate_and_reasons(models: dict[str, ts.ProviderModel], tmp_path: Path) -> None:
    report = ts.compare(
        models["base"], models["tuned"], PROMPTS, judge=models["judge"], out_dir=tmp_path, seed=3
    )
    assert (report.wins, report.losses, report.ties, report.unparsed) == (6, 0, 0, 0)
    assert report.win_rate == 1.0
    assert {row.tuned_position for row in report.rows} == {"A", "B"}  # order randomised
    assert all("real sound" in (row.reason or "") for row in report.rows)
    assert "tuned win rate 100.0%" in report.summary()


def test_positions_are_seeded(models: dict[str, ts.ProviderModel], tmp_path: Path) -> None:
    def positions(seed: int) -> list[str]:
        report = ts.compare(models["base"], models["tuned"], PROMPTS, out_dir=tmp_path, seed=seed)
        return [row.tuned_position for row in report.rows]

    assert positions(1) == positions(1)
    assert positions(1) != positions(2)


def test_the_page_escapes_text_and_shows_both_columns(
    models: dict[str, ts.ProviderModel], tmp_path: Path
) -> None:
    prompts = ["What does the cat say? <script>alert(1)</script>"]
    report = ts.compare(
        models["base"], models["tuned"], prompts, judge=models["judge"], out_dir=tmp_path
    )
    page = report.files["html"].read_text(encoding="utf-8")
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;animal&lt;/b&gt; says nothing &amp; leaves." in page
    assert "The cat says meow." in page
    assert "<th>Base</th>" in page and "<th>Tuned</th>" in page and "<th>Judge</th>" in page
    assert 'class="win">The cat says meow.' in page  # the judged winner is highlighted
    assert "http" not in page.replace("http-equiv", "")  # self-contained: nothing fetched


def test_rating_csv_is_blinded_and_the_key_unblinds_it(
    models: dict[str, ts.ProviderModel], tmp_path: Path
) -> None:
    report = ts.compare(models["base"], models["tuned"], PROMPTS, out_dir=tmp_path, seed=0)
    ratings = read_csv(report.files["ratings"])
    key = {row["id"]: row for row in read_csv(report.files["key"])}
    assert list(ratings[0]) == ["id", "prompt", "output_a", "output_b", "preference", "notes"]
    assert len(ratings) == len(PROMPTS) and ratings[0]["prompt"] == PROMPTS[0]
    for row in ratings:
        tuned_column = "output_a" if key[row["id"]]["output_a"] == "tuned" else "output_b"
        assert "says" in row[tuned_column] and "nothing" not in row[tuned_column]
        assert row["preference"] == ""
    # a rater who always prefers the real sound: the tuned model wins every rated row
    for row in ratings[:4]:
        row["preference"] = "A" if key[row["id"]]["output_a"] == "tuned" else "b"
    ratings[4]["preference"] = "tie"
    with open(tmp_path / "filled.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(ratings[0]))
        writer.writeheader()
        writer.writerows(ratings)
    tally = rated_win_rate(tmp_path / "filled.csv", report.files["key"])
    assert tally == {"wins": 4, "ties": 1, "losses": 0, "rated": 5, "win_rate": 0.9}
    assert json.loads(report.files["json"].read_text())["seed"] == 0


def test_unreadable_verdicts_are_left_out_of_the_win_rate(
    fake_models: Callable[[str, Reply], ts.ProviderModel],
    models: dict[str, ts.ProviderModel],
    tmp_path: Path,
) -> None:
    replies = iter(["Reason: same.\nVerdict: tie", "I cannot decide.", "Verdict: tie"])
    vague = fake_models("vague", lambda messages: next(replies))
    report = ts.compare(models["base"], models["tuned"], PROMPTS[:3], judge=vague, out_dir=tmp_path)
    assert (report.ties, report.unparsed, report.judged) == (2, 1, 2)
    assert report.win_rate == 0.5
    assert "1 verdicts unreadable" in report.summary()
    assert "unreadable verdict" in report.files["html"].read_text()
    judge_prompt = FakeChatBackend.calls[-1][1]
    assert (
        judge_prompt[0]["role"] == "system"
        and "Verdict: <A, B or tie>" in judge_prompt[1]["content"]
    )


@pytest.mark.parametrize(
    ("reply", "verdict", "reason"),
    [
        ("Reason: B is correct.\nVerdict: B", "B", "B is correct."),
        ("Reason: both fine\n**Verdict:** Tie", "tie", "both fine"),
        ('{"verdict": "A", "reason": "more precise"}', "A", "more precise"),
        ('```json\n{"reason": "shorter", "verdict": "b"}\n```', "B", "shorter"),
        ("After thinking, [[A]] is better.", "A", "After thinking, [[A]] is better."),
        ("A", "A", "A"),
        (
            "Reason: A cites the verdict of a court.\nVerdict: B",
            "B",
            "A cites the verdict of a court.",
        ),
        ("Both answers are poor.", None, "Both answers are poor."),
    ],
)
def test_parse_verdict(reply: str, verdict: str | None, reason: str) -> None:
    assert parse_verdict(reply) == (verdict, reason)
