"""The pull-request report: this workspace against a base revision, with the gate's verdict.

`run` reads both sides (the base from git, never checked out), asks `dvc status` meanwhile,
draws the overlaid curves when asked (PNG, for the CI run's artifact), and writes report.json
and report.md; the judgement itself is `verdict.build`, pure.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from gitops_ml.core.errors import UserError
from gitops_ml.core.params import Params
from gitops_ml.infra import git
from gitops_ml.infra.dvc_lock import LOCK
from gitops_ml.infra.files import write_json, write_text
from gitops_ml.review import (
    markdown,
    reproducibility,
    reproduction,
    rescoring,
    sides,
    verdict,
)
from gitops_ml.review.document import Report
from gitops_ml.review.sides import Files, Side

OVERLAID = ("roc", "prc", "calibration")


def _render_figures(base: Side, branch: Side, out_dir: Path) -> list[str]:
    # matplotlib is imported only here: a report without PNGs does not pay its import.
    from gitops_ml.infra import figures

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


def _remove_figures(out_dir: Path) -> None:
    # PNGs of an earlier report in the same directory would pass for this one's.
    for name in OVERLAID:
        (out_dir / f"{name}.png").unlink(missing_ok=True)


def run(
    out_dir: Path,
    params: Params,
    *,
    base_rev: str | None = None,
    head_rev: str = "HEAD",
    branch_dir: Path | None = None,
    eval_dir: Path = Path("eval"),
    params_path: Path = Path("params.yaml"),
    cwd: Path | None = None,
    rescore: bool = False,
    figures: bool | None = None,
    started_status: subprocess.Popen[str] | None = None,
) -> Report:
    """Compare the branch with `base_rev`; write report.md, report.json and PNGs to out_dir.

    The branch is this workspace, or with `branch_dir` a reproduction packed by
    `pack-reproduction` in CI (read as untrusted data: nothing in it runs). `head_rev` is the
    commit whose committed dvc.lock and eval/ are checked against the branch's, and which the
    report names: in a pull request, its head (the workspace is then GitHub's test merge).
    The branch's model is re-scored by this code when judging a reproduction, or with `rescore`.
    The overlaid curves are drawn as PNG with `figures`, by default when judging or in CI
    (report.md always shows them as Mermaid charts). `started_status` is a `dvc status` the caller
    started early (`reproducibility.start_dvc_status`); else it is started here.
    """
    here = (cwd or Path.cwd()).resolve()
    root = sides.repository_root(here)

    def rel(path: Path) -> str:
        try:
            return (here / path).resolve().relative_to(root).as_posix()
        except ValueError:
            raise UserError(f"{path}: outside the git repository at {root}") from None

    files = Files(params=rel(params_path), eval_dir=rel(eval_dir))
    in_ci = bool(os.environ.get("GITHUB_ACTIONS")) or branch_dir is not None
    source = root if branch_dir is None else branch_dir.resolve()
    if branch_dir is not None and not source.is_dir():
        raise UserError(f"--branch-dir {branch_dir}: not a directory")
    # In the workspace, `dvc status` runs while the rest is read and drawn.
    status_proc = started_status
    if status_proc is None and branch_dir is None:
        status_proc = reproducibility.start_dvc_status(root)
    try:
        rev = base_rev or sides.default_base(root)
        base_sha = sides.commit_sha(rev, root)
        head_sha = sides.commit_sha(head_rev, root)
        base, committed_lock, committed_metrics = sides.read_revisions(
            root, base_sha, head_sha, files
        )
        branch = sides.read_workspace(source, head_sha, files)
        rescored = rescoring.rescore(
            source,
            branch.params,
            branch.metrics or {},
            branch.predictions,
            base.predictions,
            model=rescore or branch_dir is not None,
        )
        draw = in_ci if figures is None else figures
        judged = rescored.judged(branch)
        if draw:
            pngs = _render_figures(base, judged, out_dir)
        else:
            _remove_figures(out_dir)
            pngs = []
        # The paired bootstrap needs no `dvc status`: it runs while that finishes.
        pairs = verdict.compare_predictions(base, judged)
        status, status_error = (
            reproducibility.finish_dvc_status(status_proc)
            if branch_dir is None
            else reproduction.read_status(source)
        )
    finally:
        reproducibility.stop_dvc_status(status_proc)
    repro = reproducibility.assess(
        status, status_error, branch, committed_lock, committed_metrics, in_ci=in_ci
    )
    report = verdict.build(
        base,
        branch,
        base_rev=rev,
        branch_gates=params.gates,
        branch_data=sides.raw_file(root, params.data.raw)
        if branch_dir is None
        else sides.raw_data(branch.params, branch.lock),
        repro=repro,
        rescoring=rescored,
        # dvc.lock and eval/ differ after CI reproduces (a retrained model has a new hash);
        # the reproducibility section judges those, so they are not listed as edits here.
        uncommitted=[]
        if in_ci
        else [
            path
            for path in git.changed_files(root)
            if path != LOCK and not path.startswith(files.eval_dir + "/")
        ],
        url=verdict.run_url(os.environ),
        figures=pngs,
        pairs=pairs,
    )
    write_json(out_dir / "report.json", report.to_dict())
    write_text(out_dir / "report.md", markdown.render(report, base, judged))
    return report
