"""The champion/challenger rule and the model card, on small hand-made numbers."""

from __future__ import annotations

from gitops_ml.core.metric_rules import METRICS
from gitops_ml.core.metrics import Difference, Paired, Scores
from gitops_ml.core.params import RegistryParams
from gitops_ml.release.champion import Decision, decide, markdown
from gitops_ml.release.model_card import Card, DataFacts, render


def _scores(roc_auc: float, log_loss: float = 0.4) -> Scores:
    metrics = dict.fromkeys(METRICS, 0.7) | {"roc_auc": roc_auc, "log_loss": log_loss}
    return Scores(metrics=metrics, se=dict.fromkeys(METRICS, 0.01))


FLOORS = {"roc_auc": 0.75}


def _rule(**kw: object) -> RegistryParams:
    return RegistryParams.model_validate({"model_name": "m", **kw})


def _against(
    new: Scores, old: Scores, delta_se: float, rule: RegistryParams, version: str
) -> Decision:
    """Decide `new` against a champion `old` whose paired difference has error `delta_se`."""
    metric = rule.metric
    delta = round(new.metrics[metric] - old.metrics[metric], 6)
    delta = -delta if metric == "log_loss" else delta
    difference = Difference(metric, new.metrics[metric], old.metrics[metric], delta, delta_se)
    return decide(new, rule, FLOORS, Paired(new, old, {metric: difference}), version)


def test_first_model_is_champion_only_when_it_clears_the_floors() -> None:
    """With no champion, the floors alone decide."""
    assert decide(_scores(0.80), _rule(), FLOORS).promote
    low = decide(_scores(0.70), _rule(), FLOORS)
    assert not low.promote
    assert low.reason == "fails the floors: roc_auc 0.7000 is below the floor 0.75"


def test_not_worse_beyond_noise() -> None:
    """With margin 0, a loss within noise (times the paired SE) promotes; a larger one does not."""
    within = _against(_scores(0.835), _scores(0.84), 0.01, _rule(noise=1.0), "4")
    assert within.promote
    assert within.delta == -0.005
    assert "within noise (0.0100)" in within.reason
    beyond = _against(_scores(0.82), _scores(0.84), 0.01, _rule(noise=1.0), "4")
    assert not beyond.promote
    assert beyond.reason == "roc_auc -0.0200 against champion v4 is worse beyond noise (0.0100)"


def test_margin_requires_a_real_improvement() -> None:
    """With a margin, the challenger must beat the champion by at least that much."""
    rule = _rule(margin=0.01)
    assert not _against(_scores(0.845), _scores(0.84), 0.001, rule, "2").promote
    assert _against(_scores(0.851), _scores(0.84), 0.001, rule, "2").promote


def test_lower_is_better_decision_metric() -> None:
    """When the deciding metric is log_loss, a lower value is the improvement."""
    rule = _rule(metric="log_loss", margin=0.01)
    better = _against(_scores(0.8, log_loss=0.38), _scores(0.8, log_loss=0.40), 0.0, rule, "1")
    assert better.promote
    assert better.delta == 0.02


def test_decision_round_trips_and_renders() -> None:
    """A stored decision is rebuilt exactly; markdown and the model card show its numbers."""
    decision = _against(_scores(0.86), _scores(0.84), 0.005, _rule(), "1")
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
            lineage={"git.commit": "deadbeef", "mlflow.run_id": "r1"},
        )
    )
    assert card.startswith("# Model card: churn v2\n")
    assert "Rank customers by churn risk." in card
    assert "- Rows: 80 train, 20 test" in card
    assert "| roc_auc | 0.8600 ± 0.0100 |" in card
    assert "0.8600 against 0.8400 for champion v1" in card
    assert "| git.commit | `deadbeef` |" in card
    assert "- One snapshot." in card
