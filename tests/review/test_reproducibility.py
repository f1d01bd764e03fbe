"""Whether committed results are what the code reproduces: dvc.lock and `dvc status` read."""

from __future__ import annotations

import json
from typing import Any

from gitops_ml.review import reproducibility

from .sample import LOCK


def _relocked(**changes: Any) -> dict[str, Any]:
    lock = json.loads(json.dumps(LOCK))
    for dotted, value in changes.items():
        stage, *path = dotted.split("__")
        node = lock["stages"][stage]
        for key in path[:-1]:
            node = node[int(key)] if key.isdigit() else node[key]
        node[path[-1]] = value
    return lock


def test_lock_differences_ignore_produced_outputs() -> None:
    """A retrained model's new hash is not staleness; other params, code or data are."""
    assert reproducibility.lock_differences(LOCK, _relocked(train__outs__0__md5="m2")) == []
    assert reproducibility.lock_differences(LOCK, _relocked(train__cmd="train --a --b")) == []
    # A stage of one command, written as a list of one: the same command.
    assert reproducibility.lock_differences(LOCK, _relocked(train__cmd=["train --a --b"])) == []
    assert reproducibility.lock_differences(
        LOCK, _relocked(train__cmd=["train --a --b", "track"])
    ) == ["the committed dvc.lock has other command for stage train"]
    stale = reproducibility.lock_differences(
        LOCK, _relocked(train__params={"params.yaml": {"train": {"max_iter": 1}}})
    )
    assert stale == ["the committed dvc.lock has other params for stage train"]
    assert reproducibility.lock_differences(LOCK, _relocked(prepare__deps__0__md5="r2")) == [
        "the committed dvc.lock has other code or data for stage prepare"
    ]
    assert reproducibility.lock_differences(None, LOCK) == ["dvc.lock is not committed"]


def test_status_problems_separate_stale_from_absent() -> None:
    """Changed params or code are stale; outputs merely missing from the workspace are not."""
    status = {
        "train": [
            {"changed deps": {"params.yaml": {"train": "modified"}, "prepared": "deleted"}},
            {"changed outs": {"model.skops": "not in cache"}},
        ],
        "prepare": [{"changed deps": {"raw.csv": "modified"}}, "changed command"],
    }
    stale, missing = reproducibility.status_problems(status, LOCK)
    assert stale == [
        "stage prepare: deps raw.csv modified",
        "stage prepare: changed command",
        "stage train: deps params.yaml (train modified)",
    ]
    assert missing == ["model.skops", "prepared"]
    assert reproducibility.status_problems({}, LOCK) == ([], [])
