"""The champion/challenger rule and the model card, on small hand-made numbers."""

from __future__ import annotations

import numpy as np

from gitops_ml.champion import (
    Decision,
    Scores,
    decide,
    floor_failures,
    markdown,
    paired,
    scores,
)
from gitops_ml.evaluate import METRICS
from gitops_ml.model_card import Card, DataFacts, render
from gitops_ml.params import EvaluateParams, RegistryParams


def _scores(roc_auc: float, log_loss: float = 0.4) -> Scores:
    metrics = dict.fromkeys(METRICS, 0.7) | {"roc_auc": roc_auc, "log_loss": log_loss}
    return Scores(metrics=metrics, se=dict.fromkeys(METRICS, 0.01))


FLOORS = {"roc_auc": 0.75}


def _rule(**kw: object) -> RegistryParams:
    return RegistryParams.model_validate({"model_name": "m", **kw})


def test_first_model_is_champion_only_when_it_clears_the_floors() -> None:
    """With no champion, the floors alone decide."""
    assert decide(_scores(0.80), None, None, _rule(), FLOORS).promote
    low = decide(_scores(0.70), None, None, _rule(), FLOORS)
    assert not low.promote
    assert low.reason == "fails the floors: roc_auc 0.7000 is below the floor 0.7500"


def test_lower_is_better_floor_is_a_ceiling() -> None:
    """A floor on log_loss is a maximum."""
    assert floor_failures({"log_loss": 0.5}, {"log_loss": 0.45}) == [
        "log_loss 0.5000 is above the ceiling 0.4500"
    ]
    assert floor_failures({"log_loss": 0.4}, {"log_loss": 0.45}) == []


def test_not_worse_beyond_noise() -> None:
    """With margin 0, a loss within noise (times the paired SE) promotes; a larger one does not."""
    within = decide(_scores(0.835), _scores(0.84), 0.01, _rule(noise=1.0), FLOORS, "4")
    assert within.promote
    assert within.delta == -0.005
    assert "within noise (0.0100)" in within.reason
    beyond = decide(_scores(0.82), _scores(0.84), 0.01, _rule(noise=1.0), FLOORS, "4")
    assert not beyond.promote
    assert beyond.reason == "roc_auc -0.0200 against champion v4 is worse beyond noise (0.0100)"


def test_margin_requires_a_real_improvement() -> None:
    """With a margin, the challenger must beat the champion by at least that much."""
    rule = _rule(margin=0.01)
    assert not decide(_scores(0.845), _scores(0.84), 0.001, rule, FLOORS, "2").promote
    assert decide(_scores(0.851), _scores(0.84), 0.001, rule, FLOORS, "2").promote


def test_lower_is_better_decision_metric() -> None:
    """When the deciding metric is log_loss, a lower value is the improvement."""
    rule = _rule(metric="log_loss", margin=0.01)
    better = decide(
        _scores(0.8, log_loss=0.38), _scores(0.8, log_loss=0.40), 0.0, rule, FLOORS, "1"
    )
    assert better.promote
    assert better.delta == 0.02


def test_paired_bootstrap_matches_each_models_bootstrap_and_cancels_shared_noise() -> None:
    """Each model's errors equal `bootstrap_se` with the same seed; identical predictions
    differ by exactly 0, different ones by a positive standard error."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400).astype(np.int8)
    p = np.clip(y * 0.3 + rng.random(400) * 0.7, 0, 1)
    q = np.clip(y * 0.2 + rng.random(400) * 0.8, 0, 1)
    settings = EvaluateParams(bootstrap=20)
    new, old, delta_se = paired(y, p, q, "roc_auc", settings, 1)
    assert new == scores(y, p, settings, 1)
    assert old == scores(y, q, settings, 1)
    assert delta_se > 0.0
    assert paired(y, p, p, "roc_auc", settings, 1)[2] == 0.0


def test_decision_round_trips_and_renders() -> None:
    """A stored decision is rebuilt exactly; markdown and the model card show its numbers."""
    decision = decide(_scores(0.86), _scores(0.84), 0.005, _rule(), FLOORS, "1")
    assert Decision.from_dict(decision.to_dict()) == decision
    md = markdown(decision, "churn", "2")
    assert "## churn v2: promoted to champion" in md
    assert "| roc_auc (decides) | 0.8600 ± 0.0100 | 0.8400 ± 0.0100 | +0.0200 |" in md
    card = render(
        Card(
            name="churn",
            version="2",
            intended_use="Rank customers by churn risk.",
            limitations=["One snapshot."],
            data=DataFacts("data/raw/x.csv", "abc", 80, 20, 0.25, 0.3, "churn", "Yes"),
            train_params={"seed": 1},
            decision=decision,
            lineage={"git_sha": "deadbeef", "mlflow.run_id": "r1"},
        )
    )
    assert card.startswith("# Model card: churn v2\n")
    assert "Rank customers by churn risk." in card
    assert "- Rows: 80 train, 20 test" in card
    assert "| roc_auc | 0.8600 ± 0.0100 |" in card
    assert "0.8600 against 0.8400 for champion v1" in card
    assert "| git_sha | `deadbeef` |" in card
    assert "- One snapshot." in card
