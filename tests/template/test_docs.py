"""The docs: generated references match the code, and every relative link resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gitops_ml.cli import app
from gitops_ml.template import reference_docs

from ..conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("name", ["cli.md", "params.md"])
def test_reference_page_is_up_to_date(name: str) -> None:
    """docs/<page> is exactly what `make docs` generates from the code now."""
    committed = (ROOT / "docs" / name).read_text(encoding="utf-8")
    assert committed == reference_docs.pages(app)[name], f"docs/{name} is stale: run `make docs`"


def test_check_reports_a_stale_page(tmp_path: Path) -> None:
    """`gitops-ml docs --check` exits 1 naming each page that is out of date."""
    runner = CliRunner()
    assert runner.invoke(app, ["docs", "--out", str(tmp_path)]).exit_code == 0
    assert runner.invoke(app, ["docs", "--out", str(tmp_path), "--check"]).exit_code == 0
    page = tmp_path / "params.md"
    page.write_text(page.read_text(encoding="utf-8").replace("`0.2`", "`0.3`"), encoding="utf-8")
    stale = runner.invoke(app, ["docs", "--out", str(tmp_path), "--check"])
    assert stale.exit_code == 1
    assert f"{page}: out of date; run `make docs`" in stale.stderr


def test_params_reference_covers_every_key() -> None:
    """Every key of the shipped params.yaml has a row in the params reference."""
    import yaml

    def keys(node: object, prefix: str = "") -> list[str]:
        if not isinstance(node, dict):
            return [prefix]
        out = [prefix] if prefix else []
        for key, value in node.items():
            out += keys(value, f"{prefix}.{key}" if prefix else str(key))
        return out

    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    # Mapping entries of gates (metric names) are values, not keys of the schema.
    wanted = {k for k in keys(params) if not re.match(r"gates\.(floors|max_drop)\.", k)}
    page = reference_docs.params_markdown()
    assert [k for k in sorted(wanted) if f"| `{k}` |" not in page] == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page: Path) -> None:
    """Every relative link of README and docs/ names a file or directory that exists."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    text = re.sub(r"`[^`\n]*`", "", text)  # code spans: a regex there is not a link
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        path = (page.parent / file).resolve() if file else page
        if not path.exists() or (anchor and anchor not in _anchors(path)):
            broken.append(target)
    assert broken == []


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors of a markdown file: lower case, punctuation dropped, - for space."""
    if path.suffix != ".md":
        return set()
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    headings = re.findall(r"(?m)^#+\s+(.*?)\s*$", text)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}
