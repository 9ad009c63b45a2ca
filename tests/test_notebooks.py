"""The teaching notebooks: committed with their outputs, and those outputs are current.

A reader who opens a notebook on a Git host sees what a run shows, so the notebooks are
committed executed: numbers, typeset derivations, pictures. Whether the stored outputs are
still what the code produces is checked by nbval (``--nbval`` in pyproject.toml, set up in
docs/notebooks/conftest.py): it re-executes every notebook in a fresh kernel and compares
each cell's outputs with the stored ones. The tests here check, without a kernel, that
the committed files are fit for that comparison: every code cell was run, top to bottom in
one kernel (nbval skips the comparison for a cell that never ran), nothing failed, and
each figure is stored as a PNG.

After a change that alters an output, rewrite the stored outputs and review the diff::

    python tests/test_notebooks.py            # every notebook
    python tests/test_notebooks.py 04 05      # the notebooks numbered 04 and 05
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "docs" / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
# One notebook per part of the lecture (docs/equations.md says what each covers); later
# ones continue the numbering.
LECTURE_NUMBERS = ["01", "02", "03", "04", "05", "06"]
# What a notebook's metadata may hold: nothing that names the machine or the run.
NOTEBOOK_METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}
# A code cell with one of these has something to show.
SHOWS = re.compile(r"^\s*(?:print|display)\(|plt\.show\(\)", re.M)


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _code_cells(nb: dict) -> list[dict]:
    return [cell for cell in nb["cells"] if cell["cell_type"] == "code"]


def test_every_part_of_the_lecture_has_a_notebook():
    numbers = [p.name[:2] for p in NOTEBOOKS]
    assert numbers[:len(LECTURE_NUMBERS)] == LECTURE_NUMBERS, [p.name for p in NOTEBOOKS]
    # numbered without gaps or repeats: 01, 02, …
    assert numbers == [f"{k:02d}" for k in range(1, len(numbers) + 1)], numbers


def test_pytest_compares_the_stored_outputs(pytestconfig: pytest.Config):
    # Without these options the notebooks would not be collected at all, and nothing
    # would fail when a stored output went stale.
    addopts = pytestconfig.getini("addopts")
    assert "--nbval" in addopts and "--nbval-lax" not in addopts
    assert "--nbval-sanitize-with=docs/notebooks/sanitize.cfg" in addopts
    assert (NOTEBOOK_DIR / "sanitize.cfg").is_file()
    assert "docs/notebooks" in pytestconfig.getini("testpaths")
    assert any(m.startswith("slow:") for m in pytestconfig.getini("markers"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_committed_executed_top_to_bottom(path: Path):
    code = _code_cells(_load(path))
    counts = [cell.get("execution_count") for cell in code]
    assert counts == list(range(1, len(code) + 1)), (
        f"{path.name}: execution counts {counts}; the stored outputs must come from one run "
        f"of the whole notebook in a fresh kernel (python tests/test_notebooks.py {path.name[:2]})"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_outputs_are_shown_and_clean(path: Path):
    nb = _load(path)
    assert nb["metadata"] == NOTEBOOK_METADATA, nb["metadata"]
    for k, cell in enumerate(_code_cells(nb)):
        source = "".join(cell["source"])
        outputs = cell.get("outputs", [])
        where = f"{path.name}, code cell {k + 1}"
        if SHOWS.search(source):
            assert outputs, f"{where} shows something but stores no output"
        assert not cell["metadata"].get("execution"), f"{where}: timing metadata stored"
        for out in outputs:
            assert out["output_type"] != "error", f"{where} stores an error"
            assert not (out["output_type"] == "stream" and out["name"] == "stderr"), (
                f"{where} stores a warning or other stderr text: {''.join(out['text'])[:300]}")
            data = out.get("data", {})
            if "".join(data.get("text/plain", "")).startswith("<Figure"):
                assert "image/png" in data, f"{where}: a figure without its PNG"
        if "plt.show()" in source:
            assert any("image/png" in out.get("data", {}) for out in outputs), (
                f"{where} draws a figure but stores no PNG")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_has_code_and_prose(path: Path):
    nb = _load(path)
    kinds = [cell["cell_type"] for cell in nb["cells"]]
    assert kinds.count("code") >= 3 and kinds.count("markdown") >= 3, kinds
    first = "".join(nb["cells"][0]["source"])
    assert first.startswith(f"# {path.name[:2]} "), "a notebook opens with its numbered title"


CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
LECTURE = ROOT.parent / "shared" / "lecture.zh.md"  # beside the repository, when present


@pytest.mark.parametrize("path", NOTEBOOKS[:5], ids=_ids(NOTEBOOKS[:5]))
def test_lecture_notebooks_name_the_chinese_terms(path: Path):
    nb = _load(path)
    prose = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    terms = set(CJK_RUN.findall(prose))
    assert len(terms) >= 3, f"{path.name}: key concepts should carry the lecture's term"
    if LECTURE.exists():  # the terms are the lecture's own, not translations of ours
        lecture = LECTURE.read_text(encoding="utf-8")
        assert not [t for t in terms if t not in lecture], sorted(t for t in terms if t not in lecture)


def execute(path: Path) -> None:
    """Run one notebook in a fresh kernel that imports this checkout; store its outputs."""
    import os

    import nbclient
    import nbformat

    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    nb.metadata = nbformat.from_dict(NOTEBOOK_METADATA)  # no machine's versions or paths
    nbformat.write(nb, path)


if __name__ == "__main__":
    wanted = sys.argv[1:]
    for notebook in NOTEBOOKS:
        if not wanted or notebook.name[:2] in wanted or notebook.name in wanted:
            print(f"executing {notebook.relative_to(ROOT)}", flush=True)
            execute(notebook)
