"""Column maps (Python, YAML, either direction, any case) and file-wide problems reported once."""

from __future__ import annotations

from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.data import Dataset
from tunesdk.errors import DataError

CSV = "Question,Answer\nWhat is 1+1?,2\nWhat is 2+2?,4\nWhat is 3+3?,6\n"


@pytest.fixture
def odd_csv(tmp_path: Path) -> Path:
    path = tmp_path / "odd.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "columns",
    [
        {"question": "prompt", "answer": "completion"},  # the printed fix, lower-cased
        {"Question": "prompt", "Answer": "completion"},
        {"prompt": "Question", "completion": "Answer"},  # ours → theirs
    ],
)
def test_column_maps_match_case_insensitively_either_way(
    odd_csv: Path, columns: dict[str, str]
) -> None:
    ds = Dataset.load(odd_csv, columns=columns)
    assert ds.format == "prompt_completion"
    assert ds.validate().ok
    first = ds.head(1)[0]
    assert first.messages[0].text == "What is 1+1?"  # type: ignore[union-attr]


def test_columns_only_differing_in_case_need_no_map(tmp_path: Path) -> None:
    path = tmp_path / "caps.csv"
    path.write_text("Prompt,Completion\nhi,hello\n", encoding="utf-8")
    assert Dataset.load(path).format == "prompt_completion"


def test_yaml_data_mapping_with_columns(odd_csv: Path) -> None:
    job_file = odd_csv.parent / "job.yaml"
    job_file.write_text(
        "model: tiny/model\n"
        "data: {path: odd.csv, columns: {Question: prompt, Answer: completion}}\n",
        encoding="utf-8",
    )
    job = ts.Job.from_yaml(job_file)
    assert job.data["path"] == str(odd_csv)
    assert job.infer_objective() == "sft"
    assert Dataset.load(job.data).format == "prompt_completion"
    assert "odd.csv" in job.to_yaml()


def test_an_unmapped_csv_reports_its_problem_once(odd_csv: Path) -> None:
    with pytest.raises(DataError) as info:
        Dataset.load(odd_csv)
    report = info.value.report
    assert len(report.problems) == 1
    assert "every row: 3" in report.problems[0].message
    assert '"Question": "prompt"' in report.problems[0].fix
    assert "--columns Question=prompt,Answer=completion" in report.problems[0].fix


def test_a_mapped_column_missing_from_the_file_is_named(odd_csv: Path) -> None:
    with pytest.raises(DataError, match=r"(?i)column\(s\) query named in columns= are not in"):
        Dataset.load(odd_csv, columns={"Query": "prompt"})


def test_a_missing_field_on_every_row_is_one_problem(odd_csv: Path) -> None:
    report = Dataset.load(odd_csv, format="prompt_completion").validate()
    assert report.error_count == 1
    assert report.errors[0].line is None and "every row: 3" in report.errors[0].message


def test_a_problem_on_some_rows_stays_per_line(tmp_path: Path) -> None:
    path = tmp_path / "some.jsonl"
    path.write_text(
        '{"prompt": "a", "completion": "b"}\n{"prompt": "", "completion": ""}\n'
        '{"prompt": "", "completion": ""}\n',
        encoding="utf-8",
    )
    report = Dataset.load(path).validate()
    assert all(p.line is not None for p in report.problems)


def test_a_bad_mapping_spec_is_refused_clearly(odd_csv: Path) -> None:
    with pytest.raises(DataError, match="unknown key\\(s\\) colums"):
        Dataset.load({"path": str(odd_csv), "colums": {}})


def test_a_job_with_a_column_map_runs(odd_csv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNESDK_HOME", str(odd_csv.parent / "home"))
    job = ts.Job(
        model="tiny/model",
        data={"path": "odd.csv", "columns": {"question": "prompt", "answer": "completion"}},
        max_steps=2,
    )
    monkeypatch.chdir(odd_csv.parent)
    result = job.run("simulated", progress=False)
    assert result.status == "completed"
    stored = ts.Run.attach(result.run_id).record.job  # the run reads the same 3 examples
    assert Dataset.load(stored.data).format == "prompt_completion"
    assert len(Dataset.load(stored.data)) == 3
