"""The public surface is curated: __all__ is sorted and is exactly the public names."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import intrace_analytics


def test_all_is_sorted_and_is_the_whole_public_surface() -> None:
    exported = intrace_analytics.__all__
    assert exported == sorted(exported)
    assert len(set(exported)) == len(exported)
    # Everything public the package namespace holds (submodules aside), plus the names
    # it loads on first use, is exactly __all__: nothing missing, nothing stray (an
    # accidental `Any` from a typing import would show up here).
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
            assert value.__module__.startswith("intrace_analytics."), name


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
