"""`gitops-ml init`: turn a clone of the template into a project on the user's own data.

It asks (or takes flags for) the dataset, target, positive label, names, DVC remote, MLflow
tracking URI and code owners; validates the data exactly as the prepare stage will and shows
what it inferred; then edits params.yaml (comments kept), artifacts.yaml, .dvc/config and
.github/CODEOWNERS, places the data, runs `dvc repro` once so dvc.lock and eval/ describe the
new data, and stages the result for one commit. It refuses to start over uncommitted work and
undoes its changes if a step fails; run again with the same answers, it changes nothing. The
pure parts live in `init_plan`.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from gitops_ml import init_plan as plan
from gitops_ml.errors import UserError

if TYPE_CHECKING:
    from rich.console import Console

    from gitops_ml.data import Table
    from gitops_ml.params import Params

# Local, git-ignored state the example leaves behind: its MLflow runs and registry, and reports
# (model cards, decisions) of its models. Moved aside, never deleted, when the project changes.
STALE_STATE = ("mlflow.db", "mlruns", "mlartifacts", "reports")
BACKUP_DIR = ".init-backup"


class Asker(Protocol):
    """Asks the user; the interactive implementation uses rich prompts, tests script it."""

    def text(self, question: str, default: str) -> str:
        """An answer, or `default` on Enter."""

    def confirm(self, question: str, default: bool) -> bool:
        """Yes or no."""


class RichAsker:
    """Questions on the terminal."""

    def __init__(self, console: Console) -> None:
        """Ask on `console`."""
        self.console = console

    def text(self, question: str, default: str) -> str:
        """An answer, or `default` on Enter."""
        from rich.prompt import Prompt

        return Prompt.ask(question, default=default, console=self.console).strip()

    def confirm(self, question: str, default: bool) -> bool:
        """Yes or no."""
        from rich.prompt import Confirm

        return Confirm.ask(question, default=default, console=self.console)


@dataclass(frozen=True)
class Options:
    """The flags of `gitops-ml init`; None means not given (ask, or keep the current value)."""

    data: str | None = None
    target: str | None = None
    positive_label: str | None = None
    id_column: str | None = None
    name: str | None = None
    model_name: str | None = None
    remote: str | None = None
    s3_endpoint: str | None = None
    tracking_uri: str | None = None
    owners: str | None = None
    remove_example_data: bool | None = None
    track: plan.Track = "auto"
    calibrate_gates: bool = True
    run_pipeline: bool = True


@dataclass(frozen=True)
class RemoteState:
    """The default DVC remote of .dvc/config, if any."""

    name: str
    remote: plan.Remote


@dataclass
class Plan:
    """Everything init will change, decided before anything is written."""

    placement: plan.Placement
    source: Path
    params_text: str
    params_lines: list[str]
    artifacts_text: str
    remote_add: plan.Remote | None = None
    remote_remove: str | None = None
    remove_example: str | None = None
    copy: bool = False
    dvc_add: bool = False
    data_changed: bool = False
    move_aside: list[str] = field(default_factory=list)
    artifacts_changed: bool = False
    codeowners_text: str | None = None

    def describe(self) -> list[str]:
        """The changes, one line each."""
        lines = []
        if self.copy:
            lines.append(f"copy {self.source} → {self.placement.raw}")
        if self.dvc_add:
            lines.append(f"dvc add {self.placement.raw} (versioned by DVC, not git)")
        lines += [f"params.yaml {line}" for line in self.params_lines]
        if self.artifacts_changed:
            lines.append("artifacts.yaml: the model's entry follows its new name and data")
        if self.remote_add is not None:
            endpoint = f" (endpoint {self.remote_add.endpoint})" if self.remote_add.endpoint else ""
            lines.append(
                f".dvc/config: default remote {plan.REMOTE_NAME} = {self.remote_add.url}{endpoint}"
            )
        if self.remote_remove is not None:
            lines.append(f".dvc/config: remove remote {self.remote_remove}")
        if self.codeowners_text is not None:
            owners = " ".join(plan.codeowners_owners(self.codeowners_text))
            lines.append(f"{plan.CODEOWNERS}: review by {owners}")
        if self.remove_example:
            lines.append(f"remove the example data {self.remove_example}")
        if self.move_aside:
            lines.append(f"move aside stale local state: {', '.join(self.move_aside)}")
        return lines

    @property
    def empty(self) -> bool:
        """True when there is nothing to change."""
        return not (
            self.copy
            or self.dvc_add
            or self.params_lines
            or self.remote_add
            or self.remote_remove
            or self.remove_example
            or self.artifacts_changed
            or self.codeowners_text is not None
        )


# ---------------------------------------------------------------- reading the repository


def _git(root: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=False, timeout=120
    )
    if check and done.returncode != 0:
        raise UserError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def _dvc(root: Path, *args: str, quiet: bool = True) -> None:
    from gitops_ml.tracking import FROM_PARAMS_ENV

    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    if env.pop(FROM_PARAMS_ENV, None):
        # Exported from the params.yaml init is rewriting: the stages must read the new one.
        env.pop("MLFLOW_TRACKING_URI", None)
    cmd = [sys.executable, "-m", "dvc", *args]
    done = subprocess.run(
        cmd, cwd=root, env=env, capture_output=quiet, text=True, check=False, timeout=3600
    )
    if done.returncode != 0:
        detail = f": {(done.stderr or done.stdout or '').strip()}" if quiet else " (output above)"
        raise UserError(f"dvc {' '.join(args)} failed{detail}")


def check_repository(root: Path) -> None:
    """The working directory must be the top of a git repository holding the project."""
    top = _git(root, "rev-parse", "--show-toplevel", check=False).strip()
    if not top:
        raise UserError(f"{root}: not a git repository; run init in a clone of the template")
    if Path(top).resolve() != root.resolve():
        raise UserError(f"{root}: run init from the repository's top directory {top}")
    for name in ("params.yaml", "dvc.yaml", "artifacts.yaml"):
        if not (root / name).is_file():
            raise UserError(f"{root / name}: not found; run init in a clone of the template")


def uncommitted(root: Path, allowed: str | None) -> list[str]:
    """Paths with uncommitted changes (untracked included), except the new dataset itself.

    The dataset is excused only while untracked: a modified tracked file is the user's work,
    which an undo (a checkout of the last commit) would lose.
    """
    out = _git(root, "status", "--porcelain", "--untracked-files=all")
    paths = []
    for line in out.splitlines():
        path = line[3:].split(" -> ")[-1].strip('"')
        if line and not (line.startswith("??") and path == allowed):
            paths.append(path)
    return paths


def current_remote(root: Path) -> RemoteState | None:
    """The default remote of the project's .dvc/config (not config.local)."""
    from dvc.config import Config

    conf = Config(dvc_dir=str(root / ".dvc"), validate=False).load_one("repo")
    name = conf.get("core", {}).get("remote")
    entry = conf.get("remote", {}).get(name) if name else None
    if not entry or "url" not in entry:
        return None
    url = str(entry["url"])
    if "://" not in url and not Path(url).is_absolute():
        url = str((root / ".dvc" / url).resolve())
    return RemoteState(str(name), plan.Remote(url=url, endpoint=entry.get("endpointurl")))


