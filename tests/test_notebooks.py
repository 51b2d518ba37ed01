"""Every notebook runs top to bottom, against the sandbox, without error, and shows each
figure it draws exactly once."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))

#: The inline backend, as Jupyter gives a notebook: it shows every figure a cell drew when
#: the cell ends, so a Figure that is also the cell's value shows twice, and two helpers
#: called without ``ax=`` in one cell draw on one Axes. Named explicitly so that an
#: ``MPLBACKEND=Agg`` in the environment running the tests cannot hide either.
INLINE = "module://matplotlib_inline.backend_inline"

#: Each plot helper call in a notebook draws one figure (``plot_site_maps`` one figure of
#: panels), and so does each ``plt.subplots()`` of a figure drawn by hand, so a code cell
#: shows as many images as it has such calls.
PLOT_CALL = re.compile(r"\bplot_\w+\(|\bplt\.subplots\(")

#: Images per notebook, so the count per cell cannot pass by finding no call at all.
IMAGES = {
    "01-explore-incidents": 4,
    "02-resolution-times": 1,
    "03-parquet-for-data-teams": 0,
    "04-sites": 1,
    "05-history": 1,
}


def test_there_are_five_notebooks_committed_without_outputs() -> None:
    import nbformat

    assert [p.name for p in NOTEBOOKS] == [
        "01-explore-incidents.ipynb",
        "02-resolution-times.ipynb",
        "03-parquet-for-data-teams.ipynb",
        "04-sites.ipynb",
        "05-history.ipynb",
    ]
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == []
                assert cell.execution_count is None


def _images(cell: Any) -> int:
    return sum(
        "image/png" in output.get("data", {})
        for output in cell.get("outputs", [])
        if output.get("output_type") in ("display_data", "execute_result")
    )


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    # The sandbox, never a real API, whatever the environment running the tests has.
    monkeypatch.delenv("INTRACE_API_KEY", raising=False)
    monkeypatch.setenv("MPLBACKEND", INLINE)
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()
    errors = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert errors == []
    # Top to bottom: every code cell ran, in order, and the last one showed something.
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1))
    assert code[-1].outputs
    # Each figure shown once: one image per plot helper call, in the cell that makes it.
    shown = [(cell.source, _images(cell), len(PLOT_CALL.findall(cell.source))) for cell in code]
    assert [(source, images) for source, images, calls in shown if images != calls] == []
    assert sum(images for _, images, _ in shown) == IMAGES[path.stem]
