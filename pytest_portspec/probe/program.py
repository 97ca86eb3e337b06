"""The program `python_command` runs on the device, generated from the source of
payloads.DEVICE_MODULES (see payloads.py for the rules that source follows)."""

from __future__ import annotations

import ast
import functools
import inspect
import threading
from types import ModuleType

from pytest_portspec.probe import payloads

_STRIPPED_MODULES = ("__future__", "typing")
_PACKAGE = "pytest_portspec"
_TOO_NEW = (ast.JoinedStr, ast.NamedExpr, ast.Match, ast.TryStar)
# CPython 3.11 keeps the AST builder's recursion counter per interpreter, not per thread: two
# threads parsing at once fail with "SystemError: AST constructor recursion depth mismatch"
# (python/cpython#106905). Devices are read from a thread pool, so the program is built once,
# under a lock, and the registry builds it in the main thread before any device thread starts.
_BUILDING = threading.Lock()


class _ForOldPython(ast.NodeTransformer):
    """Turn one device module into Python 3.5 source: drop annotations, docstrings, typing imports
    and the imports from the device modules before it (their code comes first in the program)."""

    def __init__(self, file: str, earlier: tuple[str, ...]) -> None:
        self.file = file
        self.earlier = earlier
        self.dropped_names: set[str] = set()
        self.imported_names: set[str] = set()  # names imported from the earlier device modules

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST | None:
        if node.module in _STRIPPED_MODULES:
            self.dropped_names.update(alias.asname or alias.name for alias in node.names)
            return None
        if node.module in self.earlier and node.level == 0:
            if any(alias.asname not in (None, alias.name) for alias in node.names):
                raise ValueError(f"{self.file}: names from {node.module} cannot be renamed (`as`)")
            self.imported_names.update(alias.name for alias in node.names)
            return None
        if node.level or (node.module or "").partition(".")[0] == _PACKAGE:
            raise ValueError(f"{self.file} line {node.lineno}: imports what the device does not have")
        return node

    def visit_Import(self, node: ast.Import) -> ast.AST | None:
        if any(alias.name in _STRIPPED_MODULES for alias in node.names):
            raise ValueError(f"{self.file} must import typing names with `from typing import ...`")
        if any(alias.name.partition(".")[0] == _PACKAGE for alias in node.names):
            raise ValueError(f"{self.file} line {node.lineno}: imports what the device does not have")
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        self.generic_visit(node)
        arguments = node.args
        if arguments.posonlyargs:
            raise ValueError(f"{self.file}: {node.name}() has positional-only parameters (Python 3.8+)")
        for arg in [*arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg]:
            if arg is not None:
                arg.annotation = None
        node.returns = None
        node.body = _without_docstring(node.body)
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self.generic_visit(node)
        node.body = _without_docstring(node.body)
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST | None:
        if node.value is None:
            return None
        return ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)


def _without_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        body = body[1:] if isinstance(first.value.value, str) else body
    return body or [ast.Pass()]


def _old_python_module(module: ModuleType, earlier: tuple[str, ...]) -> tuple[list[ast.stmt], set[str]]:
    """One device module's statements for Python >= 3.5, and the names it takes from `earlier`."""
    file = module.__name__.rpartition(".")[2] + ".py"
    stripper = _ForOldPython(file, earlier)
    tree = stripper.visit(ast.parse(inspect.getsource(module)))
    for node in ast.walk(tree):
        if isinstance(node, _TOO_NEW):
            raise ValueError(f"{file} line {node.lineno}: {type(node).__name__} needs Python > 3.5")
        if isinstance(node, ast.Name) and node.id in stripper.dropped_names:
            raise ValueError(f"{file} line {node.lineno}: {node.id} is used outside annotations")
    return _without_docstring(tree.body), stripper.imported_names


def _defined_names(node: ast.stmt) -> set[str]:
    """The top-level names a statement binds."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        return {alias.asname or alias.name.partition(".")[0] for alias in node.names}
    if isinstance(node, ast.FunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {target.id for target in node.targets if isinstance(target, ast.Name)}
    return set()


def _program_body() -> list[ast.stmt]:
    """The device modules' statements in order, each import once; ValueError when a module takes
    a name that no module before it defines, or defines a name again."""
    body: list[ast.stmt] = []
    defined: set[str] = set()
    imports: set[str] = set()
    earlier: tuple[str, ...] = ()
    for module in payloads.DEVICE_MODULES:
        statements, imported = _old_python_module(module, earlier)
        if imported - defined:
            raise ValueError(
                f"{module.__name__} imports {sorted(imported - defined)}, defined by no module before it"
            )
        for node in statements:
            names = _defined_names(node)
            if isinstance(node, ast.Import | ast.ImportFrom):
                if ast.dump(node) in imports:
                    continue
                imports.add(ast.dump(node))
            elif names & defined:
                raise ValueError(f"{module.__name__} defines {sorted(names & defined)} again")
            defined |= names
            body.append(node)
        earlier += (module.__name__,)
    return body


def remote_program() -> str:
    """The program `python_command` runs on the device: the device modules for Python >= 3.5, then main()."""
    with _BUILDING:
        return _built_program()


@functools.cache
def _built_program() -> str:
    tree = ast.Module(body=_program_body(), type_ignores=[])
    ast.fix_missing_locations(tree)
    files = ", ".join(m.__name__.replace(".", "/") + ".py" for m in payloads.DEVICE_MODULES)
    program = (
        f"# pytest-portspec outbound probes (generated from {files}; Python >= 3.5, stdlib only)\n"
        + ast.unparse(tree)
        + "\nos._exit(main())\n"
    )
    compile(program, "<portspec-probe>", "exec")
    return program
