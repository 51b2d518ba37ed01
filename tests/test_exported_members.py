"""The public surface is curated: __all__ is sorted and lists exactly the public names."""

from __future__ import annotations

import intrace_analytics


def test_all_is_sorted_and_complete() -> None:
    exported = intrace_analytics.__all__
    assert exported == sorted(exported)
    public = {
        name
        for name, value in vars(intrace_analytics).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("intrace_")
    }
    assert public <= set(exported)
    for name in exported:
        assert hasattr(intrace_analytics, name)