def _git_tracked(root: Path, rel: str) -> bool:
    return bool(_git(root, "ls-files", "--", rel).strip())


# ---------------------------------------------------------------- the answers


@dataclass
class _Ask:
    """Answers come from flags, else the user (when interactive), else the default."""

    asker: Asker | None

    def text(self, given: str | None, question: str, default: str | None) -> str | None:
        if given is not None:
            return given
        if self.asker is not None:
            return self.asker.text(question, default if default is not None else "none")
        return default

    def confirm(self, given: bool | None, question: str, default: bool) -> bool:
        if given is not None:
            return given
        if self.asker is not None:
            return self.asker.confirm(question, default)
        return default


@dataclass(frozen=True)
class Decided:
    """The answers, checked against the data and each other."""

    source: Path
    summary: plan.DataSummary
    data_section: dict[str, Any]
    dropped: list[str]
    name: str
    model_name: str
    remote: plan.Remote | None
    tracking_uri: str | None
    owners: list[str] | None
    remove_example: bool


def _resolve(text: str, cwd: Path) -> Path:
    path = Path(text).expanduser()
    return (path if path.is_absolute() else cwd / path).resolve()


def _target(ask: _Ask, options: Options, table: Table, now: str) -> tuple[str, dict[str, int]]:
    columns = [str(c) for c in table.frame.columns]
    default = now if now in columns else plan.guess_target(table.frame)
    if options.target is None and ask.asker is None and default != now:
        raise UserError(
            f"{table.path}: the current target {now!r} (data.target) is not a column of this "
            f"file; pass --target (two-valued columns: {plan.binary_columns(table.frame)})"
        )
    target = ask.text(options.target, "Target column", default) or ""
    return target, plan.check_target(table, target)


