"""Small hand-made review data shared by the review tests: metrics, dvc.lock, curves."""

from __future__ import annotations


def metrics_with_se(**values: float) -> dict[str, float]:
    """Metrics with a bootstrap error of 0.01 on every metric given."""
    out = dict(values)
    out.update({f"{k}_se": 0.01 for k in values})
    return out


LOCK = {
    "stages": {
        "prepare": {
            "cmd": "prep",
            "deps": [{"path": "raw.csv", "md5": "r1", "size": 10}],
            "params": {"params.yaml": {"seed": 1}},
            "outs": [{"path": "prepared", "md5": "p1"}],
        },
        "train": {
            "cmd": "train --a\n  --b",
            "deps": [{"path": "prepared", "md5": "p1"}, {"path": "train.py", "md5": "t1"}],
            "params": {"params.yaml": {"train": {"max_iter": 200}}},
            "outs": [{"path": "model.skops", "md5": "m1"}],
        },
    }
}


ROC = [
    {"fpr": 0.0, "tpr": 0.0},
    {"fpr": 0.0, "tpr": 0.5},
    {"fpr": 0.5, "tpr": 0.9},
    {"fpr": 1, "tpr": 1},
]
PRC = [
    {"recall": 1.0, "precision": 0.3},
    {"recall": 0.5, "precision": 0.8},
    {"recall": 0, "precision": 1},
]
CAL = [{"predicted": 0.1, "observed": 0.2}, {"predicted": 0.5, "observed": 0.4}]
