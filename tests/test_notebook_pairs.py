"""Every notebook is a jupytext .py paired with an executed .ipynb whose cells match it."""

from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("*.py"))


def test_every_notebook_has_both_halves():
    py = {p.stem for p in SOURCES}
    ipynb = {p.stem for p in NOTEBOOKS.glob("*.ipynb")}
    assert py, "no notebooks found"
    assert py == ipynb, f"unpaired: .py without .ipynb {sorted(py - ipynb)}, .ipynb without .py {sorted(ipynb - py)}"


def cells(notebook):
    return [(c.cell_type, c.source.strip(), sorted(c.metadata.get("tags", []))) for c in notebook.cells]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_pair_is_in_sync_and_executed(source):
    from_py = jupytext.read(source)
    committed = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    fix = f"run `make notebooks` (or jupytext --sync {source.name}, then execute) to bring them back in sync"
    assert cells(from_py) == cells(committed), f"{source.name} and its .ipynb differ; {fix}"
    code = [c for c in committed.cells if c.cell_type == "code" and c.source.strip()]
    assert all(c.execution_count for c in code), f"{source.with_suffix('.ipynb').name} is not executed; {fix}"