def _positive(
    ask: _Ask, options: Options, table: Table, target: str, counts: dict[str, int], now: str
) -> str:
    default = now if now in counts else plan.guess_positive(counts)
    if options.positive_label is None and ask.asker is None and default != now:
        raise UserError(
            f"{table.path}: column {target!r}: the current positive label {now!r} "
            f"(data.positive_label) does not occur; pass --positive-label, one of {list(counts)}"
        )
    positive = ask.text(options.positive_label, f"Positive label, one of {list(counts)}", default)
    plan.check_positive(table, target, counts, str(positive))
    return str(positive)


def _id_column(
    ask: _Ask, options: Options, table: Table, target: str, now: str | None
) -> str | None:
    columns = [str(c) for c in table.frame.columns]
    default = now if now in columns else plan.guess_id_column(table.frame, target)
    answer = ask.text(options.id_column, "Id column, never a feature ('none': no id)", default)
    if answer is None or answer.strip().lower() in ("", "none"):
        return None
    if answer not in columns or answer == target:
        raise UserError(
            f"{table.path}: no column {answer!r} usable as the id; its columns are {columns}"
        )
    return answer


def _data_section(
    current: Params, raw: str, target: str, positive: str, id_column: str | None, columns: list[str]
) -> tuple[dict[str, Any], list[str]]:
    """The new data section, dropping pinned feature lists that do not fit the new columns."""
    section = current.data.model_dump(mode="json")
    section.update(raw=raw, target=target, positive_label=positive, id_column=id_column)
    dropped = []
    for key in ("numeric_features", "categorical_features"):
        pinned = section.get(key)
        if pinned is not None and (set(pinned) - set(columns) or {target, id_column} & set(pinned)):
            section[key] = None
            dropped.append(key)
    return section, dropped


def _check_tracking(uri: str | None) -> None:
    """Refuse an http(s) tracking server that nothing answers at, before anything is written."""
    if uri is None:
        return
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https"):
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=5):
            pass
    except OSError as exc:
        raise UserError(
            f"--tracking-uri {uri}: nothing answers at {parts.hostname}:{port} ({exc}); start "
            "the server first, or leave tracking.uri unset and set it later"
        ) from None


