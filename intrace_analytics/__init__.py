"""intrace_analytics: Intrace incidents as tidy pandas frames, Parquet and analysis.

>>> from intrace_analytics import IntraceClient
>>> client = IntraceClient()  # key from INTRACE_API_KEY  # doctest: +SKIP
>>> pages = list(client.iter_incident_pages(status="open"))  # doctest: +SKIP

The exports are listed once, as plain imports with a sorted ``__all__``, in ``__init__.pyi``
(what type checkers and editors read). Each is imported on first use, from the module that
stub names: pandas, pyarrow, requests and matplotlib take a second or more to import, and
every way into the package runs this file first, ``intrace-analytics --help`` and
``python -m intrace_analytics`` included (scientific Python's SPEC 1, ``lazy_loader``'s
``attach_stub``).
"""

import importlib

from intrace_analytics._version import __version__ as __version__


def _exports() -> dict[str, str]:
    """Each exported name and the module that defines it, from the stub's imports."""
    import ast  # here, so the namespace holds no name the exports do not list
    from pathlib import Path

    stub = Path(__file__).with_suffix(".pyi").read_text(encoding="utf-8")
    return {
        alias.asname or alias.name: node.module
        for node in ast.parse(stub).body
        if isinstance(node, ast.ImportFrom) and node.module is not None
        for alias in node.names
        if alias.name != "__version__"
    }


_EXPORTS = _exports()
__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> object:
    # Not cached in the module's namespace: after the first call the import is a dict
    # lookup, and the namespace keeps holding exactly the eager names.
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'intrace_analytics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
