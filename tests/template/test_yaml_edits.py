"""init's edits of params.yaml and artifacts.yaml, and the gate floors from the first run."""

from __future__ import annotations

import difflib

import pytest
import yaml

from gitops_ml.core.errors import ParamsError
from gitops_ml.template import yaml_edits

from ..conftest import ROOT


def test_tracking_uri_in_params_refuses_credentials() -> None:
    """params.yaml may name a tracking server, never a password or token for it."""
    text = (ROOT / "params.yaml").read_text()
    ok = text.replace("uri: null", "uri: https://mlflow.example.com")
    assert yaml_edits.validate_params_text(ok, "p").tracking.uri == "https://mlflow.example.com"
    for uri in (
        "https://me:hunter2@mlflow.example.com",
        "https://mlflow.example.com?token=hunter2",
    ):
        with pytest.raises(ParamsError, match=r"tracking\.uri: holds (a password|the query)") as e:
            yaml_edits.validate_params_text(text.replace("uri: null", f"uri: {uri}"), "p")
        assert "hunter2" not in str(e.value)  # the secret is never repeated


@pytest.mark.example_data  # init from the template as shipped
def test_params_edits_keep_comments_and_touch_only_changed_lines() -> None:
    """Only the edited values' lines differ; ambiguous labels are quoted for YAML 1.1."""
    text = (ROOT / "params.yaml").read_text()
    edits = yaml_edits.Edits(yaml_edits.load_doc(text))
    edits.set("data.target", "status")
    edits.set("data.positive_label", "no")
    edits.set("data.id_column", None)  # unchanged: not recorded
    edits.set("gates.floors.roc_auc", 0.7)
    out = yaml_edits.dump_doc(edits.doc)
    changed = [
        line
        for line in difflib.unified_diff(text.splitlines(), out.splitlines(), lineterm="", n=0)
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]
    assert changed == [
        "-  target: churn",
        '-  positive_label: "Yes"',
        "+  target: status",
        '+  positive_label: "no"',
        "-    roc_auc: 0.80",
        "+    roc_auc: 0.7",
    ]
    assert yaml.safe_load(out)["data"]["positive_label"] == "no"
    assert edits.lines == [
        "data.target: 'churn' → 'status'",
        "data.positive_label: 'Yes' → 'no'",
        "gates.floors.roc_auc: 0.8 → 0.7",
    ]


@pytest.mark.example_data  # init from the template as shipped
def test_artifacts_entry_follows_the_model_name() -> None:
    """The GTO artifact is renamed in place; its comments stay."""
    text = (ROOT / "artifacts.yaml").read_text()
    out = yaml_edits.artifacts_text(text, "churn-classifier", "loans", "Loan default classifier.")
    assert out.splitlines()[:2] == text.splitlines()[:2]
    entry = yaml.safe_load(out)
    assert list(entry) == ["loans"]
    assert entry["loans"]["path"] == "models/model.skops"
    assert entry["loans"]["description"] == "Loan default classifier."


def test_floors_sit_under_the_first_run_by_the_allowed_drop() -> None:
    """Higher-is-better floors go down by max_drop, log_loss's ceiling up; rounded outward."""
    floors = yaml_edits.calibrated_floors(
        {"roc_auc": 0.8, "average_precision": 0.55, "log_loss": 0.5, "f1": 0.3},
        {"roc_auc": 0.02, "log_loss": 0.03},
        {"roc_auc": 0.9137, "average_precision": 0.6209, "log_loss": 0.4112},
    )
    assert floors == {"roc_auc": 0.89, "average_precision": 0.6, "log_loss": 0.45, "f1": 0.3}


# ---------------------------------------------------------------- on a real repository
