"""Rich display in Jupyter: every public value shows as typeset math, Markdown or HTML.

Each ``_repr_*_`` method is called and what it returns is parsed: LaTeX by the package's
own checker (a TeX-math parser plus the checks it leaves out), HTML by the standard
library's parser with every tag closed in order.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pytest

import jacobian_calc as jc

pytest.importorskip("latex2mathml")
from jacobian_calc.render import check_latex  # noqa: E402

VOID = {"br", "hr", "img", "meta", "link", "input"}


class _Balanced(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse_html(html: str) -> str:
    parser = _Balanced()
    parser.feed(html)
    parser.close()
    assert not parser.open, f"unclosed tags {parser.open}"
    return "".join(parser.text)


def displayed_latex(text: str) -> list[str]:
    return re.findall(r"\$\$(.*?)\$\$", text, flags=re.S)


@pytest.fixture
def values(rng):
    A = jc.var("A", rng.normal(size=(3, 2)))
    X = jc.var("X", rng.normal(size=(2, 2)))
    F = jc.trace((A @ X).T @ (A @ X))
    net = jc.MLP([rng.normal(size=(3, 2)), rng.normal(size=(1, 3))], activation="tanh",
                 biases=[np.zeros(3), np.zeros(1)])
    return A, X, F, net


def test_an_expression_shows_as_typeset_math(values):
    A, X, F, _ = values
    for e in (A, A @ X, F, jc.sigmoid(A @ X) * 2.0):
        latex = e._repr_latex_()
        assert latex.startswith("$$") and latex.endswith("$$")
        check_latex(latex[2:-2])


def test_a_jacobian_shows_as_math_and_markdown(values):
    A, X, F, _ = values
    for J in (jc.jacobian(A @ X, X), jc.jacobian(F, X), jc.jacobian(jc.inv(X), X)):
        check_latex(J._repr_latex_()[2:-2])
        md = J._repr_markdown_()
        assert md.startswith(f"**{J.symbol}**")
        for block in displayed_latex(md):
            check_latex(block)


def test_a_derivation_shows_as_math_and_markdown(values):
    A, X, F, net = values
    rng = np.random.default_rng(1)
    for d in (jc.derivation(F, X), net.derivation(rng.normal(size=2), rng.normal(size=1),
                                                  wrt="W1")):
        check_latex(d._repr_latex_()[2:-2])
        md = d._repr_markdown_()
        assert md.startswith("### Derivation of")
        for block in displayed_latex(md):
            check_latex(block)


def test_a_network_shows_as_an_html_table_and_markdown(values):
    *_, net = values
    text = parse_html(net._repr_html_())
    assert repr(net) in text and "h1 = W1 x + b1" in text and "z1 = φ(h1)" in text
    md = net._repr_markdown_()
    assert "| layer | weight | output size |" in md and "| ŷ = W2 z1 + b2 | 1×3 | 1 |" in md


def test_html_escapes_what_it_shows():
    from jacobian_calc.render import render
    from jacobian_calc.render.report import Report, Table

    html = render(Report([Table(["a<b"], [["x & y"]])]), "html")
    assert "a&lt;b" in html and "x &amp; y" in html
    assert parse_html(html) == "a<bx & y"


def test_second_order_values_show_as_math_html_and_markdown(values):
    A, X, F, net = values
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=2), rng.normal(size=1)
    H = jc.hessian(F, X)
    check_latex(H._repr_latex_()[2:-2])
    assert H._repr_markdown_().startswith(f"**{H.symbol}**")
    for d in (jc.derivation(F, X, order=2), net.derivation(x, y, wrt=("W1", "W2"), order=2)):
        assert d._repr_latex_ is None  # a report, shown as HTML or Markdown instead
        text = parse_html(d._repr_html_())
        assert "Second-order derivation" in text and "dimension check" in text
        md = d._repr_markdown_()
        assert md.startswith("# Second-order derivation")
    K = net.kfac(x, y, wrt="W1")
    text = parse_html(K._repr_html_())
    assert "K-FAC of W1" in text and "A ⊗ G" in text
    assert "| A ⊗ G | 6×6 |" in K._repr_markdown_()
