"""init's questions: each answer comes from a flag, else the user (when interactive), else the
current value; every answer is checked against the data and the others before anything is
written.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from rich.prompt import Confirm, Prompt
from rich.table import Table as RichTable

from gitops_ml.core.errors import UserError
from gitops_ml.core.formats import require_table, table_kind
from gitops_ml.core.labels import find_label
from gitops_ml.core.params import DataParams, Params
from gitops_ml.core.table import Table
from gitops_ml.infra.tables import read_table
from gitops_ml.template import dataset_checks, settings
from gitops_ml.template.dataset_checks import DataSummary
from gitops_ml.template.settings import Remote, Track
from gitops_ml.template.workspace import current_remote, relative, uncommitted

if TYPE_CHECKING:
    from rich.console import Console


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
        return Prompt.ask(question, default=default, console=self.console).strip()

    def confirm(self, question: str, default: bool) -> bool:
        """Yes or no."""
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
    track: Track = "auto"
    calibrate_gates: bool = True
    run_pipeline: bool = True


@dataclass
class Ask:
    """Answers come from flags, else the user (when interactive), else the default."""

    asker: Asker | None

    def text(self, given: str | None, question: str, default: str | None) -> str | None:
        """The flag's value, else the user's answer, else `default`."""
        if given is not None:
            return given
        if self.asker is not None:
            return self.asker.text(question, default if default is not None else "none")
        return default

    def confirm(self, given: bool | None, question: str, default: bool) -> bool:
        """The flag's value, else the user's answer, else `default`."""
        if given is not None:
            return given
        if self.asker is not None:
            return self.asker.confirm(question, default)
        return default


@dataclass(frozen=True)
class Answers:
    """The answers, checked against the data and each other."""

    source: Path
    summary: DataSummary
    data_section: dict[str, Any]
    dropped: list[str]
    name: str
    model_name: str
    remote: Remote | None
    tracking_uri: str | None
    owners: list[str] | None
    remove_example: bool
    slices: list[str] | None = None  # evaluate.slices; None: unchanged


def _resolve(text: str, cwd: Path) -> Path:
    path = Path(text).expanduser()
    return (path if path.is_absolute() else cwd / path).resolve()


def _target(ask: Ask, options: Options, table: Table, now: str) -> tuple[str, dict[str, int]]:
    columns = [str(c) for c in table.frame.columns]
    default = now if now in columns else dataset_checks.guess_target(table.frame)
    if options.target is None and ask.asker is None and default != now:
        binary = dataset_checks.binary_columns(table.frame)
        raise UserError(
            f"{table.path}: the current target {now!r} (data.target) is not a column of this "
            f"file; pass --target (two-valued columns: {binary})"
        )
    target = ask.text(options.target, "Target column", default) or ""
    return target, dataset_checks.check_target(table, target)


def _positive(
    ask: Ask, options: Options, table: Table, target: str, counts: dict[str, int], now: str
) -> str:
    kept = find_label(now, list(counts))
    default = kept if kept is not None else dataset_checks.guess_positive(counts)
    if options.positive_label is None and ask.asker is None and kept is None:
        raise UserError(
            f"{table.path}: column {target!r}: the current positive label {now!r} "
            f"(data.positive_label) does not occur; pass --positive-label, one of {list(counts)}"
        )
    positive = ask.text(options.positive_label, f"Positive label, one of {list(counts)}", default)
    # Written as the file spells it: `--positive-label true` on a Parquet boolean gives `True`.
    return dataset_checks.check_positive(table, target, counts, str(positive))


def _id_column(
    ask: Ask, options: Options, table: Table, target: str, now: str | None
) -> str | None:
    columns = [str(c) for c in table.frame.columns]
    default = now if now in columns else dataset_checks.guess_id_column(table.frame, target)
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


def _drop_columns(
    ask: Ask, current: list[str], unusable: dict[str, str], columns: list[str]
) -> list[str]:
    """data.drop_columns: the current ones still in the file, plus the columns prepare would
    refuse (dates, free text) once the user agrees (by default, and with --yes)."""
    kept = [c for c in current if c in columns]
    proposed = [c for c in unusable if c not in kept]
    if not proposed:
        return kept
    listed = ", ".join(f"{name} ({unusable[name]})" for name in proposed)
    question = f"Leave out {listed}, which the model cannot use as features (data.drop_columns)?"
    return kept + proposed if ask.confirm(None, question, True) else kept


def _slices(ask: Ask, current: list[str], summary: DataSummary, new_data: bool) -> list[str]:
    """evaluate.slices: the current ones that are still categorical features; for new data, plus
    the columns worth judging apart once the user agrees (by default, and with --yes)."""
    kept = [c for c in current if c in summary.schema.categorical]
    proposed = [c for c in summary.slice_candidates if c not in kept] if new_data else []
    if not proposed:
        return kept
    question = (
        f"Score the model apart on each value of {', '.join(proposed)} (evaluate.slices: the "
        "pull-request report compares each slice)?"
    )
    return kept + proposed if ask.confirm(None, question, True) else kept


def check_tracking(uri: str | None) -> None:
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


def _dataset(
    root: Path, cwd: Path, options: Options, current: Params, ask: Ask
) -> tuple[Path, dict[str, Any], list[str], DataSummary]:
    """The dataset, target, positive label and id column, checked as prepare will check them."""
    given = ask.text(options.data, "Dataset (CSV or Parquet)", current.data.raw)
    source = _resolve(given or current.data.raw, cwd)
    require_table(source, "--data")
    dirty = uncommitted(root, relative(source, root))
    if dirty:
        shown = ", ".join(dirty[:8]) + (f" and {len(dirty) - 8} more" if len(dirty) > 8 else "")
        raise UserError(
            f"{root}: uncommitted changes ({shown}); commit or stash them first: init rewrites "
            "params.yaml, dvc.lock and eval/ and must not mix its changes with yours"
        )
    table = read_table(source)
    target, counts = _target(ask, options, table, current.data.target)
    if table_kind(source) == "csv" and target in table.frame.columns:
        # Read again as prepare will: the target's labels as the file writes them (`true`,
        # not the boolean pandas would make of it).
        table = read_table(source, text=[target])
        counts = dataset_checks.check_target(table, target)
    positive = _positive(ask, options, table, target, counts, str(current.data.positive_label))
    id_column = _id_column(ask, options, table, target, current.data.id_column)
    columns = [str(c) for c in table.frame.columns]
    placement = settings.place_data(source, root, source.stat().st_size, options.track, False)
    section, dropped = _data_section(current, placement.raw, target, positive, id_column, columns)
    unusable = dataset_checks.unusable_columns(table.frame, target, id_column)
    section["drop_columns"] = _drop_columns(ask, section["drop_columns"], unusable, columns)
    summary = dataset_checks.summarize(table, DataParams.model_validate(section), current.seed)
    return source, section, dropped, summary


def _remote(root: Path, cwd: Path, options: Options, ask: Ask) -> Remote | None:
    """The DVC remote: the answer, checked, else the one configured now."""
    now = current_remote(root)
    remote_text = ask.text(
        options.remote,
        "DVC remote: none, a local path, s3://…, gs://… or azure://…",
        now.remote.url if now else "none",
    )
    endpoint = options.s3_endpoint
    if endpoint is None and (remote_text or "").startswith("s3://"):
        answer = ask.text(
            None,
            "S3 endpoint for an S3-compatible store ('none': AWS)",
            now.remote.endpoint if now else None,
        )
        endpoint = None if (answer or "none").lower() == "none" else answer
    if remote_text is None:
        return now.remote if now else None
    return settings.parse_remote(remote_text, endpoint, root, cwd)


def collect_answers(
    root: Path, cwd: Path, options: Options, current: Params, ask: Ask, console: Console
) -> Answers:
    """Collect and check every answer; reads the data but writes nothing."""
    source, section, dropped, summary = _dataset(root, cwd, options, current, ask)
    show_summary(console, summary)
    name = ask.text(options.name, "Project name (the MLflow experiment)", current.mlflow.experiment)
    new_data = (section["raw"], section["target"], section["positive_label"]) != (
        current.data.raw,
        current.data.target,
        str(current.data.positive_label),
    )
    # The example's model name would mislabel a model of other data: derive one from the name.
    model_default = (
        dataset_checks.model_name_for(str(name)) if new_data else current.registry.model_name
    )
    model_name = ask.text(options.model_name, "Registered model name", model_default)
    slices = _slices(ask, current.evaluate.slices, summary, new_data)
    remote = _remote(root, cwd, options, ask)
    uri = settings.parse_tracking_uri(
        ask.text(
            options.tracking_uri,
            "MLflow tracking URI ('none': mlflow.db here)",
            current.tracking.uri or "none",
        )
    )
    check_tracking(uri)
    owners = _owners(root, options, ask)
    example = root / current.data.raw
    remove = False
    if section["raw"] != current.data.raw and (
        example.is_file() or Path(f"{example}.dvc").exists()
    ):
        remove = ask.confirm(
            options.remove_example_data, f"Remove the example data {current.data.raw}?", False
        )
    return Answers(
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
        slices=slices,
    )


def show_summary(console: Console, summary: DataSummary) -> None:
    """The inferred feature kinds and the class balance."""
    schema = summary.schema
    console.print(f"[bold]{summary.path}[/bold]: {summary.rows} rows, validated as prepare will")
    kinds = RichTable("kind", "columns", title="Features (inferred)", title_justify="left")
    kinds.add_row(f"numeric ({len(schema.numeric)})", ", ".join(schema.numeric) or "-")
    kinds.add_row(f"categorical ({len(schema.categorical)})", ", ".join(schema.categorical) or "-")
    kinds.add_row("id (not a feature)", schema.id_column or "-")
    console.print(kinds)
    if summary.dropped:
        console.print(f"Left out (data.drop_columns): {', '.join(summary.dropped)}")
    total = sum(summary.counts.values())
    balance = RichTable(
        f"{schema.target}", "rows", "share", title="Class balance", title_justify="left"
    )
    for label, count in summary.counts.items():
        role = "positive" if label == schema.positive_label else "negative"
        balance.add_row(f"{label} ({role})", str(count), f"{count / total:.1%}")
    console.print(balance)


def _owners(root: Path, options: Options, ask: Ask) -> list[str] | None:
    """The code owners to name in CODEOWNERS; None when the project has no such file."""
    path = root / settings.CODEOWNERS
    if not path.is_file():
        if options.owners is not None:
            raise UserError(
                f"--owners: {settings.CODEOWNERS} not found; init names the owners in the "
                "template's file (restore it from the template, or write your own)"
            )
        return None
    now = settings.codeowners_owners(path.read_text(encoding="utf-8"))
    answer = ask.text(
        options.owners,
        "Code owners who review params, pipeline and CI (GitHub @user or @org/team)",
        " ".join(now),
    )
    return settings.parse_owners(answer) if answer else now
