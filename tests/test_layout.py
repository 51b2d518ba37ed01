"""The package's shape, checked: layers import only downwards, no import cycles, short
functions. See STYLE.md: ``api → frames → load → export/history → analysis → viz → report
→ cli``, with ``sandbox/`` beside it all and ``_util/`` beneath it all."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "intrace_analytics"
NAME = "intrace_analytics"

#: Each layer's rank: a module may import its own layer and lower ones only.
RANKS = {
    "exceptions": 0,
    "_version": 0,
    "_util": 0,
    "api": 1,
    "frames": 2,
    "load": 3,
    "export": 4,
    "history": 4,
    "analysis": 5,
    "viz": 6,
    "report": 7,
    "cli": 8,
    "__main__": 9,
    "__init__": 9,
}
#: The sandbox stands beside the layers: it speaks the API's vocabulary and uses the
#: private helpers, and only the command line (``demo``, ``sandbox``) starts it.
SANDBOX_MAY_IMPORT = {"exceptions", "_version", "_util", "api", "sandbox"}
#: Imports that point up on purpose, each deferred into a function body: the container's
#: I/O methods hand over to the export layer, as pandas' ``DataFrame.to_parquet`` hands over
#: to ``pandas.io``.
DEFERRED_UPWARD = {("frames", "export")}

MAX_BODY_LINES = 60


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        yield ".".join((NAME, *parts)).removesuffix(".__init__"), path


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports(path: Path, module: str) -> Iterator[tuple[str, bool, int]]:
    """(imported module, at module level?, line) for every import of the package."""
    tree = ast.parse(path.read_text(), str(path))
    in_function: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            in_function.update(id(n) for n in ast.walk(node) if n is not node)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        top = id(node) not in in_function
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == NAME:
                    yield alias.name, top, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] != NAME:
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield (candidate if _is_module(candidate) else base), top, node.lineno


def _is_module(dotted: str) -> bool:
    relative = Path(*dotted.split(".")[1:])
    return (PACKAGE / relative).with_suffix(".py").exists() or (PACKAGE / relative).is_dir()


def test_every_layer_imports_only_downwards() -> None:
    wrong = []
    for module, path in modules():
        here = layer(module)
        for target, top, line in imports(path, module):
            there = layer(target)
            if here == "sandbox" or there == "sandbox":
                allowed = (
                    there in SANDBOX_MAY_IMPORT
                    if here == "sandbox"
                    else here in {"cli", "sandbox", "__init__"}
                )
            else:
                allowed = RANKS[there] <= RANKS[here] or (
                    not top and (here, there) in DEFERRED_UPWARD
                )
            if not allowed:
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} ({here}) imports {target}")
    assert wrong == []


def test_no_import_cycle() -> None:
    """Module-level imports (``TYPE_CHECKING`` blocks included) form no cycle."""
    graph = {
        module: {t for t, top, _ in imports(path, module) if top and t != module}
        for module, path in modules()
    }
    done: set[str] = set()

    def visit(module: str, stack: tuple[str, ...]) -> None:
        if module in stack:
            pytest.fail("import cycle: " + " -> ".join((*stack[stack.index(module) :], module)))
        if module in done:
            return
        for target in graph.get(module, ()):
            # importing a.b.c runs a/__init__ and a/b/__init__ first
            visit(target, (*stack, module))
        done.add(module)

    for module in graph:
        visit(module, ())


def test_no_function_body_is_longer_than_sixty_lines() -> None:
    """A long function is a list of steps that want names (docstrings aside)."""
    long = []
    for _, path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            body = node.body
            if ast.get_docstring(node) is not None:
                body = body[1:]
            if not body:
                continue
            lines = (body[-1].end_lineno or 0) - body[0].lineno + 1
            if lines > MAX_BODY_LINES:
                long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}: {lines}")
    assert long == []


def test_the_checks_see_the_layers() -> None:
    """The walkers above find what they must, so an empty list means something."""
    found = {layer(m) for m, _ in modules()}
    assert {"api", "frames", "load", "export", "analysis", "viz", "report", "sandbox"} <= found
    client = PACKAGE / "api" / "_client.py"
    assert any(t.startswith(f"{NAME}.api.") for t, _, _ in imports(client, f"{NAME}.api._client"))
