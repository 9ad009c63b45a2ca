"""How pytest runs the teaching notebooks (nbval; options in pyproject.toml).

``--nbval`` collects every notebook here as one test per code cell: the notebook runs top
to bottom in a fresh kernel and each cell's new outputs must equal the stored ones. Text
(printed numbers, LaTeX, Markdown) is compared exactly, after ``sanitize.cfg``; nbval
compares no PNG bytes, so a figure is checked by its text form (``<Figure size … with 1
Axes>``) here and by tests/test_notebooks.py, which requires a PNG for each one.

This file makes the kernel import this checkout (``PYTHONPATH`` starts with the repository
root while the kernel starts), marks the cells ``slow`` and reads ``sanitize.cfg`` from
here whatever the working directory. After a change that alters an output, rewrite the
stored outputs with ``python tests/test_notebooks.py`` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# Not a doctest module: with --doctest-modules, pytest would import it as a test module
# named "conftest", which tests/conftest.py also is.
collect_ignore = ["conftest.py"]


def _is_notebook_cell(item: pytest.Item) -> bool:
    return item.path.suffix == ".ipynb"


def pytest_configure(config: pytest.Config) -> None:
    option = getattr(config.option, "nbval_sanitize_with", None)
    if option and not Path(option).is_file() and (HERE / Path(option).name).is_file():
        config.option.nbval_sanitize_with = str(HERE / Path(option).name)


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _is_notebook_cell(item):
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    # The first cell's setup starts the notebook's kernel, a subprocess that inherits the
    # environment: put this checkout first on its path only for that moment.
    if not _is_notebook_cell(item):
        yield
        return
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), before) if p)
    try:
        yield
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before