def decide(
    root: Path, cwd: Path, options: Options, current: Params, ask: _Ask, console: Console
) -> Decided:
    """Collect and check every answer; reads the data but writes nothing."""
    from gitops_ml import data

    given = ask.text(options.data, "Dataset (CSV or Parquet)", current.data.raw)
    source = _resolve(given or current.data.raw, cwd)
    if source.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise UserError(f"{source}: expected a .csv or .parquet file")
    dirty = uncommitted(root, _relative(source, root))
    if dirty:
        shown = ", ".join(dirty[:8]) + (f" and {len(dirty) - 8} more" if len(dirty) > 8 else "")
        raise UserError(
            f"{root}: uncommitted changes ({shown}); commit or stash them first: init rewrites "
            "params.yaml, dvc.lock and eval/ and must not mix its changes with yours"
        )
    table = data.read_table(source)
    target, counts = _target(ask, options, table, current.data.target)
    positive = _positive(ask, options, table, target, counts, str(current.data.positive_label))
    id_column = _id_column(ask, options, table, target, current.data.id_column)
    columns = [str(c) for c in table.frame.columns]
    placement = plan.place_data(source, root, source.stat().st_size, options.track, False)
    section, dropped = _data_section(current, placement.raw, target, positive, id_column, columns)
    from gitops_ml.params import DataParams

    summary = plan.summarize(table, DataParams.model_validate(section), current.seed)
    show_summary(console, summary)

    name = ask.text(options.name, "Project name (the MLflow experiment)", current.mlflow.experiment)
    new_data = (placement.raw, target, positive) != (
        current.data.raw,
        current.data.target,
        str(current.data.positive_label),
    )
    # The example's model name would mislabel a model of other data: derive one from the name.
    model_default = plan.model_name_for(str(name)) if new_data else current.registry.model_name
    model_name = ask.text(options.model_name, "Registered model name", model_default)
    now = current_remote(root)
    remote_text = ask.text(
        options.remote,
        "DVC remote: none, a local path, s3://…, gs://… or azure://…",
        now.remote.url if now else "none",
    )
    endpoint_default = now.remote.endpoint if now else None
    endpoint = options.s3_endpoint
    if endpoint is None and (remote_text or "").startswith("s3://"):
        answer = ask.text(
            None, "S3 endpoint for an S3-compatible store ('none': AWS)", endpoint_default
        )
        endpoint = None if (answer or "none").lower() == "none" else answer
    remote = (
        plan.parse_remote(remote_text, endpoint, root, cwd)
        if remote_text is not None
        else (now.remote if now else None)
    )
    tracking_default = current.tracking.uri or "none"
    uri = plan.parse_tracking_uri(
        ask.text(
            options.tracking_uri, "MLflow tracking URI ('none': mlflow.db here)", tracking_default
        )
    )
    _check_tracking(uri)
    owners = _owners(root, options, ask)
    example = root / current.data.raw
    remove = False
    if placement.raw != current.data.raw and (example.is_file() or Path(f"{example}.dvc").exists()):
        remove = ask.confirm(
            options.remove_example_data, f"Remove the example data {current.data.raw}?", False
        )
    return Decided(
        source=source,
        summary=summary,
        data_section=section,
        dropped=dropped,
        name=str(name),
        model_name=str(model_name),
        remote=remote,
        tracking_uri=uri,
        owners=owners,
        remove_example=remove,
    )


def _owners(root: Path, options: Options, ask: _Ask) -> list[str] | None:
    """The code owners to name in CODEOWNERS; None when the project has no such file."""
    path = root / plan.CODEOWNERS
    if not path.is_file():
        if options.owners is not None:
            raise UserError(
                f"--owners: {plan.CODEOWNERS} not found; init names the owners in the "
                "template's file (restore it from the template, or write your own)"
            )
        return None
    now = plan.codeowners_owners(path.read_text(encoding="utf-8"))
    answer = ask.text(
        options.owners,
        "Code owners who review params, pipeline and CI (GitHub @user or @org/team)",
        " ".join(now),
    )
    return plan.parse_owners(answer) if answer else now


def _relative(path: Path, root: Path) -> str | None:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return None


# ---------------------------------------------------------------- planning


def _same_file(a: Path, b: Path) -> bool:
    from gitops_ml.files import md5

    return b.is_file() and a.stat().st_size == b.stat().st_size and md5(a) == md5(b)


