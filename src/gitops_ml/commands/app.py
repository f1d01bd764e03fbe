"""The `gitops-ml` Typer app and what its commands share: options and loading params."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    # Typer carries its own copy of click; its group methods take that copy's types.
    from typer._click import Context, HelpFormatter

    from gitops_ml.core.params import Params


class _Commands(TyperGroup):
    """`gitops-ml --help` lists each command's whole first sentence, wrapped, never cut."""

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        """The commands and their first sentences, wrapped to the terminal's width."""
        rows = [
            (name, command.get_short_help_str(limit=1000))
            for name in self.list_commands(ctx)
            if (command := self.get_command(ctx, name)) is not None and not command.hidden
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


app = typer.Typer(
    name="gitops-ml",
    cls=_Commands,
    help="Reproducible ML pipeline, pull-request reports and promotion, driven by params.yaml.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help that wraps to the terminal: rich's boxed tables cut long option names
    # (`--remove-example-da…`) when the width is 80 columns or less.
    rich_markup_mode=None,
)

ParamsOption = Annotated[
    Path, typer.Option("--params", help="The params file.", dir_okay=False, show_default=True)
]


def read_params(path: Path) -> Params:
    """The params file, validated; ParamsError naming what is wrong."""
    from gitops_ml.core.params import load_params

    return load_params(path)


ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="A .skops file or MLflow model URI (default: models:/<registry.model_name>@champion).",
    ),
]
SchemaOption = Annotated[
    Path,
    typer.Option(help="schema.json written by `prepare` (read for a local .skops model only)."),
]


def model_uri(model: str | None, settings: Params) -> str:
    """The model to score with: the one given, else the registered champion."""
    return model or f"models:/{settings.registry.model_name}@champion"
