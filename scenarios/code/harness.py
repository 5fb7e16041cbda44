"""How a row's code and tests are laid out and run: plain pytest for Python rows, an in-process
Django project (in-memory SQLite, the row's module importable as `app.solution`) for Django rows.
Every run goes through core's sandbox, and a pass is counted only from the records of
evidence_plugin.py: every collected test function ran to its end and passed, under a fresh key."""

from __future__ import annotations

import ast
import dataclasses
import re
import secrets
from pathlib import Path

from scenario_pack.core.errors import SandboxError
from scenario_pack.core.sandbox import runner

PLUGIN = "_scenario_evidence"  # evidence_plugin.py, copied into each run's folder under this name
PLUGIN_SOURCE = Path(__file__).with_name("evidence_plugin.py").read_text(encoding="utf-8")
KEY_FILE, RECORDS_FILE = "_scenario_key", "_scenario_records"  # as evidence_plugin.py names them

PYTEST_ARGS = [
    "-q",
    "-x",
    "-p",
    "no:cacheprovider",
    "--no-header",
    "-W",
    "ignore::DeprecationWarning",
    "-p",
    PLUGIN,
]
# pytest loads every plugin installed beside it (hypothesis, anyio, ...) unless told not to: measured
# on the default install, 0.97 s of CPU per Python answer with them, 0.21 s without; Django answers 1.35 s
# and 0.58 s (benchmarks/sandbox_startup.py).
# The rows' tests need none of them; Django rows set Django up in their own conftest.py.
PYTEST_ENV = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
LIMITS = runner.Limits(wall_seconds=30, cpu_seconds=20, memory_mb=2048)

URLS = 'from .solution import *  # noqa\nurlpatterns = globals().get("urlpatterns", [])\n'
DJANGO_CONFTEST = """\
import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "app"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    ROOT_URLCONF="app.urls",
    USE_TZ=True,
    SECRET_KEY="sandbox",
    ALLOWED_HOSTS=["testserver"],
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
)
django.setup()

from django.core.management import call_command  # noqa: E402

call_command("migrate", run_syncdb=True, verbosity=0)
"""


def files(kind: str, code: str, tests: str, key: str = "") -> dict[str, str]:
    """The work folder for one run: the code under test, the (hardened) tests and the evidence plugin
    with its key, laid out for `kind`."""
    evidence = {f"{PLUGIN}.py": PLUGIN_SOURCE, KEY_FILE: key}
    if kind == "django":
        return {
            "app/__init__.py": "",
            "app/solution.py": code,
            "app/models.py": "from .solution import *  # noqa\n",
            "app/urls.py": URLS,
            "conftest.py": DJANGO_CONFTEST,
            "test_solution.py": harden(tests),
            **evidence,
        }
    return {"solution.py": code, "test_solution.py": harden(tests), **evidence}


def run_tests(jobs: list[tuple[str, str, str]], allow_unconfined: bool = False) -> list[runner.Outcome]:
    """(kind, code, tests) per job, run in parallel over the CPU cores; passed only on evidence.

    Refuses to run anything where the operating system offers no boundary, unless allowed."""
    boundary = runner.boundary()
    if jobs and not boundary.confined and not allow_unconfined:
        raise SandboxError(
            "this machine offers no operating-system boundary for running model-written code (no Landlock "
            "and no seccomp: an old kernel, not Linux, or a container that forbids them), so no answer was "
            "run. Run on Linux 5.13 or newer, or accept the risk with --allow-unconfined."
        )
    keys = [secrets.token_hex(16) for _ in jobs]
    runs = [(files(*job, key), "pytest", PYTEST_ARGS) for job, key in zip(jobs, keys, strict=True)]
    outcomes = runner.run_many(runs, LIMITS, env=PYTEST_ENV, evidence_file=RECORDS_FILE)
    return [judge(o, key, job[2]) for o, key, job in zip(outcomes, keys, jobs, strict=True)]


class _Plain(ast.NodeTransformer):
    """`assert a == b` becomes `assert _scenario_plain(a) == _scenario_plain(b)` (likewise !=): a
    value that equals everything fails instead of passing; pytest still explains a failed assert."""

    def visit_Assert(self, node: ast.Assert) -> ast.Assert:
        test = node.test
        if isinstance(test, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in test.ops):
            test.left = self._wrap(test.left)
            test.comparators = [self._wrap(c) for c in test.comparators]
        return node

    @staticmethod
    def _wrap(node: ast.expr) -> ast.expr:
        return ast.Call(func=ast.Name("_scenario_plain", ast.Load()), args=[node], keywords=[])


