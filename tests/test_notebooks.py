"""The teaching notebooks: committed clean, and each runs top to bottom in a fresh kernel.

Notebooks are stored without outputs (the documentation build executes them), so a stale
output can never be committed. Each one is executed here with nbclient in a new kernel
whose working directory is ``docs/notebooks`` and whose ``PYTHONPATH`` starts with the
repository root, so it imports this checkout whether or not the package is installed.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbclient
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "docs" / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
# One notebook per part of the lecture; see docs/equations.md for what each covers.
EXPECTED_NUMBERS = ["01", "02", "03", "04", "05", "06"]


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def test_every_part_of_the_lecture_has_a_notebook():
    numbers = [p.name[:2] for p in NOTEBOOKS]
    assert numbers == EXPECTED_NUMBERS, f"notebooks found: {[p.name for p in NOTEBOOKS]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_committed_without_outputs(path: Path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [
        i for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]
    assert not dirty, (
        f"{path.name}: code cells {dirty} carry outputs or execution counts; strip them "
        f"(e.g. jupyter nbconvert --clear-output --inplace {path.name})"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_has_code_and_prose(path: Path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    kinds = [cell["cell_type"] for cell in nb["cells"]]
    assert kinds.count("code") >= 3 and kinds.count("markdown") >= 3, kinds
    first = "".join(nb["cells"][0]["source"])
    assert first.startswith(f"# {path.name[:2]} "), "a notebook opens with its numbered title"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_executes_without_error(path: Path, monkeypatch: pytest.MonkeyPatch):
    # The kernel is a subprocess and inherits this environment.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.get("execution_count") for cell in code), "every code cell ran"
    errors = [out for cell in code for out in cell.get("outputs", [])
              if out.get("output_type") == "error"]
    assert not errors


CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
LECTURE = ROOT.parent / "shared" / "lecture.zh.md"  # beside the repository, when present


@pytest.mark.parametrize("path", NOTEBOOKS[:5], ids=_ids(NOTEBOOKS[:5]))
def test_lecture_notebooks_name_the_chinese_terms(path: Path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    prose = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    terms = set(CJK_RUN.findall(prose))
    assert len(terms) >= 3, f"{path.name}: key concepts should carry the lecture's term"
    if LECTURE.exists():  # the terms are the lecture's own, not translations of ours
        lecture = LECTURE.read_text(encoding="utf-8")
        assert not [t for t in terms if t not in lecture], sorted(t for t in terms if t not in lecture)
