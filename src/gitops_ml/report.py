"""The pull-request report: this workspace against a base revision, with the gate's verdict.

The base is read from git (`git cat-file`), never checked out. `build()` is pure: it turns both
sides into one JSON-ready mapping, from which `gitops_ml.report_markdown` writes report.md.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gitops_ml import gates as gate_rules
from gitops_ml.errors import ParamsError, UserError
from gitops_ml.params import GatesParams, Params
from gitops_ml.yaml12 import parse_yaml

PLOTS = ("roc", "prc", "calibration", "confusion", "importance")
OVERLAID = ("roc", "prc", "calibration")
LOCK = "dvc.lock"
FIX = "run `dvc repro`, then commit `dvc.lock` and `eval/`"
# dvc status words that mean "this output is not in the workspace", not "the lock is stale".
_ABSENT = frozenset({"deleted", "not in cache"})


@dataclass(frozen=True)
class Side:
    """What one revision holds: metrics, raw params, plot data and dvc.lock (None if absent)."""

    sha: str
    metrics: dict[str, Any] | None
    params: dict[str, Any] | None
    plots: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    lock: dict[str, Any] | None = None


@dataclass(frozen=True)
class RawData:
    """The raw data file of one side as far as it is known: path, md5 and size in bytes."""

    path: str | None
    md5: str | None
    size: int | None


@dataclass(frozen=True)
class Reproducibility:
    """Whether dvc.lock and the committed eval/ match what this workspace reproduces."""

    lock_problems: list[str]
    missing_outputs: list[str]
    metrics_committed: bool
    metric_differences: list[str]

    @property
    def lock_up_to_date(self) -> bool:
        """True when neither dvc status nor the committed dvc.lock shows a changed input."""
        return not self.lock_problems

    @property
    def metrics_match(self) -> bool:
        """True when the committed eval/metrics.json equals the workspace's."""
        return self.metrics_committed and not self.metric_differences

    @property
    def ok(self) -> bool:
        """True when the branch's committed results are what its code reproduces."""
        return self.lock_up_to_date and self.metrics_match


# ---------------------------------------------------------------- pure pieces


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


