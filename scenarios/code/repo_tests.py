"""A repository's own tests, turned into a row's tests: which test functions and TestCase methods
name a task's function (found through `ast`, by the names their imports bind), and the test file
cut down to them, importing from `solution` (`app.solution` for Django) as the sandbox lays it out."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from .repo import FUNCTIONS, Module, ModuleIndex, Task

Binding = tuple[str, str | None]  # (module name, attribute); attribute None: the name is the module itself
Definition = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class RepoTest:
    """One test function or TestCase method, with what it reaches: its own body, its class's setUp
    and other helpers, and the module-level helpers and fixtures it uses."""

    module: Module
    node: Definition
    owner: ast.ClassDef | None
    refs: frozenset[tuple[str, str]]  # (module, top-level name) of repository code it names
    attrs: frozenset[str]  # every attribute it reads, e.g. the method in `product.discounted_price()`

    @property
    def name(self) -> str:
        owner = f"{self.owner.name}::" if self.owner else ""
        return f"{self.module.path}::{owner}{self.node.name}"

    def covers(self, task: Task) -> bool:
        """A function is covered when the test names it; a method when the test names its class and
        reads the method's name as an attribute."""
        top, *rest = task.qualname.split(".")
        return (task.module.name, top) in self.refs and all(part in self.attrs for part in rest)


@dataclass(frozen=True)
class TestFile:
    """A cut-down test file: runnable unless it still uses other modules of the repository."""

    text: str
    needs: tuple[str, ...] = ()


def is_test_class(node: ast.ClassDef) -> bool:
    bases = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases]
    return node.name.startswith("Test") or any(base.endswith("TestCase") for base in bases)


def _is_test(node: ast.AST) -> bool:
    return isinstance(node, FUNCTIONS) and node.name.startswith("test")


def find_tests(module: Module, index: ModuleIndex) -> list[RepoTest]:
    """Every test of one test file, as pytest collects them (plain functions, Test* and TestCase classes)."""
    bindings: dict[str, Binding] = {}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                bound = _binding(node, alias, module, index)
                if bound and alias.name != "*":
                    bindings[_bound_name(node, alias)] = bound
    helpers = {n.name: n for n in module.tree.body if isinstance(n, FUNCTIONS) and not _is_test(n)}
    found = []
    for node in module.tree.body:
        if isinstance(node, FUNCTIONS) and _is_test(node):
            found.append(_test(module, node, None, [node], helpers, bindings, index))
        elif isinstance(node, ast.ClassDef) and is_test_class(node):
            support = [n for n in node.body if not _is_test(n)]
            for item in node.body:
                if isinstance(item, FUNCTIONS) and _is_test(item):
                    found.append(_test(module, item, node, [item, *support], helpers, bindings, index))
    return found


def _test(
    module: Module,
    node: Definition,
    owner: ast.ClassDef | None,
    reached: list[ast.stmt],
    helpers: dict[str, Definition],
    bindings: dict[str, Binding],
    index: ModuleIndex,
) -> RepoTest:
    while True:  # the helpers and fixtures it uses, and theirs in turn
        names = {n.id for part in reached for n in ast.walk(part) if isinstance(n, ast.Name)}
        for part in reached:
            for f in ast.walk(part):
                if isinstance(f, FUNCTIONS):
                    names |= {a.arg for a in [*f.args.posonlyargs, *f.args.args, *f.args.kwonlyargs]}
        more = [helpers[n] for n in sorted(names) if n in helpers and helpers[n] not in reached]
        if not more:
            break
        reached = [*reached, *more]
    refs, attrs = set(), set()
    for part in reached:
        for sub in ast.walk(part):
            if isinstance(sub, ast.Attribute):
                attrs.add(sub.attr)
                bound = bindings.get(sub.value.id) if isinstance(sub.value, ast.Name) else None
                if bound and bound[1] is None:  # `utils.format_price` after `from shop import utils`
                    refs.add(index.origin(bound[0], sub.attr) or (bound[0], sub.attr))
            elif isinstance(sub, ast.Name) and sub.id in bindings:
                module_name, attr = bindings[sub.id]
                if attr:
                    refs.add((module_name, attr))
    return RepoTest(module, node, owner, frozenset(refs), frozenset(attrs))


def _bound_name(node: ast.Import | ast.ImportFrom, alias: ast.alias) -> str:
    if alias.asname:
        return alias.asname
    return alias.name.split(".")[0] if isinstance(node, ast.Import) else alias.name


def _binding(
    node: ast.Import | ast.ImportFrom, alias: ast.alias, module: Module, index: ModuleIndex
) -> Binding | None:
    """What one imported name stands for in the repository, or None when it is not repository code."""
    if isinstance(node, ast.Import):
        found = index.find(alias.name if alias.asname else alias.name.split(".")[0])
        return (found.name, None) if found else None
    base = index.base_of(module, node)
    sub = index.find(f"{base}.{alias.name}") if base and alias.name != "*" else None
    if sub:
        return sub.name, None
    origin = index.find(base)
    if origin is None:
        return None
    return index.origin(origin.name, alias.name) or (origin.name, alias.name)


