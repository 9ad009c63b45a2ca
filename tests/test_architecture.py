"""The package's shape: layers that only look down, no import cycle, no borrowed private names.

Read from the source with ``ast`` (nothing is imported to find the imports), so an import
inside a function counts as much as one at the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "jacobian_calc"

#: The layers, bottom to top: a module may import its own layer and the ones below.
LAYERS = ["core", "ops", "engine", "render", "lecture", "verify", "front"]
#: Modules of the package's top level, above every layer.
TOP = {"jacobian_calc", "jacobian_calc.__main__", "jacobian_calc.extend", "jacobian_calc.testing"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import of the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "jacobian_calc" or target.startswith("jacobian_calc."):
                names = [a.name for a in node.names]
                # "from . import x" imports the submodule x
                modules = _modules()
                subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
                if subs:
                    found += [(s, [], node.lineno) for s in subs]
                else:
                    found.append((target, names, node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("jacobian_calc"):
                    found.append((alias.name, [], node.lineno))
    return found


def _layer(module: str) -> int | None:
    if module in TOP:
        return None
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


MODULES = _modules()
EDGES = {name: _imports(name, path) for name, path in MODULES.items()}


def test_every_module_is_in_a_layer_or_at_the_top():
    loose = [m for m in MODULES if m not in TOP and _layer(m) is None]
    assert not loose, f"modules outside the layers {LAYERS}: {loose}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m not in TOP))
def test_a_layer_imports_only_itself_and_the_layers_below(module):
    own = _layer(module)
    for target, _, line in EDGES[module]:
        layer = _layer(target)
        assert layer is not None and layer <= own, (
            f"{module} (layer {LAYERS[own]}) imports {target} at line {line}, which is "
            f"{'above it' if layer is not None else 'the top level'}")


def test_there_is_no_import_cycle():
    graph = {m: sorted({t for t, _, _ in EDGES[m] if t in MODULES and t != m}) for m in MODULES}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:  # a depth-first search: pytest.fail on the first back edge
        state[m] = 1
        stack.append(m)
        for t in graph[m]:
            if state.get(t) == 1:
                cycle = stack[stack.index(t):] + [t]
                pytest.fail("import cycle: " + " → ".join(cycle))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m)
    assert all(state[m] == 2 for m in graph)  # every module visited, none left on the stack


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_takes_another_modules_private_names(module):
    for target, names, line in EDGES[module]:
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        assert not private, f"{module} imports {private} from {target} at line {line}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_nothing_registers_through_globals(module):
    assert "globals()" not in MODULES[module].read_text(encoding="utf-8"), module


def test_no_private_scipy_api_is_used():
    for name, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        for private in ("scipy.sparse._", "_spbase", "_matmul_dispatch", "_rmatmul_dispatch",
                        "scipy._lib"):
            assert private not in text, f"{name} uses scipy's private {private}"


def test_the_public_functions_are_not_hidden_by_submodules():
    import jacobian_calc as jc

    assert callable(jc.jacobian) and callable(jc.derivation)
    for name in jc.__all__:
        assert not isinstance(getattr(jc, name), type(jc)), f"jc.{name} is a module"


def test_one_exception_family_in_one_module():
    import inspect

    import jacobian_calc.core.errors as errors

    for name, path in MODULES.items():
        if name == "jacobian_calc.core.errors":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        classes = [n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)
                   and any(getattr(b, "id", getattr(b, "attr", "")).endswith(("Error", "Exception"))
                           for b in n.bases)]
        assert not classes, f"{name} defines exceptions {classes}; they belong in core/errors.py"
    family = [c for _, c in inspect.getmembers(errors, inspect.isclass)
              if issubclass(c, Exception)]
    assert all(issubclass(c, errors.JacobianCalcError) for c in family)
