"""Target labels: compared as text as the file holds them, named in params.yaml either way."""

from __future__ import annotations

import pandas as pd
import pytest

from gitops_ml.core.labels import as_text, find_label, label_text


@pytest.mark.parametrize(
    ("given", "present", "found"),
    [
        ("bad", ["bad", "good"], "bad"),
        ("1", ["0", "1"], "1"),
        (1, ["0", "1"], "1"),
        ("true", ["false", "true"], "true"),
        (True, ["false", "true"], "true"),
        (True, ["False", "True"], "True"),
        ("true", ["False", "True"], "True"),
        (False, ["FALSE", "TRUE"], "FALSE"),
        (1, ["0.0", "1.0"], "1.0"),
        ("Yes", ["No", "Yes"], "Yes"),
    ],
)
def test_a_label_is_found_in_either_form(
    given: str | int | bool, present: list[str], found: str
) -> None:
    """Quoted text or a YAML number or boolean finds the label as the file spells it."""
    assert find_label(given, present) == found


@pytest.mark.parametrize(
    ("given", "present", "found"),
    [
        ("yes", ["No", "Yes"], None),  # only booleans are matched whatever their case
        ("bad", ["good", "neutral"], None),
        (2, ["0", "1"], None),
        ("true", ["true", "True", "false"], "true"),  # the exact text wins
        (True, ["True", "TRUE", "false"], None),  # two case-blind matches: ambiguous
    ],
)
def test_a_label_that_names_nothing_is_not_found(
    given: str | int | bool, present: list[str], found: str | None
) -> None:
    """Other text, another case of a word, another number or an ambiguous word find nothing."""
    assert find_label(given, present) == found


def test_yaml_booleans_read_as_their_yaml_words() -> None:
    """A YAML `true` in params.yaml is the text `true`, a number its digits."""
    assert [label_text(True), label_text(False), label_text(1), label_text("x")] == [
        "true",
        "false",
        "1",
        "x",
    ]


def test_target_values_are_compared_as_text() -> None:
    """Booleans, integers and text of a target column become text; missing stays missing."""
    assert as_text(pd.Series([True, False])).tolist() == ["True", "False"]
    assert as_text(pd.Series([1, 0])).tolist() == ["1", "0"]
    assert as_text(pd.Series(["bad", None])).isna().tolist() == [False, True]