def harden(tests: str) -> str:
    """The tests with every asserted equality checked for forged values (unchanged if they do not
    parse: pytest then reports the syntax error itself)."""
    try:
        tree = ast.parse(tests)
    except (SyntaxError, ValueError):
        return tests
    tree = ast.fix_missing_locations(_Plain().visit(tree))
    body = tree.body
    at = next((i for i, n in enumerate(body) if not _is_preamble(n, i)), len(body))
    body.insert(at, ast.parse(f"from {PLUGIN} import plain as _scenario_plain").body[0])
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def _is_preamble(node: ast.stmt, index: int) -> bool:
    docstring = index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    return docstring or (isinstance(node, ast.ImportFrom) and node.module == "__future__")


def test_names(tests: str) -> set[str]:
    """The tests a test file defines, as pytest names them (`test_x`, `TestY::test_z`), read from its
    source outside the sandbox: a test that never got collected cannot go unnoticed."""
    try:
        tree = ast.parse(tests)
    except (SyntaxError, ValueError):
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef) and (node.name.startswith("Test") or _is_test_case(node)):
            names |= {
                f"{node.name}::{f.name}"
                for f in node.body
                if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f.name.startswith("test")
            }
    return names


def _is_test_case(node: ast.ClassDef) -> bool:
    """A unittest/Django TestCase subclass, which pytest collects whatever its name."""
    names = [b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in node.bases]
    return any(name.endswith("TestCase") for name in names)


def missing_evidence(records: str, key: str, tests: str) -> str | None:
    """Why the records do not show every test passing (None when they do)."""
    events: dict[str, set[str]] = {}
    for line in records.splitlines():
        mark, _, rest = line.partition(" ")
        if mark == key:
            event, _, detail = rest.partition(" ")
            events.setdefault(event, set()).add(detail)
    if not events.get("finished"):
        return "the run ended before pytest finished (an early exit or a kill)"
    items = events.get("item", set())
    if not items:
        return "no test was collected"
    if events.get("failed") or events.get("skipped"):
        return "a test failed or was skipped"
    unproven = items - (events.get("returned", set()) & events.get("passed", set()))
    if unproven:
        return f"{len(unproven)} of {len(items)} tests have no record of running to their end and passing"
    collected = {item.partition("::")[2].partition("[")[0] for item in items}
    if test_names(tests) - collected:
        return "tests the file defines were not collected"
    return None


def judge(outcome: runner.Outcome, key: str, tests: str) -> runner.Outcome:
    """A pass stands only on evidence; an exit code of 0 without it is a failure that says why."""
    if not outcome.passed:
        return outcome
    why = missing_evidence(outcome.evidence, key, tests)
    if why is None:
        return outcome
    output = f"{outcome.output}\n{NOT_COUNTED}: {why}"
    return dataclasses.replace(outcome, status="failed", output=output)


NOT_COUNTED = "scenario-pack: not counted as passed"


RAISED = re.compile(r"^E\s+(\w+(?:Error|Exception))\b", re.MULTILINE)


def failure_cause(outcome: runner.Outcome) -> str:
    """Why an answer's tests did not pass, read from pytest's output: a model that names the wrong
    function fails differently from one whose function runs and returns the wrong value."""
    if outcome.passed:
        return "passed"
    if outcome.status in ("timeout", "crashed"):
        return f"{outcome.status} (sandbox limit)"
    if NOT_COUNTED in outcome.output:
        return "exits 0 without its tests passing (an early exit or tampering)"
    raised = RAISED.findall(outcome.output)
    if (
        any(name in ("ImportError", "ModuleNotFoundError") for name in raised)
        or "cannot import" in outcome.output
    ):
        return "an import fails (a module or name that does not exist)"
    if raised and raised[0] != "AssertionError":
        return f"raises {raised[0]}"
    if "AssertionError" in outcome.output or "assert " in outcome.output:
        return "runs, wrong result (assertion fails)"
    return "fails (other)"
