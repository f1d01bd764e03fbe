"""The layout as documented: every module listed in docs/architecture.md, none overgrown."""

from __future__ import annotations

import re

from .conftest import ROOT

PACKAGE = ROOT / "src" / "gitops_ml"
# A module longer than this does several things: split it along them.
MAX_LINES = 600


def _modules() -> set[str]:
    return {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py"
    }


def test_the_architecture_page_lists_every_module_and_no_other() -> None:
    """docs/architecture.md's module table names each module of the package exactly once."""
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = page.split("### Modules", 1)[1]
    listed = re.findall(r"(?m)^\| `([a-z0-9_/]+\.py)` \|", table)
    assert len(listed) == len(set(listed)), "a module is listed twice"
    assert set(listed) == _modules()


def test_every_area_is_a_folder_of_the_package() -> None:
    """The areas the page draws (and the commands above them) are the package's subpackages."""
    areas = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert areas == {
        "commands",
        "core",
        "infra",
        "pipeline",
        "review",
        "release",
        "serving",
        "monitoring",
        "template",
    }


def test_no_module_is_over_the_line_limit() -> None:
    """Each module stays small enough to read in one sitting."""
    long = {
        module: n
        for module in _modules()
        if (n := len((PACKAGE / module).read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
