"""The website publishes every notebook: book/_toc.yml lists each one (a one-line change per notebook)."""

import importlib.util
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_the_table_of_contents_lists_every_notebook():
    spec = importlib.util.spec_from_file_location("book_build", ROOT / "book" / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    listed = build.toc_files(yaml.safe_load((ROOT / "book" / "_toc.yml").read_text()))
    listed = sorted(f for f in listed if f.startswith("notebooks/"))
    present = sorted(f"notebooks/{p.stem}" for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert listed == present, (
        f"book/_toc.yml lists {listed} but notebooks/ has {present}: "
        "add one line `- file: notebooks/NN_name` per notebook to book/_toc.yml"
    )
