"""The documentation's promises, checked without building it (tests/test_site.py builds it).

* docs/equations.md maps every lecture equation (1)–(38), Figure 1 and §3.4 — and, in its
  second-order section, each second-order method — to a function and to a notebook cell, with plain Markdown links that read on a Git host as well as in
  the site: ``[`vec`](api.md#jacobian_calc.vec)`` and
  ``[notebook 04 · (22)](notebooks/04_vec_and_lemma.ipynb#eq-22)``, no MyST roles;
* every notebook link on the map names a committed notebook and a MyST target
  ``(label)=`` in it;
* every API name the pages link or cross-reference exists when imported, and each one the
  map links is documented on the API page (so the anchor exists);
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
# What a Git host would show as raw text: any MyST role, e.g. {ref}`…` or {py:func}`…`.
ANY_ROLE = re.compile(r"\{[\w:-]+\}`")
API_LINK = re.compile(r"\]\(api\.md#([\w.]+)\)")
NOTEBOOK_LINK = re.compile(r"\]\((notebooks/([0-9]{2})_\w+\.ipynb)#([\w-]+)\)")
TARGET = re.compile(r"^\(([\w-]+)\)=\s*$", re.M)


def _map_rows() -> list[list[str]]:
    """The cells of each table row of the map (a header, the line above |---|, is no row)."""
    lines = EQUATION_MAP.read_text(encoding="utf-8").splitlines()
    rows = []
    for line, below in zip(lines, lines[1:] + [""]):
        if line.startswith("| ") and not below.startswith("|---"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


def _notebook_links(text: str) -> list[tuple[str, str, str]]:
    """(path, number, label) of each link to a notebook cell."""
    return NOTEBOOK_LINK.findall(text)


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


def _documented_with_members(text: str) -> set[str]:
    """Full names of the classes and modules whose members autodoc documents too.

    ``:members:`` alone documents all of them; ``:members: a, b`` documents ``a`` and
    ``b``, and (the option carries over) the members of those that are classes.
    """
    names = set()
    for name, options in DIRECTIVE.findall(text):
        members = re.search(r"^\s+:members:(.*)$", options, re.M)
        if members is None:
            continue
        listed = [m.strip() for m in members.group(1).split(",") if m.strip()]
        names |= {f"{name}.{member}" for member in listed} if listed else {name}
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
        assert API_LINK.findall(row[2]), f"row {row[0]}: no link to the API page"
        links = _notebook_links(row[3])
        assert len(links) == 1, f"row {row[0]}: expected one notebook cell, got {links}"
        assert re.search(r"notebook [0-9]{2} ·", row[3]), row[3]


SECOND_ORDER_API = [
    "jacobian_calc.hessian", "jacobian_calc.hvp",
    # MLP's second-order methods are the Curvature mixin's; the API page documents them there
    *(f"jacobian_calc.lecture.hessians.Curvature.{m}"
      for m in ("hessian", "gauss_newton", "hessian_terms", "kfac", "hvp")),
]


def test_the_second_order_section_links_each_method_to_notebook_07():
    text = EQUATION_MAP.read_text(encoding="utf-8")
    assert "\n## Second order\n" in text
    section = text.split("\n## Second order\n", 1)[1].split("\n## ", 1)[0]  # to the next
    linked = set(API_LINK.findall(section))
    assert not set(SECOND_ORDER_API) - linked, sorted(set(SECOND_ORDER_API) - linked)
    rows = [line for line in section.splitlines() if line.startswith("| ") and "](" in line]
    assert rows and all({n for _, n, _ in _notebook_links(r)} == {"07"} for r in rows), rows
    # the link text names the method the way a user calls it: MLP.kfac, not Curvature.kfac
    for method in ("hessian", "gauss_newton", "hessian_terms", "kfac", "hvp"):
        assert f"[`MLP.{method}`](api.md#jacobian_calc.lecture.hessians.Curvature.{method})" in section


def _section(heading: str) -> tuple[set[str], list[str]]:
    """The API names a section of the equation map links, and its table rows with links."""
    text = EQUATION_MAP.read_text(encoding="utf-8")
    assert f"\n## {heading}\n" in text
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "](" in line]
    return set(API_LINK.findall(section)), rows


LAYER_API = ["jacobian_calc.conv1d", "jacobian_calc.conv2d", "jacobian_calc.im2col",
             "jacobian_calc.layer_norm", "jacobian_calc.batch_norm",
             "jacobian_calc.lecture.conv_norm.conv2d_backward",
             "jacobian_calc.lecture.conv_norm.batch_norm_backward"]


def test_the_convolution_and_normalisation_section_links_each_layer_to_notebook_08():
    linked, rows = _section("Convolution and normalisation")
    assert not set(LAYER_API) - linked, sorted(set(LAYER_API) - linked)
    assert len(rows) >= 8 and all({n for _, n, _ in _notebook_links(r)} == {"08"} for r in rows)


BEYOND_SECTIONS = {
    "Attention": ["jacobian_calc.softmax", "jacobian_calc.attention",
                  "jacobian_calc.lecture.attention.attention_jacobians",
                  "jacobian_calc.lecture.attention.attention_vjp"],
    "Recurrence": ["jacobian_calc.RNN.gradients", "jacobian_calc.RNN.jacobian",
                   "jacobian_calc.RNN.derivation", "jacobian_calc.RNN.cost",
                   "jacobian_calc.lecture.bptt.bptt_gradients",
                   "jacobian_calc.engine.cost.ReuseReport"],
}


@pytest.mark.parametrize("heading", sorted(BEYOND_SECTIONS))
def test_the_attention_and_recurrence_sections_link_to_notebook_09(heading):
    linked, rows = _section(heading)
    assert not set(BEYOND_SECTIONS[heading]) - linked, sorted(set(BEYOND_SECTIONS[heading]) - linked)
    assert len(rows) >= 5 and all({n for _, n, _ in _notebook_links(r)} == {"09"} for r in rows)


FORMULA_API = ["jacobian_calc.formula", "jacobian_calc.MLP.formula",
               "jacobian_calc.Formula.evaluate", "jacobian_calc.CertificateError",
               "jacobian_calc.testing.diagnose"]


def test_the_formula_section_links_the_lecture_steps_to_notebook_10():
    linked, rows = _section("From the chain to the formula")
    assert not set(FORMULA_API) - linked, sorted(set(FORMULA_API) - linked)
    assert all({n for _, n, _ in _notebook_links(r)} == {"10"} for r in rows), rows
    steps = [r.split(" | ")[0].strip("| ") for r in rows]
    assert {"(24)→(25)", "(31)→(32)", "(36)→(38)"} <= set(steps), steps


def test_the_map_reads_as_plain_markdown():
    # A Git host renders Markdown without MyST: a role would show as {ref}`…` text.
    text = EQUATION_MAP.read_text(encoding="utf-8")
    assert not ANY_ROLE.findall(text), ANY_ROLE.findall(text)
    assert not re.search(r"^\s*```\{", text, re.M), "a MyST directive block"
    # every relative link target is a committed file (fragments are checked below)
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" not in target:
            assert (DOCS / target).is_file(), target


def test_every_notebook_link_on_the_map_is_a_notebook_target():
    targets = _notebook_targets()
    links = _notebook_links(EQUATION_MAP.read_text(encoding="utf-8"))
    assert links
    missing = [label for _, _, label in links if label not in targets]
    assert not missing, f"targets not defined in any notebook: {missing}"
    for path, number, label in links:  # the linked file is the one holding the target
        assert [stem[:2] for stem in targets[label]] == [number], (path, label, targets[label])
        assert (DOCS / path).is_file(), path
    # And the notebook named in the row's text is the one linked.
    for row in _map_rows():
        ((_, number, _),) = _notebook_links(row[3])
        assert re.search(r"notebook ([0-9]{2})", row[3]).group(1) == number, row[3]


def test_every_api_link_on_the_map_is_documented_on_the_api_page():
    from jacobian_calc.render.catalog import functions_page

    api = (DOCS / "api.md").read_text(encoding="utf-8") + functions_page()
    documented = _documented(api)
    with_members = _documented_with_members(api)
    names = API_LINK.findall(EQUATION_MAP.read_text(encoding="utf-8"))
    assert names
    for name in names:
        parent = name.rpartition(".")[0]
        assert name in documented or name in with_members or parent in with_members, (
            f"{name} is linked from the map but not documented on docs/api.md")


def test_notebook_targets_are_unique():
    duplicated = {k: v for k, v in _notebook_targets().items() if len(v) > 1}
    assert not duplicated


@pytest.mark.parametrize("page", ["equations.md", "api.md", "index.md"])
def test_cross_referenced_api_names_resolve(page: str):
    text = (DOCS / page).read_text(encoding="utf-8")
    names = set(ROLE.findall(text)) | set(API_LINK.findall(text))
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


@pytest.mark.parametrize("module", ["jacobian_calc.testing", "jacobian_calc.front.grade"])
def test_api_page_documents_every_name_of_the_testing_tools_and_the_grader(module):
    # Their names are not in jacobian_calc.__all__: an automodule must cover each one. The
    # grader's diagnose, Diagnosis and Hypothesis are documented where users import them,
    # in jacobian_calc.testing.
    page = (DOCS / "api.md").read_text(encoding="utf-8")
    covered = _documented(page) | _documented_with_members(page)
    testing = importlib.import_module("jacobian_calc.testing")

    def documented(name: str) -> bool:
        homes = [module] + (["jacobian_calc.testing"] if name in testing.__all__ else [])
        return any(f"{home}.{name}" in covered or home in covered for home in homes)

    names = importlib.import_module(module).__all__
    missing = [n for n in names if not documented(n)]
    assert not missing, f"{module}: missing from docs/api.md: {missing}"
    assert {"diagnose", "Diagnosis", "Hypothesis", "MISTAKES"} <= set(testing.__all__)


def test_index_lists_every_notebook():
    text = (DOCS / "index.md").read_text(encoding="utf-8")
    for path in sorted((DOCS / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert f"notebooks/{path.stem}" in text, path.name


def test_build_command_is_documented_in_readme_and_index():
    for path in (ROOT / "README.md", DOCS / "index.md"):
        assert BUILD_COMMAND in path.read_text(encoding="utf-8"), path


def test_site_bundles_mathjax_and_shows_the_stored_outputs():
    conf = (DOCS / "conf.py").read_text(encoding="utf-8")
    assert '"sphinx-mathjax-offline"' in conf      # MathJax copied into _static, no CDN
    # the notebooks' committed outputs, which the test suite keeps current (nbval)
    assert re.search(r'^nb_execution_mode = "off"', conf, re.M)
    assert "docs/_build/" in (ROOT / ".gitignore").read_text(encoding="utf-8")


def test_site_lets_wide_blocks_scroll():
    conf = (DOCS / "conf.py").read_text(encoding="utf-8")
    assert re.search(r'^html_css_files = \["jacobian_calc\.css"\]', conf, re.M)
    css = (DOCS / "_static" / "jacobian_calc.css").read_text(encoding="utf-8")
    for selector in ("div.math", "mjx-container", "div.highlight", "div.cell_output", "table"):
        assert selector in css, selector
    assert css.count("overflow-x: auto") >= 1 and "max-width: 100%" in css


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
