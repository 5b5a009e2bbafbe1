"""What ``pip install .`` promises: every import in skot resolves to the standard library,
skot itself or a declared dependency.

An import run when a module loads needs a runtime dependency; one inside a function (the
optional backends: CuPy, dask) needs at least an extra that provides it. The check reads the
installed metadata, so it fails in any environment, however many extras it holds.
"""

import ast
import importlib.metadata as metadata
import re
import sys
from pathlib import Path

from packaging.requirements import Requirement

import skot

PACKAGE = Path(skot.__file__).parent


def _normalise(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared():
    """(runtime distribution names, names provided by some extra) of the installed skot."""
    runtime, optional = set(), set()
    for line in metadata.requires("skot"):
        requirement = Requirement(line)
        names = {_normalise(requirement.name)} | {_normalise(extra) for extra in requirement.extras}
        if requirement.marker is None:
            runtime |= names
        else:
            optional |= names
    return runtime, optional


class _Imports(ast.NodeVisitor):
    """Top-level module names imported by a file, split into eager and lazy (in a function)."""

    def __init__(self):
        self.eager, self.lazy, self._depth = set(), set(), 0

    def _function(self, node):
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def _add(self, name):
        (self.lazy if self._depth else self.eager).add(name.split(".")[0])

    def visit_Import(self, node):
        for alias in node.names:
            self._add(alias.name)

    def visit_ImportFrom(self, node):
        if node.level == 0:
            self._add(node.module)


def _external_imports():
    """{(top-level name, eager): [files]} over every module of skot."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        visitor = _Imports()
        visitor.visit(ast.parse(path.read_text(), filename=str(path)))
        for eager, names in ((True, visitor.eager), (False, visitor.lazy)):
            for name in names - set(sys.stdlib_module_names) - {"skot", "__future__"}:
                found.setdefault((name, eager), []).append(path.relative_to(PACKAGE).as_posix())
    return found


def _distributions(module_name):
    """Normalised names of the installed distributions providing ``module_name`` (the
    module's own name when none is installed, as for CuPy without a GPU)."""
    providers = metadata.packages_distributions().get(module_name) or [module_name]
    return {_normalise(name) for name in providers}


def test_every_import_is_declared():
    runtime, optional = _declared()
    missing = []
    for (name, eager), files in sorted(_external_imports().items()):
        allowed = runtime if eager else runtime | optional
        if not _distributions(name) & allowed:
            kind = "at import time" if eager else "lazily"
            missing.append(f"{name} ({kind}, in {', '.join(files)})")
    assert not missing, "imports not declared in pyproject.toml: " + "; ".join(missing)


def test_one_module_imports_array_api_compat():
    importers = {
        file for (name, _), files in _external_imports().items() if name == "array_api_compat" for file in files
    }
    assert importers == {"backends/_arrays.py"}


def test_the_check_sees_an_undeclared_import(tmp_path, monkeypatch):
    """The check can fail: a module importing a package nobody declared is reported."""
    (tmp_path / "extra_module.py").write_text("import pandas\n\ndef lazy():\n    import cupy\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path)
    found = _external_imports()
    runtime, optional = _declared()
    assert ("pandas", True) in found and not _distributions("pandas") & runtime
    assert ("cupy", False) in found and _distributions("cupy") & optional


def _private_lower_layer_imports(directory):
    """(file, import) pairs in ``directory`` that take a private name of skot's backends or
    solvers: a private module (``backends._costs``) or an underscored name."""
    found = []
    for path in sorted(directory.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and node.level == 2 and node.module):
                continue
            layer, *module = node.module.split(".")
            if layer not in ("backends", "solvers"):
                continue
            private = [part for part in module if part.startswith("_")] + [
                alias.name for alias in node.names if alias.name.startswith("_")]
            if private:
                found.append((path.name, f"{node.module}: {', '.join(private)}"))
    return found


def test_estimators_take_only_public_names_of_the_lower_layers():
    """Estimators ask the backends and solvers through their public names only."""
    assert _private_lower_layer_imports(PACKAGE / "estimators") == []


def test_the_layer_check_sees_a_private_import(tmp_path):
    (tmp_path / "estimator.py").write_text("from ..backends._costs import box_diameter2\n"
                                           "from ..solvers import _validation\n")
    assert _private_lower_layer_imports(tmp_path) == [("estimator.py", "backends._costs: _costs"),
                                                      ("estimator.py", "solvers: _validation")]


def _numeric_loops(directory):
    """(file, line) of loops in ``directory`` that iterate numerics: every ``while``, and every
    ``for`` over ``range(...)`` (iterations, index sweeps); loops over results or options pass."""
    found = []
    for path in sorted(directory.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            ranged = (isinstance(node, (ast.For, ast.comprehension)) and isinstance(node.iter, ast.Call)
                      and isinstance(node.iter.func, ast.Name) and node.iter.func.id == "range")
            if isinstance(node, ast.While) or ranged:
                found.append((path.name, node.lineno if isinstance(node, ast.stmt) else node.iter.lineno))
    return found


def test_estimators_run_no_numeric_loop_of_their_own(tmp_path):
    """Iterations live in the solvers; the check sees one when there is one."""
    assert _numeric_loops(PACKAGE / "estimators") == []
    (tmp_path / "estimator.py").write_text("def fit(x):\n    while x > 1:\n        x /= 2\n"
                                           "    return [x * k for k in range(3)]\n")
    assert _numeric_loops(tmp_path) == [("estimator.py", 2), ("estimator.py", 4)]