def params_diff(base: Mapping[str, Any] | None, branch: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Params whose value differs between base and branch, as dotted keys (absent = missing)."""
    old = flatten(base or {})
    new = flatten(branch)
    rows = []
    for key in sorted(old.keys() | new.keys()):
        if key in old and key in new and old[key] == new[key]:
            continue
        kind = "changed" if key in old and key in new else ("added" if key in new else "removed")
        rows.append({"key": key, "base": old.get(key), "branch": new.get(key), "kind": kind})
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
        problems = "; ".join(
            f"gates.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ParamsError(f"{base_label}:params.yaml: invalid gates section: {problems}") from None


def raw_data(params: Mapping[str, Any] | None, lock: Mapping[str, Any] | None) -> RawData:
    """The raw data file a side's params name, with the md5 and size its dvc.lock recorded."""
    path = ((params or {}).get("data") or {}).get("raw")
    if path is None or not lock:
        return RawData(path, None, None)
    for entry in lock.get("stages", {}).get("prepare", {}).get("deps", []):
        if entry.get("path") == path:
            return RawData(path, entry.get("md5"), entry.get("size"))
    return RawData(path, None, None)


def _stage_inputs(lock: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per stage, what it was run from: command, params and deps that no stage produces."""
    stages = lock.get("stages", {}) or {}
    produced = {out.get("path") for s in stages.values() for out in s.get("outs", []) or []}
    inputs = {}
    for name, stage in stages.items():
        deps = {
            d.get("path"): d.get("md5")
            for d in stage.get("deps", []) or []
            if d.get("path") not in produced
        }
        inputs[name] = {
            "cmd": " ".join(str(stage.get("cmd", "")).split()),
            "params": stage.get("params", {}),
            "deps": deps,
        }
    return inputs


def lock_differences(
    committed: Mapping[str, Any] | None, workspace: Mapping[str, Any]
) -> list[str]:
    """Stages whose inputs differ between the committed dvc.lock and the workspace's."""
    if committed is None:
        return [f"{LOCK} is not committed"]
    old, new = _stage_inputs(committed), _stage_inputs(workspace)
    problems = []
    for stage in sorted(old.keys() | new.keys()):
        if stage not in old or stage not in new:
            problems.append(f"stage {stage} is missing from the committed {LOCK}")
            continue
        parts = [part for part in ("cmd", "params", "deps") if old[stage][part] != new[stage][part]]
        for part in parts:
            what = {"cmd": "command", "params": "params", "deps": "code or data"}[part]
            problems.append(f"the committed {LOCK} has other {what} for stage {stage}")
    return problems


def status_problems(
    status: Mapping[str, Any], lock: Mapping[str, Any] | None
) -> tuple[list[str], list[str]]:
    """Split `dvc status --json` into stale inputs/outputs and outputs merely not present."""
    produced = {
        out.get("path")
        for stage in ((lock or {}).get("stages", {}) or {}).values()
        for out in stage.get("outs", []) or []
    }
    stale: list[str] = []
    missing: list[str] = []
    for stage, entries in sorted(status.items()):
        for entry in entries:
            if isinstance(entry, str):
                stale.append(f"stage {stage}: {entry}")
                continue
            for kind, paths in entry.items():
                if not isinstance(paths, Mapping):
                    stale.append(f"stage {stage}: {kind}")
                    continue
                for path, state in paths.items():
                    if isinstance(state, Mapping) or (
                        isinstance(state, str) and state not in _ABSENT
                    ):
                        stale.append(
                            f"stage {stage}: {kind.removeprefix('changed ')} {path} {_word(state)}"
                        )
                    elif kind == "changed outs" or path in produced:
                        missing.append(path)
                    else:
                        stale.append(f"stage {stage}: dependency {path} {state}")
    return stale, sorted(set(missing))


def _word(state: Any) -> str:
    # Params deps report a mapping of param name to state; other deps one state word.
    if isinstance(state, Mapping):
        return "(" + ", ".join(f"{key} {value}" for key, value in state.items()) + ")"
    return str(state)


def metric_differences(committed: Mapping[str, Any], workspace: Mapping[str, Any]) -> list[str]:
    """Keys whose committed value differs from the reproduced one, as 'key: a → b'."""
    return [
        f"{key}: {committed.get(key)} → {workspace.get(key)}"
        for key in sorted(committed.keys() | workspace.keys())
        if committed.get(key) != workspace.get(key)
    ]


def confusion_counts(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Counts per actual label, then per predicted label."""
    counts: dict[str, dict[str, int]] = {}
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


def _verdict(
    has_baseline: bool,
    changes: list[gate_rules.Change],
    checks: list[gate_rules.Check],
    repro: Reproducibility,
    headline: gate_rules.Change | None,
) -> tuple[bool, str, list[str]]:
    failures = [c.detail for c in checks if c.applies and not c.passed]
    if not repro.lock_up_to_date:
        failures.insert(0, f"{LOCK} is out of date with the code, params or data: {FIX}")
    elif not repro.metrics_match:
        failures.insert(
            0, f"the committed eval/metrics.json is not what this code reproduces: {FIX}"
        )
    if failures:
        return False, "; ".join(failures) + ".", failures
    applied = sum(c.applies for c in checks)
    if not has_baseline:
        reason = (
            f"no baseline yet: the base has no eval/metrics.json to compare with; "
            f"{applied} of {len(checks)} gate checks apply and pass."
        )
        return True, reason, []
    better = [c.metric for c in changes if c.direction == 1]
    worse = [c.metric for c in changes if c.direction == -1]
    parts = [f"all {applied} gate checks pass"]
    if headline is not None and headline.delta is not None and headline.noise is not None:
        within = "beyond" if headline.beyond_noise else "within"
        parts.append(
            f"{headline.metric} {headline.base:.4f} → {headline.branch:.4f} "
            f"({headline.delta:+.4f}, {within} noise ±{headline.noise:.4f})"
        )
    if better:
        parts.append(f"{_names(better)} improved beyond noise")
    if worse:
        parts.append(f"{_names(worse)} worsened beyond noise, within the allowed drop")
    if not better and not worse:
        parts.append("no metric changed beyond noise")
    return True, "; ".join(parts) + ".", []


def headline_metric(
    gates: GatesParams, changes: list[gate_rules.Change]
) -> gate_rules.Change | None:
    """The metric a reader looks at first: must_improve, else the first gated one, else roc_auc."""
    by_metric = {c.metric: c for c in changes}
    for name in [gates.must_improve, *gates.floors, *gates.max_drop, *by_metric]:
        if name is not None and name in by_metric:
            return by_metric[name]
    return None


def _names(metrics: Sequence[str]) -> str:
    return metrics[0] if len(metrics) == 1 else ", ".join(metrics[:-1]) + " and " + metrics[-1]


def build(
    base: Side,
    branch: Side,
    *,
    base_rev: str,
    branch_gates: GatesParams,
    branch_data: RawData,
    repro: Reproducibility,
    uncommitted: Sequence[str] = (),
    url: str | None = None,
    figures: Sequence[str] = (),
) -> dict[str, Any]:
    """Everything the report says, as one JSON-ready mapping (report.json)."""
    if branch.metrics is None or branch.params is None:
        raise UserError("the branch has no eval/metrics.json or params.yaml to report on")
    gates, source = select_gates(base.params, branch_gates, base.sha[:7])
    has_baseline = base.metrics is not None
    changes = gate_rules.compare(base.metrics, branch.metrics, gates.noise_z)
    checks = gate_rules.check(gates, changes, branch.metrics)
    headline = headline_metric(gates, changes)
    passed, reason, failures = _verdict(has_baseline, changes, checks, repro, headline)
    diff = params_diff(base.params, branch.params)
    gate_changes = [d for d in diff if d["key"] == "gates" or d["key"].startswith("gates.")]
    base_data = raw_data(base.params, base.lock)
    return {
        "passed": passed,
        "reason": reason,
        "failures": failures,
        "base": {"rev": base_rev, "sha": base.sha, "has_baseline": has_baseline},
        "branch": {"sha": branch.sha, "uncommitted_changes": list(uncommitted)},
        "metrics": [asdict(c) for c in changes],
        "gate": {
            "source": source,
            "thresholds": gates.model_dump(),
            "checks": [asdict(c) for c in checks],
            "passed": all(c.passed for c in checks),
            "changed_in_pr": bool(gate_changes),
            "changes": gate_changes,
        },
        "params_changed": diff,
        "data": {
            "base": asdict(base_data),
            "branch": asdict(branch_data),
            "changed": (base_data.path, base_data.md5) != (branch_data.path, branch_data.md5),
            "n_test": {
                "base": (base.metrics or {}).get("n_test"),
                "branch": branch.metrics.get("n_test"),
            },
            "positive_rate": {
                "base": (base.metrics or {}).get("positive_rate"),
                "branch": branch.metrics.get("positive_rate"),
            },
        },
        "confusion": {
            "base": confusion_counts(base.plots["confusion"])
            if "confusion" in base.plots
            else None,
            "branch": confusion_counts(branch.plots.get("confusion", [])),
            "threshold": {
                "base": ((base.params or {}).get("evaluate") or {}).get("threshold"),
                "branch": (branch.params.get("evaluate") or {}).get("threshold"),
            },
        },
        "importance": {
            "base": base.plots.get("importance"),
            "branch": branch.plots.get("importance", []),
        },
        "reproducibility": {
            "ok": repro.ok,
            "lock_up_to_date": repro.lock_up_to_date,
            "lock_problems": repro.lock_problems,
            "missing_outputs": repro.missing_outputs,
            "metrics_committed": repro.metrics_committed,
            "metrics_match": repro.metrics_match,
            "metric_differences": repro.metric_differences,
            "fix": None if repro.ok else FIX,
        },
        "figures": list(figures),
        "run_url": url,
    }


# ---------------------------------------------------------------- edges: git, dvc, files


def _parse(text: str | None, where: str, kind: str) -> Any:
    if text is None:
        return None
    if kind == "yaml":
        return parse_yaml(text, where)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{where}: not valid JSON: {exc}") from None


def _read_workspace(path: Path, kind: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return _parse(text, str(path), kind)


def _start_dvc_status(root: Path) -> subprocess.Popen[str] | None:
    try:
        return subprocess.Popen(
            ["dvc", "status", "--json"],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "DVC_NO_ANALYTICS": "1"},
        )
    except FileNotFoundError:
        return None


def _finish_dvc_status(proc: subprocess.Popen[str] | None) -> tuple[dict[str, Any] | None, str]:
    if proc is None:
        return None, "dvc is not installed"
    try:
        out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        return None, "`dvc status` did not finish within 5 minutes"
    if proc.returncode != 0:
        return None, f"`dvc status` failed: {err.strip().splitlines()[-1] if err.strip() else ''}"
    try:
        status = json.loads(out or "{}")
    except json.JSONDecodeError:
        return None, "`dvc status --json` printed no JSON"
    return status, ""


def _render_figures(base: Side, branch: Side, out_dir: Path) -> list[str]:
    from gitops_ml import figures

    draw = {"roc": figures.roc, "prc": figures.prc, "calibration": figures.calibration}
    written = []
    for name in OVERLAID:
        series: dict[str, list[dict[str, Any]]] = {}
        if name in base.plots:
            series[f"base {base.sha[:7]}"] = base.plots[name]
        if name in branch.plots:
            series["this branch"] = branch.plots[name]
        if series:
            figures.save(draw[name](series), out_dir / f"{name}.png")
            written.append(f"{name}.png")
    return written


@dataclass(frozen=True)
class _Files:
    """Repository-relative paths of what the report reads, on both sides."""

    params: str
    eval_dir: str

    @property
    def metrics(self) -> str:
        """The metrics file."""
        return f"{self.eval_dir}/metrics.json"

    def plot(self, name: str) -> str:
        """The data file of one plot."""
        return f"{self.eval_dir}/plots/{name}.json"


def _read_revisions(
    root: Path, base_sha: str, head_sha: str, files: _Files
) -> tuple[Side, Any, Any]:
    """The base's Side, and the dvc.lock and metrics committed at HEAD, in one git call."""
    from gitops_ml.revisions import read_files

    specs = [(base_sha, files.params), (base_sha, LOCK), (base_sha, files.metrics)]
    specs += [(base_sha, files.plot(name)) for name in PLOTS]
    specs += [(head_sha, LOCK), (head_sha, files.metrics)]
    texts = read_files(specs, root)
    label = base_sha[:7]
    base_params = _parse(texts[0], f"{label}:{files.params}", "yaml")
    base = Side(
        sha=base_sha,
        params=base_params if isinstance(base_params, dict) else None,
        lock=_parse(texts[1], f"{label}:{LOCK}", "yaml"),
        metrics=_parse(texts[2], f"{label}:{files.metrics}", "json"),
        plots={
            name: _parse(text, f"{label}:{files.plot(name)}", "json")
            for name, text in zip(PLOTS, texts[3 : 3 + len(PLOTS)], strict=True)
            if text is not None
        },
    )
    committed_lock = _parse(texts[-2], f"HEAD:{LOCK}", "yaml")
    committed_metrics = _parse(texts[-1], f"HEAD:{files.metrics}", "json")
    return base, committed_lock, committed_metrics


def _read_workspace_side(root: Path, head_sha: str, files: _Files) -> Side:
    metrics = _read_workspace(root / files.metrics, "json")
    if metrics is None:
        raise UserError(f"{files.metrics}: not found; run `dvc repro` before the report")
    return Side(
        sha=head_sha,
        metrics=metrics,
        params=_read_workspace(root / files.params, "yaml"),
        lock=_read_workspace(root / LOCK, "yaml"),
        plots={
            name: points
            for name in PLOTS
            if (points := _read_workspace(root / files.plot(name), "json")) is not None
        },
    )


def _raw_file(root: Path, raw_path: str) -> RawData:
    from gitops_ml.files import md5

    path = root / raw_path
    if not path.is_file():
        return RawData(raw_path, None, None)
    return RawData(raw_path, md5(path), path.stat().st_size)


def _reproducibility(
    status_proc: subprocess.Popen[str] | None,
    branch: Side,
    committed_lock: Any,
    committed_metrics: Any,
) -> Reproducibility:
    status, status_error = _finish_dvc_status(status_proc)
    stale: list[str] = []
    missing: list[str] = []
    if status is None:
        stale.append(f"cannot tell whether {LOCK} is up to date: {status_error}")
    else:
        stale, missing = status_problems(status, branch.lock)
    if branch.lock is None:
        stale.append(f"there is no {LOCK} in the workspace")
    else:
        stale += lock_differences(committed_lock, branch.lock)
    differences = (
        metric_differences(committed_metrics, branch.metrics or {})
        if committed_metrics is not None
        else []
    )
    return Reproducibility(stale, missing, committed_metrics is not None, differences)


def run(
    out_dir: Path,
    params: Params,
    *,
    base_rev: str | None = None,
    eval_dir: Path = Path("eval"),
    params_path: Path = Path("params.yaml"),
    cwd: Path | None = None,
) -> dict[str, Any]:
    """Compare the workspace with `base_rev`; write report.md, report.json and PNGs to out_dir."""
    from gitops_ml import report_markdown, revisions
    from gitops_ml.files import write_json, write_text

    here = (cwd or Path.cwd()).resolve()
    root = revisions.top_level(here)

    def rel(path: Path) -> str:
        try:
            return (here / path).resolve().relative_to(root).as_posix()
        except ValueError:
            raise UserError(f"{path}: outside the git repository at {root}") from None

    files = _Files(params=rel(params_path), eval_dir=rel(eval_dir))
    status_proc = _start_dvc_status(root)  # runs while the rest is read and drawn
    try:
        rev = base_rev or revisions.default_base(root)
        base_sha = revisions.commit_sha(rev, root)
        head_sha = revisions.commit_sha("HEAD", root)
        base, committed_lock, committed_metrics = _read_revisions(root, base_sha, head_sha, files)
        branch = _read_workspace_side(root, head_sha, files)
        pngs = _render_figures(base, branch, out_dir)
        repro = _reproducibility(status_proc, branch, committed_lock, committed_metrics)
    finally:
        if status_proc is not None and status_proc.poll() is None:
            status_proc.kill()
            status_proc.wait()
    report = build(
        base,
        branch,
        base_rev=rev,
        branch_gates=params.gates,
        branch_data=_raw_file(root, params.data.raw),
        repro=repro,
        # dvc.lock and eval/ differ after CI reproduces (a retrained model has a new hash);
        # the reproducibility section judges those, so they are not listed as edits here.
        uncommitted=[
            path
            for path in revisions.uncommitted(root)
            if path != LOCK and not path.startswith(files.eval_dir + "/")
        ],
        url=run_url(os.environ),
        figures=pngs,
    )
    write_json(out_dir / "report.json", report)
    write_text(out_dir / "report.md", report_markdown.render(report, base, branch))
    return report
