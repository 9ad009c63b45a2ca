"""The documentation site, built: it builds without a warning, and no markup leaks into it.

A docstring or page whose reStructuredText or MyST markup is not recognised is shown to the
reader as raw text — ``:func:`chain```, ``{py:meth}`…```, a pair of double backticks,
``∂``of```` — and the build does not warn about it. So this test builds the site the way
README documents (``sphinx-build -W``, into a temporary folder) and reads the text of
every page for such leftovers. It also follows every link between pages to its target.
The build needs the docs tools (they are in the ``test`` extra as well as ``docs``); it
takes some seconds, as the notebooks are shown with their stored outputs, not run.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.slow  # a whole Sphinx build in a subprocess

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ("sphinx", "myst-nb", "sphinx-mathjax-offline")  # distributions

# Markup that must never reach a reader as text.
LEFTOVERS = {
    "an rST role": re.compile(r":(?:py:)?(?:func|meth|class|attr|mod|data|exc|obj|ref|doc|"
                              r"math|term|numref|eq|any):`"),
    "a MyST role": re.compile(r"\{(?:py:\w+|ref|doc|eq|math|numref|term|any)\}`"),
    "double backticks": re.compile(r"``"),
    "a MyST target": re.compile(r"^\([\w-]+\)=\s*$", re.M),
    "an rST directive": re.compile(r"^\s*\.\. [\w:-]+::", re.M),
    "a MyST directive": re.compile(r"```\{[\w:-]+\}"),
}
SKIP_PAGES = {"genindex.html", "search.html", "py-modindex.html"}


def _text(page: str) -> str:
    """What a browser shows of an HTML page (scripts, styles and tags removed)."""
    page = re.sub(r"<(script|style)\b.*?</\1>", "", page, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    missing = []
    for name in TOOLS:
        try:
            version(name)
        except PackageNotFoundError:
            missing.append(name)
    if missing:
        pytest.skip(f"the docs tools are not installed ({', '.join(missing)}): "
                    'pip install ".[test]"')
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(out / "doctrees"), str(ROOT / "docs"), str(out / "html")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, f"sphinx-build -W failed:\n{proc.stderr[-6000:]}"
    return out / "html"


def _pages(site: Path) -> list[Path]:
    return [p for p in sorted(site.rglob("*.html"))
            if "_static" not in p.parts and "_sources" not in p.parts
            and p.name not in SKIP_PAGES]


def test_site_builds_every_page(site: Path):
    names = {p.relative_to(site).as_posix() for p in _pages(site)}
    for page in ("index.html", "equations.html", "api.html", "calculator.html",
                 "extend.html", "performance.html"):
        assert page in names, page
    notebooks = sorted((ROOT / "docs" / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert {f"notebooks/{nb.stem}.html" for nb in notebooks} <= names


def test_no_markup_shows_as_text(site: Path):
    found = []
    for page in _pages(site):
        text = _text(page.read_text(encoding="utf-8"))
        for what, pattern in LEFTOVERS.items():
            for m in pattern.finditer(text):
                context = text[max(0, m.start() - 60):m.end() + 60].replace("\n", " ")
                found.append(f"{page.relative_to(site)}: {what}: …{context}…")
    assert not found, "markup visible in the rendered site:\n" + "\n".join(found[:40])


def test_every_link_between_pages_has_its_target(site: Path):
    broken = []
    ids: dict[Path, set[str]] = {}
    for page in _pages(site):
        for href in re.findall(r'href="([^"]+)"', page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", href) or href.startswith("#") and len(href) == 1:
                continue  # external, mailto, or the top of the page
            parts = urlsplit(href)
            path, fragment = parts.path, parts.fragment
            target = (page.parent / path).resolve() if path else page
            if not target.exists():
                broken.append(f"{page.relative_to(site)} → {href}: no such file")
                continue
            if fragment and target.suffix == ".html":
                if target not in ids:
                    ids[target] = set(re.findall(r'\bid="([^"]+)"',
                                                 target.read_text(encoding="utf-8")))
                if fragment not in ids[target]:
                    broken.append(f"{page.relative_to(site)} → {href}: no such anchor")
    assert not broken, "\n".join(broken[:40])


def test_pages_load_the_stylesheet_for_wide_blocks(site: Path):
    assert (site / "_static" / "jacobian_calc.css").is_file()
    for page in ("equations.html", "notebooks/04_vec_and_lemma.html", "api.html"):
        assert "_static/jacobian_calc.css" in (site / page).read_text(encoding="utf-8"), page
