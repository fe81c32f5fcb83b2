"""Write the student versions of the notebooks: the solutions emptied, every output cleared.

    python book/student.py      (what `make student` runs)

For every notebook in notebooks/ it writes build/student/NN_name.ipynb, in which each cell
tagged `solution` keeps its place and its tag but holds only a comment, and no cell has
an output, an execution count or saved widget state (so no "Correct" verdict or solution
output gives the answer away). The exercise cell before each solution still raises
NotImplementedError, and its self-check says "Not done yet" until the student writes
the code; tests/web/test_student_versions.py runs every student version to check that.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
OUT = ROOT / "build" / "student"
PLACEHOLDER = "# Not in the student version: write your solution in the cell above, then run the check below."


def student_version(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, int]:
    """The notebook without solutions and outputs; returns it and the number of solutions removed."""
    removed = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if "solution" in cell.metadata.get("tags", []):
            cell.source = PLACEHOLDER
            removed += 1
        cell.outputs = []
        cell.execution_count = None
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)
    nb.metadata.pop("jupytext", None)  # a copy, not paired with the .py source
    return nb, removed


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb, removed = student_version(nbformat.read(path, as_version=4))
        nbformat.write(nb, OUT / path.name)
        print(f"{OUT.relative_to(ROOT)}/{path.name}: {removed} solutions removed")


if __name__ == "__main__":
    main()