def foreign_imports(module: Module, index: ModuleIndex) -> list[str]:
    """Other repository modules a module imports when it is loaded (imports inside functions run
    only when called: the sandbox run finds those out)."""
    found: list[str] = []
    for node in _outside_functions(module.tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                bound = _binding(node, alias, module, index)
                if bound and bound[0] != module.name and bound[0] not in found:
                    found.append(bound[0])
    return found


def _outside_functions(node: ast.AST) -> Iterator[ast.AST]:
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, (*FUNCTIONS, ast.Lambda)):
            yield child
            yield from _outside_functions(child)


def render(tests: list[RepoTest], target: Module, kind: str, index: ModuleIndex) -> TestFile:
    """The test file holding only `tests` (all from one file) and what they need, with imports of the
    target module redirected to the sandbox's `solution` module."""
    module = tests[0].module
    removed = _unselected(module.tree.body, {id(t.node) for t in tests})
    kept = list(_kept_nodes(module.tree, {id(n) for n in removed}))
    used = {n.id for n in kept if isinstance(n, ast.Name)}
    lines = module.source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(lineno: int, col: int) -> int:  # ast columns count UTF-8 bytes
        return starts[lineno - 1] + len(lines[lineno - 1].encode()[:col].decode())

    edits: list[tuple[int, int, str]] = []
    for node, previous_end in removed.items():
        first = min((d.lineno for d in getattr(node, "decorator_list", [])), default=node.lineno)
        while first - 1 > previous_end and not lines[first - 2].strip():
            first -= 1  # the blank lines before it go too (between statements, never inside a string)
        edits.append((starts[first - 1], starts[node.end_lineno or node.lineno], ""))
    needs: list[str] = []
    prefix = "app.solution" if kind == "django" else "solution"
    for node in kept:
        if isinstance(node, ast.Import | ast.ImportFrom):
            rewritten = _rewrite(node, module, target, index, used, prefix, needs)
            last = node.end_lineno or node.lineno
            if rewritten == "":  # a whole top-level line goes, with its line break
                edits.append((starts[node.lineno - 1], starts[last], ""))
            elif rewritten is not None:
                end = offset(last, node.end_col_offset or 0)
                edits.append((offset(node.lineno, node.col_offset), end, rewritten))
    text = module.source
    for begin, end, replacement in sorted(edits, reverse=True):
        text = text[:begin] + replacement + text[end:]
    return TestFile(text, tuple(dict.fromkeys(needs)))


def _unselected(body: list[ast.stmt], keep: set[int]) -> dict[ast.stmt, int]:
    """Tests not selected, and test classes left without one, each with the end line of the statement
    before it (where blank lines stop belonging to it)."""
    removed: dict[ast.stmt, int] = {}
    for i, node in enumerate(body):
        previous_end = (body[i - 1].end_lineno or 0) if i else 0
        if _is_test(node) and id(node) not in keep:
            removed[node] = previous_end
        elif isinstance(node, ast.ClassDef) and is_test_class(node):
            tests = [n for n in node.body if _is_test(n)]
            if tests and not any(id(n) in keep for n in tests):
                removed[node] = previous_end
                continue
            for j, item in enumerate(node.body):
                if _is_test(item) and id(item) not in keep:
                    removed[item] = (node.body[j - 1].end_lineno or 0) if j else node.lineno
    return removed


def _kept_nodes(node: ast.AST, removed: set[int]) -> Iterator[ast.AST]:
    for child in ast.iter_child_nodes(node):
        if id(child) not in removed:
            yield child
            yield from _kept_nodes(child, removed)


def _rewrite(
    node: ast.Import | ast.ImportFrom,
    module: Module,
    target: Module,
    index: ModuleIndex,
    used: set[str],
    prefix: str,
    needs: list[str],
) -> str | None:
    """The import with the target module's names taken from `solution` and other repository imports
    left out when unused (noted in `needs` when used); None when it imports no repository code."""
    names, aliases, others = [], [], []
    for alias in node.names:
        written = alias.name + (f" as {alias.asname}" if alias.asname else "")
        bound = _binding(node, alias, module, index)
        if bound is None:
            others.append(written)
        elif bound == (target.name, None):
            aliases.append(_bound_name(node, alias))
        elif bound[0] == target.name:
            names.append(written)
        elif alias.name == "*" or _bound_name(node, alias) in used:
            needs.append(bound[0])
    if len(others) == len(node.names):
        return None
    statements = []
    if others and isinstance(node, ast.Import):
        statements.append(f"import {', '.join(others)}")
    elif others and isinstance(node, ast.ImportFrom):
        statements.append(f"from {'.' * node.level}{node.module or ''} import {', '.join(others)}")
    if names:
        statements.append(f"from {prefix} import {', '.join(names)}")
    for name in aliases:
        statements.append(
            f"from app import solution as {name}" if "." in prefix else f"import solution as {name}"
        )
    if not statements:
        return "" if node.col_offset == 0 else "pass"
    return ("\n" + " " * node.col_offset).join(statements)
