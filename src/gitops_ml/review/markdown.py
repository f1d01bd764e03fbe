"""report.md: a `Report` as GitHub-flavoured markdown, verdict first."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitops_ml.review import mermaid
from gitops_ml.review.document import ParamChange, Report
from gitops_ml.review.gate import OVERALL, Change
from gitops_ml.review.sides import RawData, Side


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.{digits}f}"


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.4f}"


def _value(value: Any) -> str:
    if value is None:
        return "`null`"
    return f"`{value}`" if not isinstance(value, str) else f"`{value!r}`"


def _old_new(change: ParamChange) -> tuple[str, str]:
    old = "(absent)" if change.kind == "added" else _value(change.base)
    new = "(absent)" if change.kind == "removed" else _value(change.branch)
    return old, new


def verdict_line(report: Report) -> str:
    """The first line: passed or failed, and the reason."""
    mark = "✅ **Passed**" if report.passed else "❌ **Failed**"
    return f"{mark}: {report.reason}"


# The name of the CI artifact holding the report and its PNG charts (pr.yml uploads it).
ARTIFACT = "pr-report"
# Smaller changes read as negligible, however clear: pairing makes tiny differences
# significant, and only the gate's limits decide whether a change matters.
NEGLIGIBLE = 0.002


def _subject(metric: str, subject: str) -> str:
    return metric if subject == OVERALL else f"{metric} ({subject})"


def _reading(change: Change) -> str:
    """A change in words: within noise, or better/worse beyond it, and how much that is."""
    if change.delta is None or change.noise is None:
        return "—"
    if not change.beyond_noise:
        return f"no (±{change.noise:.4f})"
    word = "better" if change.direction == 1 else "worse"
    if abs(change.delta) < NEGLIGIBLE:
        return f"yes, {word} (±{change.noise:.4f}), negligible"
    return f"**yes, {word}** (±{change.noise:.4f})"


def _method(report: Report) -> str:
    p, z = report.pairing, report.gate.thresholds.noise_z
    if p.method == "paired":
        line = (
            f"Change and noise band: paired bootstrap ({p.resamples} resamples, the same on both "
            f"sides) of the difference on the {p.rows:,} test rows both sides held out; a "
            f"change is beyond noise when |change| > {z:g} standard errors of that difference."
        )
        moved = [
            f"{n:,} {what}"
            for n, what in (
                (p.only_branch, "held out by this branch only"),
                (p.only_base, "by the base only"),
                (p.label_changed, "with a changed label"),
            )
            if n
        ]
        if moved:
            line += f" Left out of the pairing: {', '.join(moved)} (the split or the data changed)."
        return line
    return (
        f"Change and noise band: unpaired, because {p.reason}: a change is beyond noise when "
        f"|change| > {z:g} · √(se_base² + se_branch²), from the bootstrap standard errors in "
        "eval/metrics.json."
    )


def _metrics(report: Report) -> list[str]:
    base = f"base `{report.base.sha[:7]}`"
    lines = ["### Metrics", ""]
    if report.base.other_project:
        lines += [
            f"> [!WARNING]\n> Compared with `{report.base.rev}`: {report.base.other_project}.",
            "",
        ]
    if not report.base.has_baseline:
        lines += [
            f"**No baseline yet**: the base `{report.base.sha[:7]}` has no "
            "`eval/metrics.json`, so this branch is checked against the floors only.",
            "",
        ]
    lines += [
        f"| metric | {base} | this branch | change | beyond noise? |",
        "|---|--:|--:|--:|---|",
    ]
    for m in report.metrics:
        arrow = "↑" if m.higher_is_better else "↓"
        lines.append(
            f"| {m.metric} {arrow} | {_num(m.base)} | {_num(m.branch)} "
            f"| {_signed(m.delta)} | {_reading(m)} |"
        )
    rescored = report.rescoring is not None and report.rescoring.done
    source = (
        "the base's from its eval/metrics.json, this branch's from the judge's re-scoring of "
        "its model"
        if rescored
        else "each side's own eval/metrics.json"
    )
    lines += [
        "",
        f"↑ higher is better, ↓ lower is better. Values are on each side's whole test set: "
        f"{source}. {_method(report)} Changes under {NEGLIGIBLE} read as negligible however "
        "clear; only the gate's limits decide.",
    ]
    return lines


def _slices(report: Report) -> list[str]:
    if not report.slices:
        return []
    lines = [
        "### Slices",
        "",
        "Each slice of `evaluate.slices` with at least 100 rows and 10 of each class among the "
        "rows both sides held out, compared paired on those rows.",
        "",
        "| slice | metric | rows | base | this branch | change | beyond noise? |",
        "|---|---|--:|--:|--:|--:|---|",
    ]
    for c in report.slices:
        lines.append(
            f"| {c.subject} | {c.metric} | {_num(c.rows)} | {_num(c.base)} | {_num(c.branch)} "
            f"| {_signed(c.delta)} | {_reading(c)} |"
        )
    return lines


def _gate(report: Report) -> list[str]:
    gate = report.gate
    sha = report.base.sha[:7]
    if gate.source == "base":
        source = (
            f"Thresholds from `params.yaml` at the base `{sha}`, "
            "so a pull request cannot lower its own bar."
        )
    else:
        source = (
            f"The base `{sha}` has no `gates:` section in `params.yaml`, so this branch's "
            "thresholds are used."
        )
    lines = ["### Quality gate", "", source, ""]
    if gate.changed_in_pr:
        changes = ", ".join("`{}` {} → {}".format(c.key, *_old_new(c)) for c in gate.changes)
        applies = (
            "The base's thresholds apply to it; the new ones apply after it is merged."
            if gate.source == "base"
            else "The base has none, so this branch's apply: review them closely."
        )
        lines += [f"> [!WARNING]\n> This pull request changes `gates:` ({changes}). {applies}", ""]
    lines += ["| rule | metric | limit | this branch | result |", "|---|---|--:|--:|---|"]
    rule = {
        "floor": "worst allowed",
        "max_drop": "max drop",
        "must_improve": "must improve",
        "slice_max_drop": "max drop in a slice",
    }
    for c in gate.checks:
        result = "skipped" if not c.applies else ("pass" if c.passed else "**FAIL**")
        lines.append(
            f"| {rule[c.rule]} | {_subject(c.metric, c.subject)} | {_num(c.threshold, 3)} "
            f"| {_num(c.value)} | {result}: {c.detail} |"
        )
    if not gate.checks:
        lines.append("| — | — | — | — | no rules configured |")
    return lines


def _params(report: Report) -> list[str]:
    rows = report.params_changed
    if not rows:
        return ["### Params", "", "No params changed."]
    lines = ["### Params changed", "", "| param | base | this branch |", "|---|---|---|"]
    lines += ["| `{}` | {} | {} |".format(r.key, *_old_new(r)) for r in rows]
    return lines


def _data(report: Report) -> list[str]:
    data = report.data
    base, branch = data.base, data.branch

    def describe(side: RawData) -> str:
        md5 = f"md5 `{side.md5}`" if side.md5 else "md5 unknown"
        size = f", {side.size:,} bytes" if side.size is not None else ""
        return f"`{side.path}` ({md5}{size})"

    if base.path is None and base.md5 is None:
        head = f"Raw data: {describe(branch)}; the base records none."
    elif not data.changed:
        head = f"Raw data unchanged: {describe(branch)}."
    else:
        head = f"**Raw data changed**: {describe(base)} → {describe(branch)}."
    n, rate = data.n_test, data.positive_rate
    rows = f"Test split: {_num(n.branch)} rows (base {_num(n.base)}), positive rate "
    rows += f"{_num(rate.branch, 3)} (base {_num(rate.base, 3)})."
    return ["### Data", "", head, rows]


def _charts(report: Report, base: Side, branch: Side) -> list[str]:
    sha = report.base.sha[:7]
    has_base = [name for name in mermaid.CURVES if name in base.plots]
    key = f"Blue: base `{sha}` · orange: this branch" if has_base else "Orange: this branch"
    lines = [
        "### Curves",
        "",
        f"{key} · grey: chance (ROC) or perfect calibration. Resampled on a grid of "
        f"{mermaid.GRID_STEPS + 1} points.",
        "",
    ]
    for name in mermaid.CURVES:
        if name in branch.plots:
            lines += [mermaid.curve_chart(name, base.plots.get(name), branch.plots[name]), ""]
    if report.figures:
        # Linked, not embedded: a relative image path does not resolve in a pull-request
        # comment, and no third-party image host is used.
        files = ", ".join(f"`{f}`" for f in report.figures)
        where = (
            f"in the `{ARTIFACT}` artifact of the [CI run]({report.run_url})"
            if report.run_url
            else "beside this report"
        )
        lines.append(f"The exact curves as PNG ({files}) are {where}.")
    return lines


def _confusion(report: Report) -> list[str]:
    conf = report.confusion
    base, branch = conf.base or {}, conf.branch
    labels = sorted(set(base) | set(branch) | {p for r in branch.values() for p in r})
    if not labels:
        return []
    thr = conf.threshold
    at = f"threshold {thr.branch}"
    if base and thr.base != thr.branch:
        at += f" (base {thr.base})"
    cells = "base → branch" if base else "this branch"
    lines = [
        "### Confusion matrix",
        "",
        f"At the decision {at}; cells are {cells} counts.",
        "",
        "| actual \\ predicted | " + " | ".join(labels) + " |",
        "|---|" + "--:|" * len(labels),
    ]
    for actual in labels:
        row = []
        for predicted in labels:
            new = branch.get(actual, {}).get(predicted, 0)
            row.append(f"{base.get(actual, {}).get(predicted, 0)} → {new}" if base else str(new))
        lines.append(f"| **{actual}** | " + " | ".join(row) + " |")
    return lines


def _importance(report: Report) -> list[str]:
    imp = report.importance
    branch = imp.branch
    if not branch:
        return []
    base = {p["feature"]: p for p in imp.base or []}
    lines = [
        "### Top features",
        "",
        "Permutation importance: drop in ROC AUC when the column is shuffled"
        + (
            ", as each side's evaluate stage measured it (not re-scored by the judge)."
            if report.rescoring is not None and report.rescoring.done
            else "."
        ),
        "",
        "| feature | base | this branch |",
        "|---|--:|--:|",
    ]
    for p in branch:
        old = base.get(p["feature"])
        lines.append(
            f"| {p['feature']} | {_num(old['importance']) if old else '—'} "
            f"| {_num(p['importance'])} ± {_num(p['std'])} |"
        )
    return lines


def _reproducibility(report: Report) -> list[str]:
    r = report.reproducibility
    if r.lock_up_to_date:
        lock = (
            "✅ `dvc.lock` matches the code, params and data "
            "(`dvc status` reports no changed input)."
        )
    else:
        lock = "❌ `dvc.lock` is out of date:\n" + "\n".join(f"  - {p}" for p in r.lock_problems)
    if r.commit_problems:
        lock += "\n- ❌ The committed `dvc.lock` differs from the workspace's:\n" + "\n".join(
            f"  - {p}" for p in r.commit_problems
        )
    if not r.metrics_committed:
        metrics = "❌ `eval/metrics.json` is not committed."
    elif r.metrics_match:
        metrics = "✅ The committed `eval/metrics.json` equals the one reproduced here."
    else:
        shown = r.metric_differences[:8]
        more = len(r.metric_differences) - len(shown)
        metrics = "❌ The committed `eval/metrics.json` differs from the one reproduced here:\n"
        metrics += "\n".join(f"  - {d}" for d in shown)
        metrics += f"\n  - … and {more} more" if more > 0 else ""
    lines = ["### Reproducibility", "", f"- {lock}", f"- {metrics}"]
    if r.missing_outputs:
        lines.append(
            "- Not in this workspace (pull or reproduce to inspect them): "
            + ", ".join(f"`{p}`" for p in r.missing_outputs)
        )
    if r.fix:
        lines += ["", f"**To fix**: {r.fix}."]
    return lines


def _rescoring(report: Report) -> list[str]:
    r = report.rescoring
    if r is None:
        return []
    lines = [
        "### Checked by the judge",
        "",
        "The judge is the code that ran this report: in CI, the base's, in a job that runs "
        "nothing of the pull request.",
        "",
    ]
    if r.skipped:
        lines.append(
            "- The model was not re-scored: this report is on a workspace's own results, which "
            "`dvc status` checks above. The judge in CI re-scores it; `--rescore` does it here."
        )
    elif r.refused_model:
        lines.append(f"- ❌ The judge's model loader refuses this branch's model: {r.problem}")
    elif r.problem:
        lines.append(f"- ❌ The branch's model could not be re-scored: {r.problem}")
    else:
        lines.append(
            "- ✅ The branch's model, loaded through the judge's strict loader, was re-scored on "
            "its test split by the judge's code: the metrics above and the gate use that."
        )
        if r.predictions_differ:
            lines.append(
                f"- ❌ `eval/predictions.csv` is not what the model gives: {r.predictions_differ}."
            )
        else:
            lines.append("- ✅ `eval/predictions.csv` is what the model gives.")
        if r.reported_differences:
            lines.append(
                "- ⚠️ The branch's own `eval/metrics.json` says otherwise (its evaluation code "
                "differs from the judge's); reported → recomputed:"
            )
            lines += [f"  - {d}" for d in r.reported_differences]
    if r.trained_on_base_test:
        lines.append(
            f"- ⚠️ The branch trained on {r.trained_on_base_test:,} of the base's "
            f"{r.base_test_rows:,} held-out rows (its split differs): they are left out of "
            "the paired comparison."
        )
    elif r.trained_on_base_test == 0:
        lines.append(
            f"- ✅ The branch trained on none of the base's {r.base_test_rows:,} held-out rows."
        )
    return lines


def _cost_cell(before: Mapping[str, float], now: Mapping[str, float], key: str, unit: str) -> str:
    old = f"{before[key]:,.1f} {unit} → " if key in before else ""
    return f"{old}{now.get(key, 0):,.1f} {unit}"


def _cost(report: Report) -> list[str]:
    base, branch = report.cost.base or {}, report.cost.branch or {}
    if not branch:
        return []
    lines = ["### Cost", "", "| command | wall time | peak memory |", "|---|--:|--:|"]
    for command, now in branch.items():
        before = base.get(command) or {}
        wall = _cost_cell(before, now, "wall_seconds", "s")
        memory = _cost_cell(before, now, "peak_memory_mb", "MB")
        lines.append(f"| {command} | {wall} | {memory} |")
    note = "base → this branch" if base else "this branch; the base committed no eval/timings.json"
    lines += [
        "",
        f"Each stage command's process, as reproduced ({note}). Stages restored from DVC's "
        "run-cache did not run and are not listed.",
    ]
    return lines


def _footer(report: Report) -> list[str]:
    head = f"this branch `{report.branch.sha}`"
    edits = report.branch.uncommitted_changes
    if edits:
        shown = ", ".join(f"`{p}`" for p in edits[:5]) + (", …" if len(edits) > 5 else "")
        head += f" plus uncommitted changes to {shown}"
    parts = [f"Base `{report.base.sha}` ({report.base.rev})", head]
    if report.run_url:
        parts.append(f"[CI run]({report.run_url})")
    return ["---", "", " · ".join(parts) + " · generated by `gitops-ml report`"]


def render(report: Report, base: Side, branch: Side) -> str:
    """The whole report as markdown, verdict first."""
    sections = [
        [verdict_line(report)],
        _metrics(report),
        _slices(report),
        _gate(report),
        _params(report),
        _data(report),
        _charts(report, base, branch),
        _confusion(report),
        _importance(report),
        _reproducibility(report),
        _rescoring(report),
        _cost(report),
        _footer(report),
    ]
    return "\n\n".join("\n".join(s) for s in sections if s) + "\n"