def make_plan(root: Path, current: Params, decided: Decided, track: plan.Track) -> Plan:
    """Everything init will change, from the checked answers and the repository's state."""
    source = decided.source
    section = decided.data_section
    raw_now = current.data.raw
    placement = plan.place_data(
        source, root, source.stat().st_size, track, (root / f"{section['raw']}.dvc").is_file()
    )
    copy = placement.copy_from is not None and not _same_file(source, root / placement.raw)
    dvc_tracked = (root / f"{placement.raw}.dvc").is_file()
    data_changed = (
        placement.raw != raw_now
        or copy
        or section["target"] != current.data.target
        or str(section["positive_label"]) != str(current.data.positive_label)
    )
    edits = plan.Edits(plan.load_doc((root / "params.yaml").read_text(encoding="utf-8")))
    for key in ("raw", "target", "positive_label", "id_column"):
        edits.set(f"data.{key}", section[key])
    for key in decided.dropped:
        edits.drop(f"data.{key}")
    edits.set("mlflow.experiment", decided.name)
    edits.set("registry.model_name", decided.model_name)
    edits.set("tracking.uri", decided.tracking_uri)
    if data_changed:
        # What the example says about its own use and limits must not reach the new model card.
        edits.set("registry.intended_use", "")
        edits.set("registry.limitations", [])
    params_text = plan.dump_doc(edits.doc)
    plan.validate_params_text(params_text, "params.yaml (as init would write it)")
    artifacts = (root / "artifacts.yaml").read_text(encoding="utf-8")
    description = (
        f"Binary classifier of `{section['target']}` (positive label "
        f"`{section['positive_label']}`): a scikit-learn Pipeline saved with skops, "
        "built by dvc.yaml's train stage."
        if data_changed
        else None
    )
    new_artifacts = plan.artifacts_text(
        artifacts, current.registry.model_name, decided.model_name, description
    )
    result = Plan(
        placement=placement,
        source=source,
        params_text=params_text,
        params_lines=edits.lines,
        artifacts_text=new_artifacts,
        artifacts_changed=new_artifacts != artifacts,
        copy=copy,
        dvc_add=placement.dvc and (copy or not dvc_tracked),
        data_changed=data_changed,
    )
    now = current_remote(root)
    want = decided.remote
    if want is not None and (now is None or now.name != plan.REMOTE_NAME or now.remote != want):
        result.remote_add = want
    elif want is None and now is not None:
        result.remote_remove = now.name
    codeowners = root / plan.CODEOWNERS
    if decided.owners is not None:
        text = codeowners.read_text(encoding="utf-8")
        if plan.codeowners_owners(text) != decided.owners:
            result.codeowners_text = plan.codeowners_with(text, decided.owners)
    old = root / raw_now
    if decided.remove_example and (old.is_file() or Path(f"{old}.dvc").is_file()):
        result.remove_example = raw_now
    if data_changed or decided.model_name != current.registry.model_name:
        result.move_aside = [n for n in STALE_STATE if (root / n).exists()]
    return result


# ---------------------------------------------------------------- applying, and undoing


@dataclass
class Journal:
    """What init moved aside, so a failure can put it back."""

    root: Path
    allowed: str | None
    moved: list[tuple[Path, Path]] = field(default_factory=list)

    def undo(self) -> None:
        """Return the repository to its last commit and the moved state to its place."""
        root = self.root
        _git(root, "reset", "-q", check=False)
        _git(root, "checkout", "-q", "HEAD", "--", ".", check=False)
        for rel in uncommitted(root, self.allowed):
            target = root / rel
            if target.is_file() or target.is_symlink():
                target.unlink()
        for original, moved in reversed(self.moved):
            if original.is_dir():
                shutil.rmtree(original)
            elif original.exists():
                original.unlink()
            moved.replace(original)


