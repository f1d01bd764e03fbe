"""The gate's error rates on synthetic scores: it rarely fails a change that is not there, and
catches a real drop beyond its limit.

Two models score the same rows (the default data's test size and class balance); their scores
share most of their noise, as two versions of one model do: enough that the paired standard
error of their ROC AUC difference is about 0.005, as measured between model variants on the
default data. Each seed is one pull request. The measured rates are in docs/pull-requests.md.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from gitops_ml.core.metrics import paired_scores
from gitops_ml.core.params import GatesParams
from gitops_ml.review import gate

pytestmark = pytest.mark.slow  # 400 paired bootstraps per scenario

SEEDS = 400
ROWS = 1409  # the default data's test split
POSITIVE_RATE = 0.265
BASE_AUC = 0.84
SHARED_NOISE = 0.96  # correlation of the two models' noise


def _separation(auc: float) -> float:
    """Mean shift between the classes' scores giving this AUC (binormal, unit variance)."""
    return float(math.sqrt(2) * norm.ppf(auc))


def _pull_request(seed: int, auc_drop: float) -> gate.Change:
    """The base's and a branch's scores on one test set; the branch's true AUC is lower by
    `auc_drop`; the roc_auc change as the report reads it."""
    rng = np.random.default_rng(seed)
    y = (rng.random(ROWS) < POSITIVE_RATE).astype(np.int8)
    shared = rng.normal(size=ROWS)

    def scores(auc: float) -> np.ndarray:
        noise = SHARED_NOISE * shared + math.sqrt(1 - SHARED_NOISE**2) * rng.normal(size=ROWS)
        return 1 / (1 + np.exp(-(_separation(auc) * y + noise - 1)))

    base, branch = scores(BASE_AUC), scores(BASE_AUC - auc_drop)
    paired = paired_scores(y, branch, base, 0.5, resamples=200, seed=seed)
    return gate.paired_change("roc_auc", paired, z=1.96, rows=ROWS)


def _fails(change: gate.Change, max_drop: float) -> bool:
    checks = gate.check(GatesParams(max_drop={"roc_auc": max_drop}), [change], {})
    return not all(c.passed for c in checks)


@pytest.fixture(scope="module")
def unchanged() -> list[gate.Change]:
    """Pull requests whose model is no worse and no better than the base's."""
    return [_pull_request(seed, auc_drop=0.0) for seed in range(SEEDS)]


def test_without_a_true_difference_the_gate_almost_never_fails(
    unchanged: list[gate.Change],
) -> None:
    """With the template's max_drop (0.02) and no true difference, at most 1% of pull
    requests fail; the paired error of the difference is what the gate's band says."""
    failed = sum(_fails(change, max_drop=0.02) for change in unchanged)
    assert failed <= 0.01 * SEEDS
    bands = np.array([change.noise for change in unchanged]) / 1.96
    spread = np.std([change.delta for change in unchanged], ddof=1)
    assert 0.003 < spread < 0.007
    assert np.median(bands) == pytest.approx(spread, rel=0.2)


def test_without_a_true_difference_beyond_noise_is_the_nominal_five_percent(
    unchanged: list[gate.Change],
) -> None:
    """'Beyond noise' flags a change that is not there about 5% of the time (z = 1.96),
    within three binomial standard deviations."""
    flagged = sum(change.beyond_noise for change in unchanged)
    spread = 3 * math.sqrt(SEEDS * 0.05 * 0.95)
    assert abs(flagged - 0.05 * SEEDS) <= spread


def test_a_true_drop_twice_the_limit_fails_the_gate() -> None:
    """A true ROC AUC drop of 0.02 fails a max_drop of 0.01 in at least 80% of pull requests."""
    failed = sum(_fails(_pull_request(seed, auc_drop=0.02), max_drop=0.01) for seed in range(SEEDS))
    assert failed >= 0.8 * SEEDS
