"""What the pull-request report says, as typed data: built by `verdict.build`, written as
report.json by `to_dict` and as report.md by `markdown.render`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from gitops_ml.core.params import GatesParams
from gitops_ml.review.gate import Change, Check
from gitops_ml.review.pairing import Pairing
from gitops_ml.review.reproducibility import Reproducibility
from gitops_ml.review.rescoring import Rescoring
from gitops_ml.review.sides import RawData

# Counts of a confusion matrix: actual label, then predicted label.
Counts = dict[str, dict[str, int]]


@dataclass(frozen=True)
class Pair:
    """One figure on both sides (None where a side does not have it)."""

    base: Any
    branch: Any


@dataclass(frozen=True)
class BaseRef:
    """The revision compared against."""

    rev: str
    sha: str
    has_baseline: bool
    other_project: str | None = None  # why the base looks like another project's history


@dataclass(frozen=True)
class BranchRef:
    """The workspace compared: its commit, and tracked files edited on top of it."""

    sha: str
    uncommitted_changes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ParamChange:
    """One params.yaml key whose value differs (`kind`: changed, added or removed)."""

    key: str
    base: Any
    branch: Any
    kind: str


@dataclass(frozen=True)
class GateResult:
    """The quality gate: whose thresholds, each check, and whether the PR edits `gates:`."""

    source: str  # "base" or "branch"
    thresholds: GatesParams
    checks: list[Check]
    changes: list[ParamChange]

    @property
    def passed(self) -> bool:
        """True when every check passes."""
        return all(c.passed for c in self.checks)

    @property
    def changed_in_pr(self) -> bool:
        """True when the pull request edits `gates:`."""
        return bool(self.changes)


@dataclass(frozen=True)
class DataComparison:
    """The raw data file and the test split on both sides."""

    base: RawData
    branch: RawData
    n_test: Pair
    positive_rate: Pair

    @property
    def changed(self) -> bool:
        """True when the raw data's path or content differs."""
        return (self.base.path, self.base.md5) != (self.branch.path, self.branch.md5)


@dataclass(frozen=True)
class ConfusionComparison:
    """Confusion counts at each side's decision threshold."""

    base: Counts | None
    branch: Counts
    threshold: Pair


@dataclass(frozen=True)
class ImportanceComparison:
    """The top features by permutation importance on both sides."""

    base: list[dict[str, Any]] | None
    branch: list[dict[str, Any]]


@dataclass(frozen=True)
class Cost:
    """Each stage command's wall time and peak memory (eval/timings.json), where recorded."""

    base: dict[str, dict[str, float]] | None
    branch: dict[str, dict[str, float]] | None


@dataclass(frozen=True)
class Report:
    """Everything the report says."""

    passed: bool
    reason: str
    failures: list[str]
    base: BaseRef
    branch: BranchRef
    metrics: list[Change]
    pairing: Pairing
    slices: list[Change]
    gate: GateResult
    params_changed: list[ParamChange]
    data: DataComparison
    confusion: ConfusionComparison
    importance: ImportanceComparison
    reproducibility: Reproducibility
    rescoring: Rescoring | None = None  # the base's own re-scoring of the branch's model
    cost: Cost = field(default_factory=lambda: Cost(None, None))
    figures: list[str] = field(default_factory=list)
    run_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (report.json)."""
        return {
            "passed": self.passed,
            "reason": self.reason,
            "failures": list(self.failures),
            "base": asdict(self.base),
            "branch": asdict(self.branch),
            "metrics": [asdict(c) for c in self.metrics],
            "pairing": asdict(self.pairing),
            "slices": [asdict(c) for c in self.slices],
            "gate": {
                "source": self.gate.source,
                "thresholds": self.gate.thresholds.model_dump(),
                "checks": [asdict(c) for c in self.gate.checks],
                "passed": self.gate.passed,
                "changed_in_pr": self.gate.changed_in_pr,
                "changes": [asdict(c) for c in self.gate.changes],
            },
            "params_changed": [asdict(c) for c in self.params_changed],
            "data": {**asdict(self.data), "changed": self.data.changed},
            "confusion": asdict(self.confusion),
            "importance": asdict(self.importance),
            "reproducibility": self.reproducibility.to_dict(),
            "rescoring": None if self.rescoring is None else self.rescoring.to_dict(),
            "cost": asdict(self.cost),
            "figures": list(self.figures),
            "run_url": self.run_url,
        }
