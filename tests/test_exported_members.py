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

STUB = Path(intrace_analytics.__file__).with_suffix(".pyi")


def _stub() -> tuple[dict[str, str], list[str]]:
    """What type checkers see: each name the stub imports and from where, and its __all__."""
    tree = ast.parse(STUB.read_text(encoding="utf-8"))
    imported = {
        alias.name: node.module
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module is not None
        for alias in node.names
    }
    (listed,) = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "__all__"
    ]
    return imported, listed


def test_all_is_sorted_and_is_the_whole_public_surface() -> None:
    exported = intrace_analytics.__all__
    assert exported == sorted(exported)
    assert len(set(exported)) == len(exported)
    # Everything public the package namespace holds (submodules aside), plus the names
    # it loads on first use, is exactly __all__: nothing missing, nothing stray (an
    # accidental `Path` from an import would show up here).
    eager = {
        name
        for name, value in vars(intrace_analytics).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert eager == set()
    assert set(exported) <= set(dir(intrace_analytics))


def test_type_checkers_see_the_same_names_from_the_same_modules() -> None:
    # The stub is what mypy and editors read; at run time each name is imported on first
    # use from the module the stub names. Both say the same, or a user's types would lie.
    imported, listed = _stub()
    assert listed == intrace_analytics.__all__
    assert sorted(imported) == sorted(listed)
    for name, module in imported.items():
        value = getattr(intrace_analytics, name)
        if name != "__version__":
            assert value.__module__ == module, name


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