def apply(root: Path, the_plan: Plan, journal: Journal, console: Console) -> None:
    """Write the plan's changes (no pipeline run)."""
    from gitops_ml.files import write_atomic, write_text

    if the_plan.move_aside:
        backup = root / BACKUP_DIR / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        backup.mkdir(parents=True, exist_ok=True)
        for name in the_plan.move_aside:
            moved = backup / name
            (root / name).replace(moved)
            journal.moved.append((root / name, moved))
        console.print(f"moved {', '.join(the_plan.move_aside)} to {backup.relative_to(root)}/")
    raw = the_plan.placement.raw
    if the_plan.copy:
        source = the_plan.source

        def copy(tmp: Path) -> None:
            shutil.copyfile(source, tmp)

        write_atomic(root / raw, copy)
    if the_plan.dvc_add:
        if _git_tracked(root, raw):
            _git(root, "rm", "-q", "--cached", "--", raw)
        _dvc(root, "add", "-q", raw)
    write_text(root / "params.yaml", the_plan.params_text)
    write_text(root / "artifacts.yaml", the_plan.artifacts_text)
    if the_plan.codeowners_text is not None:
        write_text(root / plan.CODEOWNERS, the_plan.codeowners_text)
    if the_plan.remote_add is not None:
        remote = the_plan.remote_add
        _dvc(root, "remote", "add", "--project", "-d", "-f", plan.REMOTE_NAME, remote.url)
        if remote.endpoint:
            _dvc(
                root,
                "remote",
                "modify",
                "--project",
                plan.REMOTE_NAME,
                "endpointurl",
                remote.endpoint,
            )
    if the_plan.remote_remove is not None:
        _dvc(root, "remote", "remove", "--project", the_plan.remote_remove)
    if the_plan.remove_example:
        old = the_plan.remove_example
        if (root / f"{old}.dvc").is_file():
            _dvc(root, "remove", "-q", "--outs", f"{old}.dvc")
        elif _git_tracked(root, old):
            _git(root, "rm", "-q", "--", old)
        else:
            (root / old).unlink(missing_ok=True)


def calibrate_gates(root: Path, console: Console) -> list[str]:
    """Set gates.floors from the first run's metrics; the changed lines."""
    import json

    from gitops_ml.files import write_text

    params = plan.validate_params_text(
        (root / "params.yaml").read_text(encoding="utf-8"), "params.yaml"
    )
    metrics = json.loads((root / "eval" / "metrics.json").read_text(encoding="utf-8"))
    floors = plan.calibrated_floors(params.gates.floors, params.gates.max_drop, metrics)
    edits = plan.Edits(plan.load_doc((root / "params.yaml").read_text(encoding="utf-8")))
    for name, value in floors.items():
        edits.set(f"gates.floors.{name}", value)
    if edits.lines:
        text = plan.dump_doc(edits.doc)
        plan.validate_params_text(text, "params.yaml")
        write_text(root / "params.yaml", text)
    return edits.lines


# ---------------------------------------------------------------- output


def show_summary(console: Console, summary: plan.DataSummary) -> None:
    """The inferred feature kinds and the class balance."""
    from rich.table import Table as RichTable

    schema = summary.schema
    console.print(f"[bold]{summary.path}[/bold]: {summary.rows} rows, validated as prepare will")
    kinds = RichTable("kind", "columns", title="Features (inferred)", title_justify="left")
    kinds.add_row(f"numeric ({len(schema.numeric)})", ", ".join(schema.numeric) or "-")
    kinds.add_row(f"categorical ({len(schema.categorical)})", ", ".join(schema.categorical) or "-")
    kinds.add_row("id (not a feature)", schema.id_column or "-")
    console.print(kinds)
    total = sum(summary.counts.values())
    balance = RichTable(
        f"{schema.target}", "rows", "share", title="Class balance", title_justify="left"
    )
    for label, count in summary.counts.items():
        role = "positive" if label == schema.positive_label else "negative"
        balance.add_row(f"{label} ({role})", str(count), f"{count / total:.1%}")
    console.print(balance)


def _old_tags(root: Path, name: str) -> list[str]:
    """GTO tags (registrations, assignments) of a model name: the example's promotions."""
    return _git(root, "tag", "--list", f"{name}@*", f"{name}#*", check=False).split()


