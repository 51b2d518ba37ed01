"""The public surface is curated: __all__ is sorted and is exactly the public names."""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import intrace_analytics


def test_all_is_sorted_and_is_the_whole_public_surface() -> None:
    exported = intrace_analytics.__all__
    assert exported == sorted(exported)
    assert len(set(exported)) == len(exported)
    # Everything public the package namespace holds (submodules aside), plus the names
    # it loads on first use, is exactly __all__: nothing missing, nothing stray (an
    # accidental `Any` from a typing import would show up here). Every export but
    # __version__ is loaded on first use, so the eager set is empty today.
    eager = {
        name
        for name, value in vars(intrace_analytics).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    lazy = set(intrace_analytics._LAZY)
    assert eager.isdisjoint(lazy)
    assert eager | lazy | {"__version__"} == set(exported)
    for name in exported:
        value = getattr(intrace_analytics, name)
        if name != "__version__":
            assert value.__module__ == intrace_analytics._LAZY[name], name
    assert set(exported) <= set(dir(intrace_analytics))


def test_type_checkers_see_the_same_names_from_the_same_modules() -> None:
    # The `if typing.TYPE_CHECKING:` imports are what mypy and editors see; _LAZY is
    # what runs. They must name the same things, or a user's types would lie.
    source = Path(intrace_analytics.__file__).read_text(encoding="utf-8")
    (block,) = [
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
    ]
    seen = {
        alias.name: node.module
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert seen == intrace_analytics._LAZY


def test_importing_the_package_imports_no_heavy_dependency() -> None:
    # A real process: this one has pandas loaded already. `--help` and `--version`
    # start fast only if the package itself stays light.
    code = (
        "import sys, intrace_analytics, intrace_analytics.cli; "
        "print(sorted({'pandas', 'pyarrow', 'requests', 'matplotlib', 'tqdm'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="plot_nothing"):
        intrace_analytics.plot_nothing  # type: ignore[attr-defined]  # noqa: B018


def test_every_public_name_is_used_by_a_test() -> None:
    # A cheap guard that no export goes untested: each name appears, as a word, in a
    # test module other than this one.
    here = Path(__file__)
    sources = "\n".join(
        path.read_text(encoding="utf-8") for path in here.parent.glob("test_*.py") if path != here
    )
    unused = [name for name in intrace_analytics.__all__ if not re.search(rf"\b{name}\b", sources)]
    assert unused == []
