"""The student versions (`make student`) run top to bottom and every self-check says "Not done yet".

Each student notebook in build/student is executed as a student who has written nothing
would run it (from the notebooks folder, like the originals): no cell may raise, and the
check that follows each removed solution must report "Not done yet" politely instead of
crashing the notebook or claiming success.
"""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient
from webtools import BUILD, ROOT, needs_build

pytestmark = pytest.mark.web

NOTEBOOKS = ROOT / "notebooks"
STUDENT = BUILD / "student"
NAMES = [p.name for p in sorted(NOTEBOOKS.glob("*.ipynb"))]


def checks_after_solutions(nb: nbformat.NotebookNode) -> list[int]:
    """Index of the first code cell after each solution cell: the exercise's self-check."""
    found = []
    for i, cell in enumerate(nb.cells):
        if "solution" in cell.metadata.get("tags", []):
            later = [j for j in range(i + 1, len(nb.cells)) if nb.cells[j].cell_type == "code"]
            assert later, f"solution cell {i} has no check cell after it"
            found.append(later[0])
    return found


def printed(cell: nbformat.NotebookNode) -> str:
    return "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream")


@pytest.mark.parametrize("name", NAMES)
def test_student_version_runs_and_says_not_done_yet(name):
    original = nbformat.read(NOTEBOOKS / name, as_version=4)
    nb = nbformat.read(needs_build(STUDENT / name, "student"), as_version=4)
    solutions = [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
    assert len(solutions) == sum("solution" in c.metadata.get("tags", []) for c in original.cells)
    assert not any(c.outputs for c in nb.cells if c.cell_type == "code"), "outputs left in the student version"
    for cell, source in zip(solutions, (c for c in original.cells if "solution" in c.metadata.get("tags", []))):
        assert cell.source.startswith("#") and "\n" not in cell.source.strip(), "a solution survived"
        assert source.source != cell.source

    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()

    for index in checks_after_solutions(nb):
        verdict = printed(nb.cells[index])
        assert "Not done yet" in verdict, f"{name}, cell {index}: the check said {verdict!r}"
