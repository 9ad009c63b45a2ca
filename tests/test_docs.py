"""The documentation's promises, checked without building it (the Sphinx build is slow).

* docs/equations.md maps every lecture equation (1)–(38), Figure 1 and §3.4 to a function
  and to a notebook cell;
* every ``{ref}`` target on the map is a MyST target ``(label)=`` in some notebook;
* every API name the pages cross-reference exists when imported;
* every public name of the package is on the API page;
* the site's build command is the one README and docs/index.md document.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

import jacobian_calc

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EQUATION_MAP = DOCS / "equations.md"
BUILD_COMMAND = 'pip install ".[docs]" && sphinx-build -W -b html docs docs/_build/html'

ROLE = re.compile(r"\{py:(?:func|meth|class|attr|mod|data|exc)\}`(?:[^`<]*<)?~?([\w.]+)>?`")
REF = re.compile(r"\{ref\}`[^`<]*<([\w-]+)>`|\{ref\}`([\w-]+)`")
TARGET = re.compile(r"^\(([\w-]+)\)=\s*$", re.M)


def _map_rows() -> list[list[str]]:
    rows = []
    for line in EQUATION_MAP.read_text(encoding="utf-8").splitlines():
        if line.startswith("| ") and not line.startswith("| eq "):
            rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


def _refs(text: str) -> list[str]:
    return [a or b for a, b in REF.findall(text)]


def _notebook_targets() -> dict[str, list[str]]:
    """label -> the notebooks whose markdown cells define it."""
    found: dict[str, list[str]] = {}
    for path in sorted((DOCS / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            if cell["cell_type"] == "markdown":
                for label in TARGET.findall("".join(cell["source"])):
                    found.setdefault(label, []).append(path.stem)
    return found


DIRECTIVE = re.compile(r"^\.\. (?:auto|py:)\w+:: ([\w.]+)[ \t]*\n((?:[ \t]+\S.*\n)*)", re.M)


def _documented(text: str) -> set[str]:
    """Full dotted names of the objects that autodoc / py: directives describe."""
    names = set()
    for name, options in DIRECTIVE.findall(text):
        module = re.search(r"^\s+:module: ([\w.]+)", options, re.M)
        names.add(f"{module.group(1)}.{name}" if module else name)
    return names


def _resolve(dotted: str) -> object:
    """Import the longest importable module prefix of ``dotted``, then getattr the rest."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def test_every_lecture_equation_is_on_the_map():
    numbers = []
    for row in _map_rows():
        m = re.fullmatch(r"\((\d+)\)", row[0])
        if m:
            numbers.append(int(m.group(1)))
    assert sorted(numbers) == list(range(1, 39)), f"missing: {set(range(1, 39)) - set(numbers)}"
    firsts = [row[0] for row in _map_rows()]
    for extra in ("Fig. 1", "§3.4", "§3.1"):
        assert extra in firsts


def test_every_row_names_a_function_and_a_notebook_cell():
    for row in _map_rows():
        assert len(row) == 4, row
        assert ROLE.findall(row[2]), f"row {row[0]}: no API cross-reference"
        refs = _refs(row[3])
        assert len(refs) == 1, f"row {row[0]}: expected one notebook cell, got {refs}"
        assert re.search(r"notebook 0[1-6]", row[3]), row[3]


def test_every_ref_on_the_map_is_a_notebook_target():
    targets = _notebook_targets()
    labels = _refs(EQUATION_MAP.read_text(encoding="utf-8"))
    assert labels
    missing = [label for label in labels if label not in targets]
    assert not missing, f"targets not defined in any notebook: {missing}"
    # And the notebook named in the row is the one holding the target.
    for row in _map_rows():
        (label,) = _refs(row[3])
        number = re.search(r"notebook (0[1-6])", row[3]).group(1)
        assert [stem[:2] for stem in targets[label]] == [number], (row[0], targets[label])


def test_notebook_targets_are_unique():
    duplicated = {k: v for k, v in _notebook_targets().items() if len(v) > 1}
    assert not duplicated


@pytest.mark.parametrize("page", ["equations.md", "api.md", "index.md"])
def test_cross_referenced_api_names_resolve(page: str):
    text = (DOCS / page).read_text(encoding="utf-8")
    names = set(ROLE.findall(text))
    names |= _documented(text)
    names |= {f"jacobian_calc.{n}" for n in re.findall(r"^   (\w+)$", text, re.M)}
    if page != "index.md":
        assert names, f"{page} cross-references nothing"
    for name in sorted(names):
        try:
            _resolve(name)
        except (ImportError, AttributeError) as exc:
            pytest.fail(f"{page}: {name} does not resolve ({exc!r})")


