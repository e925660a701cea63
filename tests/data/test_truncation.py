"""What cutting at max_seq_length left to learn, in the words every local backend uses."""

from __future__ import annotations

import pytest

from tunesdk.data.truncation import truncation_warnings
from tunesdk.errors import DataError


def test_every_example_over_the_limit_names_the_shortest() -> None:
    with pytest.raises(DataError, match=r"all 5 examples in data are longer .*=8 .*has 12") as info:
        truncation_warnings(name="data", limit=8, total=5, over=5, dropped=5, shortest=12)
    assert info.value.where == "job.data"
    assert "at least 12" in (info.value.fix or "")


def test_nothing_to_learn_within_the_limit_is_an_error_too() -> None:
    # short examples whose answers fall beyond the limit anyway, and an empty set
    for over, total in ((1, 3), (0, 0)):
        with pytest.raises(DataError, match="no example in eval_data has a token") as info:
            truncation_warnings(
                name="eval_data", limit=8, total=total, over=over, dropped=total, shortest=4
            )
        assert info.value.where == "job.eval_data"


def test_cut_and_dropped_examples_are_warnings() -> None:
    assert truncation_warnings(name="data", limit=8, total=4, over=0, dropped=0, shortest=3) == []
    warnings = truncation_warnings(name="data", limit=8, total=4, over=2, dropped=1, shortest=3)
    assert warnings == [
        "2 of 4 examples in data are longer than max_seq_length=8 and were cut at the right",
        "1 examples in data had nothing to learn within max_seq_length=8 and were dropped",
    ]