def _next_steps(
    console: Console, root: Path, the_plan: Plan, decided: Decided, old_name: str
) -> None:
    tags = _old_tags(root, old_name) if the_plan.data_changed else []
    if tags:
        console.print(
            f"[yellow]{len(tags)} git tag(s) record promotions of the example's {old_name!r} "
            f"(e.g. {tags[0]}); GTO reads them as that model's history. Delete them with "
            f"`git tag -d {' '.join(tags[:3])}{' ...' if len(tags) > 3 else ''}`.[/yellow]"
        )
    console.print("\n[bold]Next[/bold]")
    console.print("  git diff --cached        # review what init changed (all of it is staged)")
    console.print(f"  git commit -m 'Start {decided.name} on {the_plan.placement.raw}'")
    if decided.remote is not None:
        console.print(
            "  dvc push                 # fill the remote; its credentials go in .dvc/config.local"
            f" (dvc remote modify --local {plan.REMOTE_NAME} <option> <value>), never in git"
        )
        plugin = {"s3": "dvc_s3", "gs": "dvc_gs", "azure": "dvc_azure"}.get(decided.remote.scheme)
        if plugin and importlib.util.find_spec(plugin) is None:
            console.print(
                f"  [yellow]dvc push to {decided.remote.scheme}:// needs the "
                f"{plugin.replace('_', '-')} package: add it to pyproject.toml and "
                "run `make lock`[/yellow]"
            )
    elif the_plan.placement.dvc:
        console.print(
            f"  [yellow]{the_plan.placement.raw} is versioned by DVC but no remote is set: CI "
            "cannot fetch it until you add one (init --remote ...) and `dvc push`[/yellow]"
        )
    if decided.owners is not None and plan.PLACEHOLDER_OWNER in decided.owners:
        console.print(
            f"  [yellow]{plan.CODEOWNERS} still names the placeholder {plan.PLACEHOLDER_OWNER}, "
            "so GitHub requires no review: init --owners @your-org/your-team[/yellow]"
        )
    if decided.tracking_uri:
        console.print(
            "  credentials of the tracking server: MLFLOW_TRACKING_USERNAME/PASSWORD (or "
            "MLFLOW_TRACKING_TOKEN) in your shell and as CI secrets, never in params.yaml"
        )


# ---------------------------------------------------------------- the command


def run(
    root: Path,
    options: Options,
    console: Console,
    asker: Asker | None = None,
    assume_yes: bool = False,
) -> Plan | None:
    """Run init in `root`; return the plan applied, or None when there was nothing to change."""
    from gitops_ml.params import load_params

    check_repository(root)
    current = load_params(root / "params.yaml")
    ask = _Ask(asker)
    decided = decide(root, Path.cwd(), options, current, ask, console)
    the_plan = make_plan(root, current, decided, options.track)
    if the_plan.empty:
        console.print("Nothing to change: the project already uses these answers.")
        return None
    console.print("\n[bold]init will[/bold]")
    for line in the_plan.describe():
        console.print(f"  • {line}")
    if asker is not None and not assume_yes and not asker.confirm("Apply these changes?", True):
        console.print("Nothing changed.")
        return None
    journal = Journal(root, _relative(decided.source, root))
    try:
        apply(root, the_plan, journal, console)
        if options.run_pipeline:
            console.print("\n[bold]dvc repro[/bold] (the pipeline on the new data)")
            _dvc(root, "repro", quiet=False)
            if the_plan.data_changed and options.calibrate_gates:
                for line in calibrate_gates(root, console):
                    console.print(f"  • params.yaml {line} (from this first run)")
        _git(root, "add", "-A")
    except BaseException:
        console.print("[red]init failed: undoing its changes[/red]")
        journal.undo()
        raise
    _next_steps(console, root, the_plan, decided, current.registry.model_name)
    return the_plan