def test_api_page_documents_every_public_name():
    from jacobian_calc.render.catalog import functions_page

    # the functions of the operations table are documented by the generated list, which
    # the page includes (docs/conf.py writes it from the table at every build)
    page = (DOCS / "api.md").read_text(encoding="utf-8")
    assert "{include} _generated/functions.md" in page
    text = page + functions_page().replace("```{eval-rst}\n", "")
    documented = {name.split(".", 1)[1] for name in _documented(text)
                  if name.count(".") == 1 and name.startswith("jacobian_calc.")}
    missing = set(jacobian_calc.__all__) - documented
    assert not missing, f"public names missing from docs/api.md: {sorted(missing)}"


def test_index_lists_every_notebook():
    text = (DOCS / "index.md").read_text(encoding="utf-8")
    for path in sorted((DOCS / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert f"notebooks/{path.stem}" in text, path.name


def test_build_command_is_documented_in_readme_and_index():
    for path in (ROOT / "README.md", DOCS / "index.md"):
        assert BUILD_COMMAND in path.read_text(encoding="utf-8"), path


def test_site_bundles_mathjax_and_executes_notebooks():
    conf = (DOCS / "conf.py").read_text(encoding="utf-8")
    assert '"sphinx-mathjax-offline"' in conf      # MathJax copied into _static, no CDN
    assert re.search(r'^nb_execution_mode = "(force|cache)"', conf, re.M)
    assert "docs/_build/" in (ROOT / ".gitignore").read_text(encoding="utf-8")


# ----------------------------------------------------------------- the README picture
FIGURE = DOCS / "_static" / "figure1.png"
# The lecture's colour code (black, green, red, blue, purple), as RGB in [0, 1]; taken
# from matplotlib's default palette, which is what the figure uses for them.
LECTURE_COLOURS = {
    "green": (0x2C, 0xA0, 0x2C), "red": (0xD6, 0x27, 0x28),
    "blue": (0x1F, 0x77, 0xB4), "purple": (0x94, 0x67, 0xBD), "black": (0, 0, 0),
}


def test_readme_shows_the_committed_figure():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/_static/figure1.png)" in readme
    data = FIGURE.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "figure1.png is not a PNG file"
    assert len(data) > 20_000, "figure1.png is suspiciously small"


def test_figure_shows_every_colour_of_the_lecture_code():
    import matplotlib.image as image  # the test extra has matplotlib
    import numpy as np

    rgb = image.imread(FIGURE)[..., :3]
    height, width = rgb.shape[:2]
    assert width >= 600 and height >= 300
    for name, colour in LECTURE_COLOURS.items():
        target = np.array(colour) / 255
        close = np.all(np.abs(rgb - target) < 0.06, axis=-1)
        assert close.sum() > 50, f"no {name} strokes in {FIGURE.name}"


def test_figure_is_the_one_the_cli_draws(tmp_path: Path, capsys: pytest.CaptureFixture):
    import matplotlib.image as image
    import numpy as np

    from jacobian_calc.front.cli import main

    import matplotlib
    from PIL import Image

    fresh = tmp_path / "figure1.png"
    assert main(["figure", "--out", str(fresh)]) == 0
    capsys.readouterr()
    committed, drawn = image.imread(FIGURE), image.imread(fresh)
    # Text layout differs between matplotlib releases by a few pixels: compare pixels only
    # with the release that drew the committed file (its PNG says which), sizes always.
    software = Image.open(FIGURE).info.get("Software", "")
    assert abs(committed.shape[0] - drawn.shape[0]) <= 0.02 * committed.shape[0]
    assert abs(committed.shape[1] - drawn.shape[1]) <= 0.02 * committed.shape[1]
    if matplotlib.__version__ not in software:
        pytest.skip(f"the committed figure was drawn by {software!r}; matplotlib "
                    f"{matplotlib.__version__} lays text out a few pixels differently")
    regenerate = "regenerate it: jacobian-calc figure --out docs/_static/figure1.png"
    assert committed.shape == drawn.shape, f"README figure is stale ({regenerate})"
    # Pixel-wise, allowing for anti-aliasing differences between matplotlib versions.
    differing = np.mean(np.any(np.abs(committed - drawn) > 0.1, axis=-1))
    assert differing < 0.01, f"{differing:.1%} of the pixels differ ({regenerate})"


def test_readme_links_point_at_committed_files():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(((?:docs|examples|tests)/[^)#\s]*)\)", readme)
    assert any(t.endswith(".ipynb") for t in targets), "README links to the notebooks"
    notebooks = {p.relative_to(ROOT).as_posix() for p in (DOCS / "notebooks").glob("*.ipynb")}
    assert notebooks <= set(targets), f"notebooks missing from README: {notebooks - set(targets)}"
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert not missing, f"README links to files that do not exist: {missing}"


def test_python_examples_on_the_pages_run():
    # A page whose example no longer runs is documentation that drifted from the code.
    pages = sorted(DOCS.glob("*.md"))
    ran = 0
    for page in pages:
        blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
        if blocks:
            exec(compile("\n".join(blocks), str(page), "exec"), {})
            ran += 1
    assert ran >= 1, "the calculator page should carry runnable examples"
