"""The report's judgement, pure: both sides in, a typed `Report` with its verdict out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from gitops_ml.core.errors import ParamsError, UserError
from gitops_ml.core.params import EvaluateParams, GatesParams, problems
from gitops_ml.infra.dvc_lock import LOCK
from gitops_ml.review import gate
from gitops_ml.review.document import (
    BaseRef,
    BranchRef,
    ConfusionComparison,
    Cost,
    Counts,
    DataComparison,
    GateResult,
    ImportanceComparison,
    Pair,
    ParamChange,
    Report,
)
from gitops_ml.review.pairing import Pairs, pair
from gitops_ml.review.reproducibility import COMMIT, FIX, Reproducibility
from gitops_ml.review.rescoring import Rescoring
from gitops_ml.review.sides import RawData, Side, raw_data

DEFAULT_RESAMPLES = EvaluateParams().bootstrap
DEFAULT_THRESHOLD = EvaluateParams().threshold


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one level of dotted keys; lists and scalars are leaves."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def params_diff(base: Mapping[str, Any] | None, branch: Mapping[str, Any]) -> list[ParamChange]:
    """Params whose value differs between base and branch, as dotted keys (absent = missing)."""
    old = flatten(base or {})
    new = flatten(branch)
    rows = []
    for key in sorted(old.keys() | new.keys()):
        if key in old and key in new and old[key] == new[key]:
            continue
        kind = "changed" if key in old and key in new else ("added" if key in new else "removed")
        rows.append(ParamChange(key, old.get(key), new.get(key), kind))
    return rows


def select_gates(
    base_params: Mapping[str, Any] | None, branch_gates: GatesParams, base_label: str
) -> tuple[GatesParams, str]:
    """The gate to apply (the base's, else the branch's) and which one it is."""
    raw = (base_params or {}).get("gates")
    if raw is None:
        return branch_gates, "branch"
    try:
        return GatesParams.model_validate(raw), "base"
    except ValidationError as exc:
        found = "; ".join(problems(exc, "gates"))
        raise ParamsError(f"{base_label}:params.yaml: invalid gates section: {found}") from None


def confusion_counts(rows: Sequence[Mapping[str, Any]]) -> Counts:
    """Counts per actual label, then per predicted label."""
    counts: Counts = {}
    for row in rows:
        actual = counts.setdefault(str(row["actual"]), {})
        actual[str(row["predicted"])] = actual.get(str(row["predicted"]), 0) + 1
    return counts


def run_url(env: Mapping[str, str]) -> str | None:
    """Link to the GitHub Actions run, when running in one."""
    if not env.get("GITHUB_ACTIONS"):
        return None
    parts = [env.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    if not all(parts):
        return None
    server, repo, run_id = parts
    return f"{server}/{repo}/actions/runs/{run_id}"


def headline_metric(gates: GatesParams, changes: list[gate.Change]) -> gate.Change | None:
    """The metric a reader looks at first: must_improve, else the first gated one, else roc_auc."""
    by_metric = {c.metric: c for c in changes}
    for name in [gates.must_improve, *gates.floors, *gates.max_drop, *by_metric]:
        if name is not None and name in by_metric:
            return by_metric[name]
    return None


def _names(metrics: Sequence[str]) -> str:
    return metrics[0] if len(metrics) == 1 else ", ".join(metrics[:-1]) + " and " + metrics[-1]


def rescoring_failures(rescored: Rescoring | None) -> list[str]:
    """Why the judge's own check of the branch's model fails it (empty when it holds)."""
    if rescored is None:
        return []
    if rescored.refused_model:
        return [
            f"the judge's model loader refuses this branch's model ({rescored.problem}): a code "
            "owner must review a model of new types, and merge the loader's change first"
        ]
    if rescored.problem:
        return [f"the judge cannot re-score this branch's model: {rescored.problem}"]
    if rescored.predictions_differ:
        return [
            "eval/predictions.csv is not what this branch's model gives on its test split: "
            f"{rescored.predictions_differ}"
        ]
    return []


def failures(
    checks: list[gate.Check],
    repro: Reproducibility,
    uncommitted: Sequence[str] = (),
    rescored: Rescoring | None = None,
) -> list[str]:
    """Why the report fails, stale or uncommitted results first; empty when it passes."""
    found = rescoring_failures(rescored) + [c.detail for c in checks if c.applies and not c.passed]
    if not repro.lock_up_to_date:
        found.insert(0, f"{LOCK} is out of date with the code, params or data: {FIX}")
    elif not repro.committed and repro.in_ci:
        found.insert(0, f"the committed {LOCK} and eval/ are not what this code reproduces: {FIX}")
    elif not repro.committed:
        found.insert(0, f"{LOCK} and eval/ are reproduced here but not committed: {COMMIT}")
    if uncommitted:
        shown = ", ".join(uncommitted[:5]) + (", …" if len(uncommitted) > 5 else "")
        found.insert(
            0,
            f"uncommitted changes to {shown}: commit them (a pull request is judged on what is "
            "committed)",
        )
    return found


def passing_reason(
    has_baseline: bool,
    changes: list[gate.Change],
    checks: list[gate.Check],
    headline: gate.Change | None,
) -> str:
    """Why the report passes: what was checked and what changed beyond noise."""
    applied = sum(c.applies for c in checks)
    if not has_baseline:
        return (
            f"no baseline yet: the base has no eval/metrics.json to compare with; "
            f"{applied} of {len(checks)} gate checks apply and pass."
        )
    parts = [f"all {applied} gate checks pass"]
    if headline is not None and headline.delta is not None and headline.noise is not None:
        within = "beyond" if headline.beyond_noise else "within"
        parts.append(
            f"{headline.metric} {headline.base:.4f} → {headline.branch:.4f} "
            f"({headline.delta:+.4f}, {within} noise ±{headline.noise:.4f})"
        )
    better = [c.metric for c in changes if c.direction == 1]
    worse = [c.metric for c in changes if c.direction == -1]
    if better:
        parts.append(f"{_names(better)} improved beyond noise")
    if worse:
        parts.append(f"{_names(worse)} worsened beyond noise, within the allowed drop")
    if not better and not worse:
        parts.append("no metric changed beyond noise")
    return "; ".join(parts) + "."


def build(
    base: Side,
    branch: Side,
    *,
    base_rev: str,
    branch_gates: GatesParams,
    branch_data: RawData,
    repro: Reproducibility,
    rescoring: Rescoring | None = None,
    uncommitted: Sequence[str] = (),
    url: str | None = None,
    figures: Sequence[str] = (),
    pairs: Pairs | None = None,
) -> Report:
    """Everything the report says, from both sides and the reproducibility checks.

    When the judge re-scored the branch's model (`rescoring`), the report and the gate use
    its metrics, predictions and plot data, not those the branch's own evaluation code wrote.
    `pairs` is `compare_predictions` of the same (judged) sides when the caller has it already.
    """
    if rescoring is not None:
        branch = rescoring.judged(branch)
    metrics, params = branch.metrics, branch.params
    if metrics is None or params is None:
        raise UserError("the branch has no eval/metrics.json or params.yaml to report on")
    gates, source = select_gates(base.params, branch_gates, base.sha[:7])
    has_baseline = base.metrics is not None
    if pairs is None:
        pairs = compare_predictions(base, branch)
    rows = pairs.pairing.rows if pairs.overall is not None else None
    changes = gate.compare(base.metrics, metrics, gates.noise_z, pairs.overall, rows)
    slice_changes = [
        gate.paired_change(metric, found.paired, gates.noise_z, subject=found.name, rows=found.rows)
        for found in pairs.slices
        for metric in sliced_metrics(gates)
    ]
    checks = gate.check(gates, changes, metrics, slice_changes)
    failed = failures(checks, repro, uncommitted, rescoring)
    reason = (
        "; ".join(failed) + "."
        if failed
        else passing_reason(has_baseline, changes, checks, headline_metric(gates, changes))
    )
    diff = params_diff(base.params, params)
    base_metrics = base.metrics or {}
    return Report(
        passed=not failed,
        reason=reason,
        failures=failed,
        base=BaseRef(
            rev=base_rev,
            sha=base.sha,
            has_baseline=has_baseline,
            other_project=other_project(base.params, params),
        ),
        branch=BranchRef(sha=branch.sha, uncommitted_changes=list(uncommitted)),
        metrics=changes,
        pairing=pairs.pairing,
        slices=slice_changes,
        gate=GateResult(
            source=source,
            thresholds=gates,
            checks=checks,
            changes=[d for d in diff if d.key == "gates" or d.key.startswith("gates.")],
        ),
        params_changed=diff,
        data=DataComparison(
            base=raw_data(base.params, base.lock),
            branch=branch_data,
            n_test=Pair(base_metrics.get("n_test"), metrics.get("n_test")),
            positive_rate=Pair(base_metrics.get("positive_rate"), metrics.get("positive_rate")),
        ),
        confusion=ConfusionComparison(
            base=confusion_counts(base.plots["confusion"]) if "confusion" in base.plots else None,
            branch=confusion_counts(branch.plots.get("confusion", [])),
            threshold=Pair(_threshold(base.params), _threshold(params)),
        ),
        importance=ImportanceComparison(
            base=base.plots.get("importance"), branch=branch.plots.get("importance", [])
        ),
        reproducibility=repro,
        rescoring=rescoring,
        cost=Cost(base=base.timings, branch=branch.timings),
        figures=list(figures),
        run_url=url,
    )


def _evaluate(params: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return (params or {}).get("evaluate") or {}


def _threshold(params: Mapping[str, Any] | None) -> Any:
    return _evaluate(params).get("threshold")


def compare_predictions(base: Side, branch: Side) -> Pairs:
    """Pair both sides' predictions, with the base's bootstrap settings (the judge's)."""
    judge = base.params if base.params is not None else branch.params
    resamples = int(_evaluate(judge).get("bootstrap", DEFAULT_RESAMPLES))
    return pair(
        base.predictions,
        branch.predictions,
        base_threshold=float(_threshold(base.params) or DEFAULT_THRESHOLD),
        branch_threshold=float(_threshold(branch.params) or DEFAULT_THRESHOLD),
        resamples=resamples,
        seed=int((judge or {}).get("seed", 0)),
    )


def other_project(
    base_params: Mapping[str, Any] | None, branch_params: Mapping[str, Any]
) -> str | None:
    """Why the base looks like another project's history (another registered model), or None."""
    names = [
        ((p or {}).get("registry") or {}).get("model_name") for p in (base_params, branch_params)
    ]
    if names[0] is None or names[0] == names[1]:
        return None
    return (
        f"the base's params.yaml registers the model {names[0]!r}, this branch {names[1]!r}: "
        "it is likely another project's history (a plain clone of the template keeps the "
        "template as `origin`); pass --base, or point `origin` at your own repository"
    )


def sliced_metrics(gates: GatesParams) -> list[str]:
    """The metrics the report shows per slice: those the gate limits per slice, else ROC AUC."""
    return list(gates.slice_max_drop) or ["roc_auc"]
